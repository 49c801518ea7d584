"""The tracker: drives thousands of tasks from submit to result under budgets.

Theory of operation
-------------------
``Tracker.submit`` checks which providers can express the spec and queues the task; it
returns a :class:`TrackedTask` at once. Inside one anyio task group:

* *submit workers* take queued tasks, pick the first provider (failover order) whose circuit
  is closed and which has a free running slot, record the intent in the journal, and submit
  at most once (:class:`ProviderClient` reconciles ambiguous submits). Refusals that another
  provider may not share (rate limit with no retry, auth, permission, unavailable) move the
  task on; an ambiguous outcome never does.
* one *poll scheduler* keeps a heap of next-poll times and hands due tasks, grouped by
  provider, to *poll workers*; a provider with a list endpoint answers a group in one call.
  The first poll happens near the expected finish, later ones at an interval that grows with
  the time spent. Deadlines are heap entries too.
* *download workers* fetch results of succeeded tasks when a download folder is set.

The stages live in :mod:`._tracker_submit` and :mod:`._tracker_poll`, the shared state
in :mod:`._tracker_core`. A task ends exactly once in :meth:`TrackerCore._finish`, which releases its running slot,
journals the result and wakes its waiters. Leaving the ``async with`` block waits for every
task, then cancels the workers: no task or socket outlives the block. An exception inside
the block cancels everything at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from seedance_async.core._errors import (
    ConfigurationError,
    InvalidTaskSpec,
)
from seedance_async.core._events import Event
from seedance_async.journal._protocol import JournalEntry
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import TaskResult
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._poll import PollStage
from seedance_async.tracker._submit import SubmitStage
from seedance_async.tracker._task import TrackedTask

__all__ = ["Tracker"]

T = TypeVar("T")


class Tracker(SubmitStage, PollStage):
    """Submit and follow many tasks concurrently; use as ``async with``.

    Args:
        client: an open :class:`Client` (its providers, clock and events are used).
        providers: failover order (aliases) or a :class:`FailoverPolicy`; default: every
            alias of the client, in order.
        schedule: poll timing.
        deadline: default per-task deadline in seconds from submit (None: wait for the
            provider's own expiry).
        journal: durable record (default: none).
        download_dir: when set, videos (and requested last frames) of succeeded tasks are
            downloaded there as ``<key>.mp4`` / ``<key>.last.png``.
        submit_workers / poll_workers / download_workers: concurrency of each stage.
        batch_size: most task ids in one list-based status call.
        refusal_rounds: when every provider refused a task for a reason that may pass (rate
            limited, unavailable, unreachable), offer it to them again this many times, after
            pauses growing from ``schedule.min_interval``, before ending it ``rejected``.
        seed: seeds weighted failover and jitter.
    """

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._submit_send, submit_recv = anyio.create_memory_object_stream[TrackedTask](
            max_buffer_size=float("inf")
        )
        self._poll_send, poll_recv = anyio.create_memory_object_stream[list[TrackedTask]](
            max_buffer_size=self._workers[1]
        )
        self._download_send, download_recv = anyio.create_memory_object_stream[TrackedTask](
            max_buffer_size=float("inf")
        )
        self._streams = [self._submit_send, self._poll_send, self._download_send]
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        for _ in range(self._workers[0]):
            tg.start_soon(self._worker, submit_recv.clone(), self._submit_task)
        for _ in range(self._workers[1]):
            tg.start_soon(self._worker, poll_recv.clone(), self._poll_group)
        for _ in range(self._workers[2]):
            tg.start_soon(self._worker, download_recv.clone(), self._download)
        submit_recv.close()
        poll_recv.close()
        download_recv.close()
        tg.start_soon(self._scheduler.run, self._dispatch_due)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        try:
            if exc_type is None:
                await self._idle.wait()
        except BaseException:
            self._tg.cancel_scope.cancel()
            raise
        finally:
            self._tg.cancel_scope.cancel()
            for stream in self._streams:
                stream.close()
            result = await self._tg.__aexit__(exc_type, exc, tb)
            self._tg = None
        return result

    async def wait_idle(self) -> None:
        """Wait until every task submitted so far has a final result."""
        await self._idle.wait()

    # -- submitting --------------------------------------------------------------------------

    def eligible_providers(self, task: VideoTask) -> tuple[list[str], list[str]]:
        """(aliases that serve the model and accept the spec, reasons of those that do not)."""
        ok, reasons = [], []
        for alias in self.policy.providers:
            violations = self.client.provider(alias).check(task)
            if violations:
                reasons.append(f"{alias}: " + "; ".join(str(v) for v in violations))
            else:
                ok.append(alias)
        return ok, reasons

    async def submit(
        self, task: VideoTask, *, key: str | None = None, deadline: float | None = None
    ) -> TrackedTask:
        """Queue a task; returns its :class:`TrackedTask` at once.

        Submitting the same key twice returns the first task (a batch line is never doubled).

        Raises:
            InvalidTaskSpec: no provider in the failover list can express the spec.
            ConfigurationError: the tracker is not open.
        """
        if self._tg is None:
            raise ConfigurationError("the tracker is not open: use 'async with Tracker(...)'")
        key = key or task_hash(task)
        existing = self._tracked.get(key)
        if existing is not None:
            return existing
        eligible, reasons = self.eligible_providers(task)
        if not eligible:
            raise InvalidTaskSpec(
                [], context="no provider can run this task: " + " | ".join(reasons)
            )
        order = [p for p in self.policy.order(self._rng) if p in eligible]
        tracked = self._track(key, task, order=order, deadline=deadline)
        self._submit_send.send_nowait(tracked)
        return tracked

    # -- resume ------------------------------------------------------------------------------

    async def resume(
        self, entries: Iterable[JournalEntry], *, may_resend: bool = True
    ) -> list[TrackedTask]:
        """Take over unfinished tasks of an earlier run (from :meth:`SqliteJournal.unfinished`).

        A task with a remote id is followed again with the alias that created it. An intent
        without a remote id is reconciled (list endpoint), never blindly resubmitted: it is
        sent again only when the listing proves nothing was created, the intent is recent
        and ``may_resend``; when reconciliation cannot settle it the task ends ``unknown``
        with the intent time.

        Raises:
            ConfigurationError: an entry names an alias this client does not have.
        """
        out = []
        for entry in entries:
            alias = entry.handle.provider if entry.handle else entry.provider
            if alias is None or alias not in self.client.configs:
                raise ConfigurationError(
                    f"journal entry {entry.key!r} was created with provider {alias!r}, which is not configured"
                )
            if entry.key in self._tracked:
                out.append(self._tracked[entry.key])
                continue
            tracked = self._track(entry.key, entry.task, order=[alias], deadline=None)
            tracked.resumed = True
            if entry.last_status is not None:
                tracked.status = entry.last_status
            # The running slot is taken without waiting: the task already runs remotely.
            if await self.client.provider(alias).budget.try_acquire_running_slot():
                tracked.slot_alias = alias
            if entry.handle is not None:
                self.client.provider(alias).remember([entry.handle.task_id])
                await self._attached(tracked, entry.handle, None, journal=False)
            else:
                assert self._tg is not None
                self._tg.start_soon(
                    self._reconcile_intent, tracked, alias, entry.intent_at or 0.0, may_resend
                )
            out.append(tracked)
        return out

    # -- consuming results -------------------------------------------------------------------

    async def as_completed(self) -> AsyncIterator[TaskResult]:
        """Results in the order tasks finish, until every task submitted so far is done."""
        while True:
            while self._completed:
                yield self._completed.popleft()
            if self._pending == 0:
                return
            await self._completed_event.wait()

    def events_stream(self) -> MemoryObjectReceiveStream[Event]:
        """A stream of every later lifecycle event (close it when done)."""
        return self.events.subscribe()

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    async def _worker(
        stream: MemoryObjectReceiveStream[T], handle: Callable[[T], Awaitable[None]]
    ) -> None:
        async with stream:
            while True:
                try:
                    # Take what is queued without yielding first (``receive`` costs an
                    # event-loop round trip per item, a large share of a poll's CPU); wait
                    # only on an empty queue. ``handle`` yields on its own I/O.
                    item = stream.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        item = await stream.receive()
                    except anyio.EndOfStream:
                        return
                except anyio.EndOfStream:
                    return
                await handle(item)
