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

A task ends exactly once in :meth:`Tracker._finish`, which releases its running slot,
journals the result and wakes its waiters. Leaving the ``async with`` block waits for every
task, then cancels the workers: no task or socket outlives the block. An exception inside
the block cancels everything at once.
"""

from __future__ import annotations

import random
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Self, TypeVar

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from seedance_async._client import Client
from seedance_async._errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidTaskSpec,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
    TransportError,
)
from seedance_async._events import Event, EventKind
from seedance_async._failover import CircuitBreaker, FailoverPolicy, is_retryable_failure
from seedance_async._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async._journal import Journal, JournalEntry, NullJournal
from seedance_async._poll_scheduler import PollScheduler
from seedance_async._provider_client import SubmitOutcomeUnknown
from seedance_async._schedule import EtaEstimator, PollSchedule
from seedance_async._spec import VideoTask
from seedance_async._state import TaskState, TaskStatus
from seedance_async._tracked import TrackedTask

__all__ = ["Tracker"]

T = TypeVar("T")

# Refusals that say nothing about other providers: try the next one.
_FAILOVER_ERRORS = (
    RateLimited,
    AuthenticationFailed,
    PermissionDenied,
    ProviderUnavailable,
    TransportError,
)
_NOT_FOUND_LIMIT = 3
# A resumed intent older than this is never resent, even when listing finds no task: a list
# may not reach that far back (RedisWorker's resubmit_horizon has the same default).
_RESEND_HORIZON = 60.0
_NO_RAW: MappingProxyType[str, object] = MappingProxyType({})  # one for every stored status
_SLOT_RECHECK = 0.5  # seconds between looks at a full running-slot budget


class Tracker:
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
        seed: seeds weighted failover and jitter.
    """

    def __init__(
        self,
        client: Client,
        *,
        providers: Sequence[str] | FailoverPolicy | None = None,
        schedule: PollSchedule | None = None,
        deadline: float | None = None,
        journal: Journal | None = None,
        download_dir: str | Path | None = None,
        submit_workers: int = 64,
        poll_workers: int = 16,
        download_workers: int = 8,
        batch_size: int = 50,
        seed: int | None = None,
    ) -> None:
        if isinstance(providers, FailoverPolicy):
            self.policy = providers
        else:
            self.policy = FailoverPolicy(providers=tuple(providers or client.aliases))
        unknown = [p for p in self.policy.providers if p not in client.configs]
        if unknown:
            raise ConfigurationError(f"failover list names unknown aliases {unknown}")
        self.client = client
        self.clock = client.clock
        self.events = client.events
        self.schedule = schedule or PollSchedule()
        self.default_deadline = deadline
        self.journal: Journal = journal or NullJournal()
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self._workers = (submit_workers, poll_workers, download_workers)
        self._batch_size = batch_size
        self._rng = random.Random(seed)
        self._canceller = self._cancel  # one bound method shared by every task, not one each
        self._breaker = CircuitBreaker()
        self._eta = EtaEstimator()
        self._scheduler = PollScheduler(self.clock, lookahead=self.schedule.min_interval / 2)
        self._tracked: dict[str, TrackedTask] = {}
        self._pending = 0
        self._completed: deque[TaskResult] = deque()
        self._completed_event = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._slot_event = anyio.Event()
        self._tg: TaskGroup | None = None
        self._streams: list[
            MemoryObjectSendStream[TrackedTask] | MemoryObjectSendStream[list[TrackedTask]]
        ] = []

    # -- lifecycle ------------------------------------------------------------------------

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
        """(aliases whose adapter accepts the spec, reasons of those that do not)."""
        ok, reasons = [], []
        for alias in self.policy.providers:
            violations = self.client.provider(alias).adapter.check(task)
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
        key = key or task.spec_hash()
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

    def _track(
        self, key: str, task: VideoTask, *, order: list[str], deadline: float | None
    ) -> TrackedTask:
        limit = self.default_deadline if deadline is None else deadline
        tracked = TrackedTask(
            key,
            task,
            order=order,
            deadline_at=None if limit is None else self.clock.now() + limit,
            canceller=self._canceller,
        )
        self._tracked[key] = tracked
        self._pending += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        if tracked.deadline_at is not None:
            self._scheduler.schedule(tracked, tracked.deadline_at)
        return tracked

    def _emit(
        self, kind: EventKind, tracked: TrackedTask, provider: str, detail: str | None = None
    ) -> None:
        task_id = tracked.handle.task_id if tracked.handle else None
        self.events.emit(
            Event(
                kind=kind,
                key=tracked.key,
                provider=provider,
                at=self.clock.wall(),
                task_id=task_id,
                detail=detail,
            )
        )

    async def _try_slot(self, candidates: list[str]) -> str | None:
        now = self.clock.now()
        for alias in candidates:
            if self._breaker.is_open(alias, now):
                continue
            if await self.client.provider(alias).budget.try_acquire_running_slot():
                return alias
        return None

    async def _release_slot(self, tracked: TrackedTask) -> None:
        if tracked.slot_alias is not None:
            alias, tracked.slot_alias = tracked.slot_alias, None
            with anyio.CancelScope(shield=True):
                await self.client.provider(alias).budget.release_running_slot()
            self._slot_event.set()
            self._slot_event = anyio.Event()

    async def _submit_task(self, tracked: TrackedTask) -> None:
        tried = {a.provider for a in tracked.attempts}
        while True:
            if tracked.done:
                return
            remaining = [a for a in tracked.order if a not in tried]
            if not remaining:
                await self._finish(
                    tracked,
                    Outcome.REJECTED,
                    self._last_reason(tracked) or "no provider accepted the task",
                )
                return
            alias = await self._try_slot(remaining)
            if alias is None:
                # A budget shared with other processes (RedisBudget) frees slots without
                # setting our event: look again after a while instead of waiting forever.
                with anyio.move_on_after(_SLOT_RECHECK):
                    await self._slot_event.wait()
                continue
            tracked.slot_alias = alias
            if await self._submit_to(tracked, alias):
                return
            tried.add(alias)

    async def _submit_to(self, tracked: TrackedTask, alias: str) -> bool:
        """One attempt; True when the task is submitted or finished, False to fail over."""
        provider = self.client.provider(alias)
        try:
            if tracked.loaded is None:
                tracked.loaded = await self.client.prepare(tracked.task, alias)
        except (InvalidTaskSpec, OSError) as exc:
            # Local files are the same for every provider: no point in failing over.
            await self._release_slot(tracked)
            tracked.attempts.append(
                Attempt(provider=alias, task_id=None, outcome="rejected", reason=str(exc))
            )
            await self._finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
            return True
        # The correlation nonce is drawn here so that the intent records it: a resumed run
        # reconciles with it; without it any lost task of the same model would match.
        sent, loaded = provider.with_correlation_nonce(tracked.task), tracked.loaded
        if loaded is tracked.task:  # no local images were loaded
            loaded = sent
        elif sent is not tracked.task:
            loaded = attrs.evolve(loaded, execution_expires_after=sent.execution_expires_after)
        await self.journal.record_intent(
            tracked.key, sent, alias, len(tracked.attempts), self.clock.wall()
        )
        try:
            handle, first = await provider.submit(
                loaded, spec_hash=tracked.task.spec_hash(), key=tracked.key
            )
        except SubmitOutcomeUnknown as exc:
            await self._unknown(tracked, alias, exc)
            return True
        except (*_FAILOVER_ERRORS, InvalidTaskSpec) as exc:
            # Refused or never sent: nothing was created, so the journal may forget the intent.
            await self._not_created(tracked, alias, exc)
            if isinstance(
                exc, ProviderUnavailable | TransportError
            ) and self._breaker.record_failure(alias, self.clock.now()):
                self._emit(EventKind.FAILED_OVER, tracked, alias, f"circuit opened for {alias}")
            self._emit(EventKind.FAILED_OVER, tracked, alias, f"{type(exc).__name__}: moving on")
            return False
        except ProviderError as exc:
            await self._not_created(tracked, alias, exc)
            await self._finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
            return True
        self._breaker.record_success(alias)
        await self._attached(tracked, handle, first)
        return True

    async def _not_created(self, tracked: TrackedTask, alias: str, exc: Exception) -> None:
        tracked.attempts.append(
            Attempt(provider=alias, task_id=None, outcome="rejected", reason=str(exc))
        )
        await self._release_slot(tracked)
        await self.journal.record_not_created(tracked.key, alias, str(exc))

    async def _unknown(self, tracked: TrackedTask, alias: str, exc: SubmitOutcomeUnknown) -> None:
        tracked.attempts.append(
            Attempt(provider=alias, task_id=None, outcome="unknown", reason=exc.reason)
        )
        hint = f"sent at {exc.sent_at:.0f} (Unix)"
        if exc.candidates:
            hint += f"; candidates {', '.join(exc.candidates)}"
        await self._finish(tracked, Outcome.UNKNOWN, f"{exc.reason}; {hint}", provider=alias)

    async def _attached(
        self,
        tracked: TrackedTask,
        handle: TaskHandle,
        first: TaskStatus | None,
        *,
        journal: bool = True,
    ) -> None:
        """Start following a remote task (fresh submit, adopted by reconciliation, or resumed)."""
        alias = handle.provider
        tracked.handle = handle
        tracked.attempts.append(
            Attempt(provider=alias, task_id=handle.task_id, outcome="submitted")
        )
        elapsed = max(0.0, self.clock.wall() - handle.created_at)
        tracked.submitted_mono = self.clock.now() - elapsed
        tracked.submitted_wall = handle.created_at
        if journal:
            await self.journal.record_submitted(tracked.key, handle)
        self._emit(EventKind.SUBMITTED, tracked, alias)
        if tracked.cancel_requested:
            await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")
            return
        if first is not None:
            await self._apply_status(tracked, first)
            if tracked.done:
                return
        delay = self.schedule.first_delay(self._eta.eta(alias, tracked.task.model)) - elapsed
        self._schedule_poll(tracked, max(0.0, delay))

    # -- resume ----------------------------------------------------------------------------

    async def resume(self, entries: Iterable[JournalEntry]) -> list[TrackedTask]:
        """Take over unfinished tasks of an earlier run (from :meth:`SqliteJournal.unfinished`).

        A task with a remote id is followed again with the alias that created it. An intent
        without a remote id is reconciled (list endpoint), never resubmitted; when that
        cannot settle it the task ends ``unknown`` with the intent time.

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
                self._tg.start_soon(self._reconcile_intent, tracked, alias, entry.intent_at or 0.0)
            out.append(tracked)
        return out

    async def _reconcile_intent(self, tracked: TrackedTask, alias: str, intent_at: float) -> None:
        provider = self.client.provider(alias)
        try:
            handle, found = await provider.reconcile(
                tracked.task,
                spec_hash=tracked.task.spec_hash(),
                sent_at=intent_at,
                cause="crash after intent",
                key=tracked.key,
            )
        except SubmitOutcomeUnknown as exc:
            recent = self.clock.wall() - intent_at <= _RESEND_HORIZON
            if exc.not_found and provider.config.resubmit_when_not_listed and recent:
                # The list proves the interrupted submit created nothing: send it again, as
                # ProviderClient.submit does after a lost answer (resubmit_when_not_listed).
                await self.journal.record_not_created(tracked.key, alias, exc.reason)
                await self._release_slot(tracked)
                self._emit(EventKind.RETRIED, tracked, alias, "nothing was created; sending again")
                self._submit_send.send_nowait(tracked)
                return
            await self._unknown(tracked, alias, exc)
            return
        except ProviderError as exc:
            await self._finish(
                tracked,
                Outcome.UNKNOWN,
                f"reconciliation failed: {exc}; intent at {intent_at:.0f} (Unix)",
                provider=alias,
            )
            return
        await self._attached(tracked, handle, found)

    @staticmethod
    def _last_reason(tracked: TrackedTask) -> str | None:
        return tracked.attempts[-1].reason if tracked.attempts else None

    # -- polling ---------------------------------------------------------------------------

    def _schedule_poll(self, tracked: TrackedTask, delay: float) -> None:
        jitter = 1.0 + self.schedule.jitter * (2 * self._rng.random() - 1)
        when = self.clock.now() + max(0.0, delay * jitter)
        if tracked.deadline_at is not None:
            when = min(when, tracked.deadline_at)
        self._scheduler.schedule(tracked, when)

    async def _dispatch_due(self, due: list[TrackedTask]) -> None:
        groups: dict[str, list[TrackedTask]] = {}
        now = self.clock.now()
        for tracked in due:
            if tracked.deadline_at is not None and now >= tracked.deadline_at:
                groups.setdefault("", []).append(tracked)
            elif tracked.handle is not None:
                groups.setdefault(tracked.handle.provider, []).append(tracked)
            elif tracked.deadline_at is not None:
                # A deadline taken early with a poll group: keep it for its own time.
                self._scheduler.schedule(tracked, tracked.deadline_at)
        for alias, members in groups.items():
            step = (
                1
                if not alias or not self.client.provider(alias).adapter.capabilities.can_list
                else self._batch_size
            )
            for i in range(0, len(members), step):
                group = members[i : i + step]
                try:
                    # No event-loop round trip per group while the poll workers have room
                    # (``send`` always yields first); wait only when the buffer is full.
                    self._poll_send.send_nowait(group)
                except anyio.WouldBlock:
                    await self._poll_send.send(group)

    async def _poll_group(self, group: list[TrackedTask]) -> None:
        live = [t for t in group if not t.done]
        if not live:
            return
        if live[0].handle is None or (
            live[0].deadline_at is not None and self.clock.now() >= live[0].deadline_at
        ):
            for tracked in live:
                await self._deadline(tracked)
            return
        alias = live[0].handle.provider
        provider = self.client.provider(alias)
        ids = [t.handle.task_id for t in live if t.handle is not None]
        try:
            found = (
                await provider.statuses(ids)
                if len(ids) > 1
                else {ids[0]: await provider.status(ids[0], key=live[0].key)}
            )
        except TaskNotFound:
            found = {}
            for tracked in live:
                assert tracked.handle is not None
                try:
                    found[tracked.handle.task_id] = await provider.status(
                        tracked.handle.task_id, key=tracked.key
                    )
                except TaskNotFound:
                    await self._not_found(tracked)
                except ProviderError:
                    self._poll_failed(tracked)
        except ProviderError:
            for tracked in live:
                self._poll_failed(tracked)
            return
        for tracked in live:
            assert tracked.handle is not None
            status = found.get(tracked.handle.task_id)
            if status is not None and not tracked.done:
                tracked.poll_errors = 0
                await self._apply_status(tracked, status)

    def _poll_failed(self, tracked: TrackedTask) -> None:
        # Transient poll errors never end a task: back off and keep following it.
        tracked.poll_errors += 1
        delay = min(
            self.schedule.max_interval,
            self.schedule.min_interval * 2.0 ** min(tracked.poll_errors, 10),
        )
        self._schedule_poll(tracked, delay)

    async def _not_found(self, tracked: TrackedTask) -> None:
        tracked.poll_errors += 1
        if tracked.poll_errors >= _NOT_FOUND_LIMIT:
            await self._finish(tracked, Outcome.FAILED, "the provider no longer knows this task")
        else:
            self._poll_failed(tracked)

    async def _apply_status(self, tracked: TrackedTask, status: TaskStatus) -> None:
        current = tracked.status
        previous = current.state if current else None
        if status.is_terminal:
            tracked.status = status
        elif current is None or status != current:
            # Raw answers stay out of tracked memory and the strings every status repeats
            # are shared (100,000 tasks may be tracked). A routine poll that changes nothing
            # (equality ignores ``raw``) keeps the stored status and allocates no copy.
            task_id = status.task_id
            if tracked.handle is not None and tracked.handle.task_id == task_id:
                task_id = tracked.handle.task_id
            tracked.status = attrs.evolve(
                status,
                raw=_NO_RAW,
                task_id=task_id,
                provider_status=sys.intern(status.provider_status),
            )
        assert tracked.handle is not None
        alias = tracked.handle.provider
        if status.state is not previous:
            await self.journal.record_status(tracked.key, status)
            if status.state is TaskState.RUNNING:
                self._emit(EventKind.RUNNING, tracked, alias)
        if not status.is_terminal:
            elapsed = self.clock.now() - (tracked.submitted_mono or self.clock.now())
            self._schedule_poll(
                tracked, self.schedule.next_delay(elapsed, self._eta.eta(alias, tracked.task.model))
            )
            return
        if status.state is TaskState.SUCCEEDED:
            self._observe_duration(tracked, status, alias)
        if status.state is TaskState.SUCCEEDED:
            if self.download_dir is not None:
                self._scheduler.unschedule(tracked)
                self._download_send.send_nowait(tracked)
            else:
                await self._finish(tracked, Outcome.SUCCEEDED, None, provider=alias)
            return
        if status.state is TaskState.CANCELLED:
            await self._finish(
                tracked, Outcome.CANCELLED, "cancelled at the provider", provider=alias
            )
            return
        await self._remote_failure(tracked, status, alias)

    def _observe_duration(self, tracked: TrackedTask, status: TaskStatus, alias: str) -> None:
        # The provider's own timestamps measure the generation itself; our clock adds poll
        # lag, and for a resumed task the whole outage, which would push every later first
        # poll too late (the first poll is placed at a fraction of this estimate).
        if status.created_at is not None and status.updated_at is not None:
            seconds = (status.updated_at - status.created_at).total_seconds()
            if seconds > 0:
                self._eta.observe(alias, tracked.task.model, seconds)
                return
        if tracked.submitted_mono is not None and not tracked.resumed:
            self._eta.observe(alias, tracked.task.model, self.clock.now() - tracked.submitted_mono)

    async def _remote_failure(self, tracked: TrackedTask, status: TaskStatus, alias: str) -> None:
        outcome = Outcome.EXPIRED if status.state is TaskState.EXPIRED else Outcome.FAILED
        reason = f"{status.error_code or status.state.value}: {status.error_message or ''}".strip(
            ": "
        )
        tracked.attempts[-1] = attrs.evolve(
            tracked.attempts[-1], outcome=outcome.value, reason=reason
        )
        extra_used = sum(1 for a in tracked.attempts if a.outcome in ("failed", "expired")) - 1
        others = [a for a in tracked.order if a not in {x.provider for x in tracked.attempts}]
        if is_retryable_failure(status) and extra_used < self.policy.max_extra_attempts and others:
            await self._release_slot(tracked)
            self._scheduler.unschedule(tracked)
            self._emit(EventKind.FAILED_OVER, tracked, alias, f"{reason}; resubmitting elsewhere")
            tracked.handle = None
            tracked.status = status
            self._submit_send.send_nowait(tracked)
            return
        await self._finish(tracked, outcome, reason, provider=alias)

    # -- deadlines and cancellation ------------------------------------------------------------

    async def _deadline(self, tracked: TrackedTask) -> None:
        if tracked.handle is None:
            await self._finish(
                tracked, Outcome.DEADLINE, "deadline passed before the task could be submitted"
            )
            return
        await self._cancel_submitted(tracked, Outcome.DEADLINE, "deadline passed")

    async def _cancel_submitted(self, tracked: TrackedTask, outcome: Outcome, why: str) -> None:
        assert tracked.handle is not None
        provider = self.client.provider(tracked.handle.provider)
        caps = provider.adapter.capabilities
        state = tracked.status.state if tracked.status else TaskState.QUEUED
        if caps.can_cancel and state in caps.cancel_states:
            try:
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    await provider.cancel(tracked.handle.task_id)
                await self._finish(
                    tracked, outcome, f"{why}; cancelled remotely (was {state.value})"
                )
                return
            except ProviderError as exc:
                why = f"{why}; remote cancel failed ({type(exc).__name__})"
        await self._finish(
            tracked,
            outcome,
            f"{why}; detached, the task may still run and bill (was {state.value})",
        )

    async def _cancel(self, tracked: TrackedTask) -> None:
        if tracked.done:
            return
        tracked.cancel_requested = True
        if tracked.handle is None:
            # Not sent yet (or being sent: the submit worker sees the flag after the answer).
            if tracked.slot_alias is None:
                await self._finish(tracked, Outcome.CANCELLED, "cancelled before submit")
            return
        self._scheduler.unschedule(tracked)
        await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")

    # -- downloads ---------------------------------------------------------------------------

    async def _download(self, tracked: TrackedTask) -> None:
        assert self.download_dir is not None
        assert tracked.status is not None
        assert tracked.handle is not None
        status = tracked.status
        video = self.download_dir / f"{tracked.key}.mp4"
        frame_path: str | None = None
        reason = None
        try:
            await self.client.download(status, video, handle=tracked.handle)
            if tracked.task.return_last_frame and status.last_frame_url:
                frame = self.download_dir / f"{tracked.key}.last.png"
                await self.client.download(status, frame, last_frame=True, handle=tracked.handle)
                frame_path = str(frame)
            self._emit(EventKind.DOWNLOADED, tracked, tracked.handle.provider)
            video_path: str | None = str(video)
        except (ProviderError, InvalidTaskSpec, OSError) as exc:
            video_path = None
            reason = f"download failed: {exc}"
        await self._finish(
            tracked,
            Outcome.SUCCEEDED,
            reason,
            provider=tracked.handle.provider,
            video_path=video_path,
            last_frame_path=frame_path,
        )

    # -- the one exit -----------------------------------------------------------------------

    async def _finish(
        self,
        tracked: TrackedTask,
        outcome: Outcome,
        reason: str | None,
        *,
        provider: str | None = None,
        video_path: str | None = None,
        last_frame_path: str | None = None,
    ) -> None:
        if tracked.done:
            return
        await self._release_slot(tracked)
        self._scheduler.unschedule(tracked)
        result = TaskResult(
            key=tracked.key,
            task=tracked.task,
            outcome=outcome,
            status=tracked.status,
            handle=tracked.handle,
            attempts=tuple(tracked.attempts),
            reason=reason,
            video_path=video_path,
            last_frame_path=last_frame_path,
            submitted_at=tracked.submitted_wall,
            finished_at=self.clock.wall(),
        )
        tracked.loaded = None
        tracked.set_result(result)
        with anyio.CancelScope(shield=True):
            await self.journal.record_result(tracked.key, result)
        self._emit(
            EventKind(outcome.value),
            tracked,
            provider or (tracked.handle.provider if tracked.handle else ""),
            reason,
        )
        self._completed.append(result)
        self._completed_event.set()
        self._completed_event = anyio.Event()
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

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

    @property
    def pending(self) -> int:
        """Tasks without a final result yet."""
        return self._pending

    @property
    def tasks(self) -> dict[str, TrackedTask]:
        """Every task tracked, by key."""
        return self._tracked

    # -- internals ------------------------------------------------------------------------------

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
