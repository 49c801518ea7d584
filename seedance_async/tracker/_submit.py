"""The submit stage: provider choice, running slots, at-most-once submits, reconciliation.

Submit workers take queued tasks, pick the first provider in the task's failover order
whose circuit is closed and which has a free running slot, journal the intent, and submit
through :class:`ProviderClient` (which reconciles ambiguous outcomes). Refusals that say
nothing about other providers move the task on; an ambiguous outcome never does.

With a journal that can be read back (:class:`ReadableJournal`), a task new to this run
is first looked up by key: a key an earlier run already sent is followed again, or its
result reported (its missing files downloaded first, when a download folder is set),
instead of being submitted twice (:func:`decide_rerun` decides which).

The stage ends with a remote task (:class:`Created`) or an ended one; following a remote
task is the poll stage's business, and the tracker hands it over.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from seedance_async.client._alias import SubmitOutcomeUnknown
from seedance_async.client._client import Client
from seedance_async.core._clock import local_time
from seedance_async.core._errors import (
    InvalidTaskSpec,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
    UploadError,
)
from seedance_async.core._events import EventKind
from seedance_async.journal._protocol import JournalEntry
from seedance_async.journal._record import JournalRecord
from seedance_async.policy._failover import CircuitBreaker, refusal_fails_over
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._table import TaskTable
from seedance_async.tracker._task import TaskRun
from seedance_async.tracker._transitions import (
    Reattach,
    Refetch,
    Refuse,
    Replay,
    decide_rerun,
)
from seedance_async.upload._protocol import Uploader

__all__ = ["Created", "ReadableJournal", "SubmitStage"]

# A resumed intent older than this is never resent, even when listing finds no task: a list
# may not reach that far back (RedisWorker's resubmit_horizon has the same default).
_RESEND_HORIZON = 60.0
_SLOT_RECHECK = 0.5  # seconds between looks at a full running-slot budget
_REFUSED: Final = "refused"


@runtime_checkable
class ReadableJournal(Protocol):
    """A journal that can be read back by key, as :class:`SqliteJournal` can."""

    async def get(self, key: str) -> JournalRecord | None:
        """Everything known about ``key``, or None."""
        ...


@attrs.frozen
class Created:
    """A submit (or a reconciliation, or the journal) found the remote task.

    Attributes:
        handle: the remote task.
        first: its status when the answer carried one (an adopted task may have ended).
        journaled: the journal has the handle already (an earlier run's task).
    """

    handle: TaskHandle
    first: TaskStatus | None
    journaled: bool = False


class SubmitStage:
    """Takes queued tasks to a provider, at most once each.

    Args:
        table: the task table (every state change goes through it).
        client: the open client.
        schedule: its ``min_interval`` and ``max_interval`` pace the refusal rounds.
        refusal_rounds: how many times a task every provider refused for now is offered again.
        journal: the table's journal when it can be read back: new keys are looked up first.
        uploader / upload_all: override the client's for these tasks.
    """

    def __init__(
        self,
        table: TaskTable,
        client: Client,
        *,
        schedule: PollSchedule,
        refusal_rounds: int,
        journal: ReadableJournal | None = None,
        refetch: Callable[[TaskRun, TaskResult], None] | None = None,
        uploader: Uploader | None = None,
        upload_all: bool | None = None,
    ) -> None:
        self._table = table
        self._refetch = refetch
        self._uploader = uploader
        self._upload_all = upload_all
        self._client = client
        self._journal = journal
        self._clock = client.clock
        self._schedule = schedule
        self._refusal_rounds = refusal_rounds
        self._breaker = CircuitBreaker()
        self._send: MemoryObjectSendStream[TaskRun | None] | None = None
        self._front: deque[TaskRun] = deque()

    # -- the queue ---------------------------------------------------------------------------

    def open(self) -> MemoryObjectReceiveStream[TaskRun | None]:
        """A fresh intake queue; the submit workers read the returned end and hand each
        item to :meth:`take` (``None`` items only wake a worker for the front queue)."""
        self._send, receive = anyio.create_memory_object_stream[TaskRun | None](
            max_buffer_size=float("inf")
        )
        self._front.clear()
        return receive

    def close(self) -> None:
        """Close the intake (the workers end once it is drained)."""
        if self._send is not None:
            self._send.close()

    def enqueue(self, tracked: TaskRun, *, new: bool = False, front: bool = False) -> None:
        """Queue ``tracked`` for submission (never blocks).

        ``new``: the task is new to this run, so an earlier run may have sent its key. Tasks
        queued again (failover, a resumed intent proven not created) are not looked up: the
        journal's record of them is this run's own. ``front``: ahead of every task queued
        normally, for work already under way (a failover, a resumed submit), which would
        otherwise wait behind a whole batch of fresh tasks.
        """
        assert self._send is not None, "the submit stage is not open"
        if new and self._journal is not None:
            self._table.unread(tracked.key)
        if front:
            self._front.append(tracked)
            self._send.send_nowait(None)  # wakes an idle worker; a busy one looks first
        else:
            self._send.send_nowait(tracked)

    def resubmit(self, tracked: TaskRun) -> None:
        """Queue a task whose remote attempt failed over, at the front."""
        self.enqueue(tracked, front=True)

    def take(self, received: TaskRun | None) -> list[TaskRun]:
        """What a worker that received ``received`` submits, in order: the front queue's
        next task first, then ``received``."""
        out = [self._front.popleft()] if self._front else []
        if received is not None:
            out.append(received)
        return out

    # -- one task ----------------------------------------------------------------------------

    async def run(self, tracked: TaskRun) -> Created | None:
        """Submit ``tracked``; the remote task once created, None once the task has ended."""
        if self._table.is_unread(tracked.key):
            try:
                done, created = await self._look_up(tracked)
            finally:
                self._table.read(tracked.key)
            if done:
                return created
        spend = self._table.spend
        refusal = None if spend is None else spend.refusal(tracked.key)
        if refusal is not None:
            # Never sent: no journal record, so a re-run with a higher cap sends it.
            await self._table.finish(tracked, Outcome.CAPPED, refusal, journal=False)
            return None
        tried = {a.provider for a in tracked.attempts}
        while True:
            if tracked.done:
                return None
            remaining = [a for a in tracked.order if a not in tried]
            if not remaining and self._may_go_round_again(tracked):
                # Every provider refused for now (rate limits, an outage): nothing was created,
                # so wait a while and offer the task to the providers that refused again.
                tracked.rounds += 1
                pause = self._schedule.min_interval * 2.0**tracked.rounds
                await self._clock.sleep(min(pause, 2 * self._schedule.max_interval))
                tried = {a.provider for a in tracked.attempts if a.outcome != _REFUSED}
                continue
            if not remaining:
                await self._table.finish(
                    tracked,
                    Outcome.REJECTED,
                    _last_reason(tracked) or "no provider accepted the task",
                )
                return None
            alias = await self._try_slot(remaining)
            if alias is None:
                # A budget shared with other processes (RedisBudget) frees slots without
                # setting our event: look again after a while instead of waiting forever.
                with anyio.move_on_after(_SLOT_RECHECK):
                    await self._table.slot_released()
                continue
            self._table.hold_slot(tracked, alias)
            done, created = await self._submit_to(tracked, alias)
            if done:
                return created
            tried.add(alias)

    async def _look_up(self, tracked: TaskRun) -> tuple[bool, Created | None]:
        """(True, remote task or None when ended) when an earlier run sent the key, else
        (False, None): submit it."""
        assert self._journal is not None
        record = await self._journal.get(tracked.key)
        if tracked.done:  # cancelled, or past its deadline, while queued or read
            return True, None
        action = decide_rerun(
            record, tracked.task, self._client.configs, downloads=self._refetch is not None
        )
        if isinstance(action, Refetch):
            assert self._refetch is not None
            self._refetch(tracked, action.result)
        elif isinstance(action, Replay):
            await self._table.replay(tracked, action.result)
        elif isinstance(action, Refuse):
            # The record is another task's: ending this one must not overwrite it.
            await self._table.finish(tracked, action.outcome, action.reason, journal=False)
        elif isinstance(action, Reattach):
            return True, await self._reattach(tracked, action.entry)
        else:
            # Attempts an earlier run ended (refusals, a failover) are not made again.
            tracked.attempts = list(action.attempts)
            return False, None
        return True, None

    async def _reattach(self, tracked: TaskRun, entry: JournalEntry) -> Created | None:
        """Continue a task an earlier run sent: its remote task, once known.

        The alias the entry names must be configured.
        """
        alias = entry.handle.provider if entry.handle else entry.provider
        assert alias is not None
        self._table.restore(tracked, entry)
        if self._table.spend is not None:
            self._table.spend.hold(tracked.key, entry.task, alias)
        provider = self._client.provider(alias)
        # The running slot is taken without waiting: the task already runs remotely.
        if await provider.budget.try_acquire_running_slot():
            self._table.hold_slot(tracked, alias)
        if entry.handle is not None:
            provider.remember([entry.handle.task_id])
            return Created(entry.handle, None, journaled=True)
        return await self.reconcile(tracked, alias, entry.intent_at or 0.0, sent=entry.task)

    async def _try_slot(self, candidates: list[str]) -> str | None:
        now = self._clock.now()
        for alias in candidates:
            if self._breaker.is_open(alias, now):
                continue
            if await self._client.provider(alias).budget.try_acquire_running_slot():
                return alias
        return None

    async def _submit_to(self, tracked: TaskRun, alias: str) -> tuple[bool, Created | None]:
        """One attempt: (True, remote task or None when ended), or (False, None) to fail over."""
        provider = self._client.provider(alias)
        try:
            if tracked.loaded is None:
                left = (
                    None if tracked.deadline_at is None else tracked.deadline_at - self._clock.now()
                )
                tracked.loaded = await self._client.prepare(
                    tracked.task,
                    alias,
                    deadline=left,
                    uploader=self._uploader,
                    upload_all=self._upload_all,
                )
        except (InvalidTaskSpec, UploadError, OSError) as exc:
            # Local files are the same for every provider: no point in failing over.
            await self._table.release_slot(tracked)
            self._table.add_attempt(tracked, alias, "rejected", str(exc))
            await self._table.finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
            return True, None
        # The correlation nonce is drawn here so that the intent records it: a resumed run
        # reconciles with it; without it any lost task of the same model would match.
        sent, loaded = provider.with_correlation_nonce(tracked.task), tracked.loaded
        if loaded is tracked.task:  # no local images were loaded
            loaded = sent
        elif sent is not tracked.task:
            loaded = attrs.evolve(loaded, execution_expires_after=sent.execution_expires_after)
        callback_url = await self._table.intent(tracked, sent, alias)
        if callback_url is not None:
            # On the wire only: the journaled spec (and the result's) never holds the token.
            loaded = attrs.evolve(loaded, callback_url=callback_url)
        try:
            handle, first = await provider.submit(
                loaded,
                spec_hash=task_hash(tracked.task),
                key=tracked.key,
                stamp=self._table.send_stamp(tracked),
            )
        except SubmitOutcomeUnknown as exc:
            await self._unknown(tracked, alias, exc)
            return True, None
        except (ProviderError, InvalidTaskSpec) as exc:
            # Refused or never sent: nothing was created, so the journal may forget the intent.
            await self._not_created(tracked, alias, exc)
            if not isinstance(exc, InvalidTaskSpec) and not refusal_fails_over(exc):
                # Would be refused anywhere (content policy, a bad parameter): stop here.
                await self._table.finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
                return True, None
            if isinstance(
                exc, ProviderUnavailable | TransportError
            ) and self._breaker.record_failure(alias, self._clock.now()):
                self._table.emit(
                    EventKind.FAILED_OVER, tracked, alias, f"circuit opened for {alias}"
                )
            self._table.emit(
                EventKind.FAILED_OVER, tracked, alias, f"{type(exc).__name__}: moving on"
            )
            return False, None
        self._breaker.record_success(alias)
        return True, Created(handle, first)

    def _may_go_round_again(self, tracked: TaskRun) -> bool:
        last = tracked.attempts[-1] if tracked.attempts else None
        if last is None or last.outcome != _REFUSED or tracked.rounds >= self._refusal_rounds:
            return False
        return tracked.deadline_at is None or self._clock.now() < tracked.deadline_at

    async def _not_created(self, tracked: TaskRun, alias: str, exc: Exception) -> None:
        # "refused" marks a refusal that may pass (rate limit, outage, no connection): the
        # provider gets the task again in a later round; "rejected" is final for it.
        transient = isinstance(exc, ProviderUnavailable | TransportError) or (
            isinstance(exc, RateLimited) and exc.retryable
        )
        await self._table.not_created(
            tracked, alias, _REFUSED if transient else "rejected", str(exc)
        )

    async def _unknown(self, tracked: TaskRun, alias: str, exc: SubmitOutcomeUnknown) -> None:
        self._table.add_attempt(tracked, alias, "unknown", exc.reason)
        hint = f"sent at {local_time(exc.sent_at)}"
        if exc.candidates:
            hint += f"; candidates {', '.join(exc.candidates)}"
        await self._table.keep_slot(tracked, exc.sent_at)
        await self._table.finish(tracked, Outcome.UNKNOWN, f"{exc.reason}; {hint}", provider=alias)

    # -- an interrupted submit of an earlier run ---------------------------------------------

    async def reconcile(
        self,
        tracked: TaskRun,
        alias: str,
        intent_at: float,
        *,
        sent: VideoTask,
        may_resend: bool = True,
    ) -> Created | None:
        """Settle an intent journaled without an answer; the remote task when one is found.

        ``sent`` is the spec as the intent recorded it (with its correlation nonce). Never
        blindly resends: only when the provider's list proves nothing was created, the
        intent is recent and ``may_resend``; then the task is queued again and None is
        returned, as when it ended.
        """
        provider = self._client.provider(alias)
        try:
            handle, found = await provider.reconcile(
                sent,
                spec_hash=task_hash(sent),
                sent_at=intent_at,
                cause="crash after intent",
                key=tracked.key,
            )
        except SubmitOutcomeUnknown as exc:
            recent = self._clock.wall() - intent_at <= _RESEND_HORIZON
            resend = exc.not_found and provider.config.resubmit_when_not_listed
            if resend and recent and may_resend:
                # The list proves the interrupted submit created nothing: send it again, as
                # ProviderClient.submit does after a lost answer (resubmit_when_not_listed).
                await self._table.forget_intent(tracked, alias, exc.reason)
                self._table.emit(
                    EventKind.RETRIED, tracked, alias, "nothing was created; sending again"
                )
                self.enqueue(tracked, front=True)
                return None
            await self._unknown(tracked, alias, exc)
            return None
        except ProviderError as exc:
            await self._table.keep_slot(tracked, intent_at)
            await self._table.finish(
                tracked,
                Outcome.UNKNOWN,
                f"reconciliation failed: {exc}; intent at {local_time(intent_at)}",
                provider=alias,
            )
            return None
        return Created(handle, found)


def _last_reason(tracked: TaskRun) -> str | None:
    return tracked.attempts[-1].reason if tracked.attempts else None
