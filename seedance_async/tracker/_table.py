"""The task table: every tracked task, and the one place their lifecycle state changes.

A task's lifecycle state is its remote handle, its last status, its attempts, the running
slot it holds and its result. The stages never assign those themselves: they call the table,
which journals each change in the order :mod:`seedance_async.journal` documents (intent,
submitted or not created, status on each state change, result), emits the lifecycle event
and keeps the counts :meth:`TaskTable.as_completed` and :meth:`TaskTable.wait_idle` wait on.
A task ends exactly once, in :meth:`TaskTable.finish` (or :meth:`TaskTable.replay`, with the
result an earlier run journaled for its key).

Stage bookkeeping on a :class:`TaskRun` (poll error counts, submit rounds, timings, the
prepared spec, the cancel flag) is not lifecycle state and stays with the stage that uses it.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Literal

import anyio
import attrs

from seedance_async.client._client import Client
from seedance_async.core._events import Event, EventKind
from seedance_async.journal._protocol import (
    AttemptJournal,
    CallbackTokenJournal,
    Journal,
    JournalEntry,
    SendStamp,
    SendStampJournal,
)
from seedance_async.spec._cost import PriceTable, usage_cost
from seedance_async.spec._handle import Attempt, DownloadPart, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._callbacks import CallbackLink
from seedance_async.tracker._spend import SpendCap
from seedance_async.tracker._task import TaskRun

__all__ = ["NO_RAW", "TaskTable"]

# Ark's execution_expires_after default: a task nobody can follow may run until then.
_DEFAULT_EXPIRY = 172_800.0
_EXPIRY_SKEW = 30.0  # seconds of clock difference between us and the provider

NO_RAW: MappingProxyType[str, object] = MappingProxyType({})  # one for every stored status


class TaskTable:
    """Tracked tasks by key, their state changes, the journal and the completion queue.

    Args:
        client: the open client (its clock, event hub and running-slot budgets are used).
        journal: where every state change is recorded.
        spend: the spend cap, which every ending settles (None: no cap).
        prices: prices the cost of succeeded tasks in their events (the shipped table when
            None).
        callbacks: the tracker's callback link, when tasks get callback URLs: a task's
            token is registered, bound and forgotten with its attempts.
    """

    def __init__(
        self,
        client: Client,
        journal: Journal,
        spend: SpendCap | None = None,
        prices: PriceTable | None = None,
        *,
        callbacks: CallbackLink | None = None,
    ) -> None:
        self._client = client
        self.spend = spend
        self._prices = prices
        self._clock = client.clock
        self._events = client.events
        self.journal = journal
        self._stamps = journal if isinstance(journal, SendStampJournal) else None
        self.callbacks = callbacks
        self._attempts = journal if isinstance(journal, AttemptJournal) else None
        self._tasks: dict[str, TaskRun] = {}
        self._pending = 0
        self._completed: deque[TaskResult] = deque()
        self._completed_event = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._slot_event = anyio.Event()
        # Keys whose journal record is not read yet: it may be an earlier run's, so an
        # ending before the read (a cancel, a deadline) is not journaled over it.
        self._unread: set[str] = set()

    # -- the table ---------------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, TaskRun]:
        """Every task tracked, by key."""
        return self._tasks

    @property
    def pending(self) -> int:
        """Tasks without a final result yet."""
        return self._pending

    def get(self, key: str) -> TaskRun | None:
        """The task tracked under ``key``, or None."""
        return self._tasks.get(key)

    def add(self, tracked: TaskRun) -> None:
        """Start tracking a task that has no result yet."""
        self._tasks[tracked.key] = tracked
        self._pending += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle

    def unread(self, key: str) -> None:
        """An earlier run may have journaled ``key``: journal nothing for it until read."""
        self._unread.add(key)

    def read(self, key: str) -> None:
        """The journal's record of ``key`` was read (or is no longer needed)."""
        self._unread.discard(key)

    def is_unread(self, key: str) -> bool:
        """True while :meth:`read` has not been called for an :meth:`unread` key."""
        return key in self._unread

    def restore(self, tracked: TaskRun, entry: JournalEntry) -> None:
        """``tracked`` continues a task of an earlier run: its state is the journal's.

        A callback token the journal kept is registered again, so callbacks to the URL the
        provider was given keep arriving (when the public URL is the same as then).
        """
        tracked.resumed = True
        tracked.status = entry.last_status
        tracked.attempts = list(entry.attempts)
        alias = entry.handle.provider if entry.handle else entry.provider
        link = self.callbacks
        if link is not None and entry.callback_token and alias in self._client.configs:
            assert alias is not None
            link.restore(
                tracked,
                alias,
                self._client.provider(alias).adapter,
                remote_id=entry.handle.task_id if entry.handle else None,
                token=entry.callback_token,
            )

    def emit(
        self,
        kind: EventKind,
        tracked: TaskRun,
        provider: str,
        detail: str | None = None,
        *,
        cost: tuple[float, str] | None = None,
        size: int | None = None,
        lag: float | None = None,
    ) -> None:
        """Tell the event hub what happened to ``tracked``."""
        handle = tracked.handle
        self._events.emit(
            Event(
                kind=kind,
                key=tracked.key,
                provider=provider,
                at=self._clock.wall(),
                task_id=handle.task_id if handle else None,
                detail=detail,
                model=handle.model if handle else tracked.task.model,
                cost=cost,
                size=size,
                lag=lag,
            )
        )

    # -- running slots -----------------------------------------------------------------------

    def hold_slot(self, tracked: TaskRun, alias: str) -> None:
        """``tracked`` took a running slot of ``alias`` (already acquired from its budget)."""
        tracked.slot_alias = alias

    async def release_slot(self, tracked: TaskRun) -> None:
        """Give back the running slot ``tracked`` holds, if any, and wake slot waiters."""
        if tracked.slot_alias is not None:
            alias, tracked.slot_alias = tracked.slot_alias, None
            with anyio.CancelScope(shield=True):
                await self._client.provider(alias).budget.release_running_slot()
            self._slot_event.set()
            self._slot_event = anyio.Event()

    async def keep_slot(self, tracked: TaskRun, sent_at: float) -> None:
        """Keep the running slot of a task that may still run although we lost it.

        Its submit's outcome is unknown: the task may exist and count against the key's
        running cap at the provider until it ends or expires, so the slot comes back only
        at that expiry (``execution_expires_after`` of the spec, Ark's 48 h default when
        unset), not now.
        """
        if tracked.slot_alias is None:
            return
        alias, tracked.slot_alias = tracked.slot_alias, None
        expiry = tracked.task.execution_expires_after or _DEFAULT_EXPIRY
        with anyio.CancelScope(shield=True):
            await self._client.provider(alias).budget.keep_running_slot(
                sent_at + expiry + _EXPIRY_SKEW
            )

    async def slot_released(self) -> None:
        """Wait until the next running slot is given back by a task of this table."""
        await self._slot_event.wait()

    # -- submits -----------------------------------------------------------------------------

    async def intent(self, tracked: TaskRun, sent: VideoTask, alias: str) -> str | None:
        """A paid submit of ``sent`` to ``alias`` is about to leave (journaled first).

        Returns:
            The callback URL to send the attempt with, when it gets one: callbacks are on,
            the provider posts them and the spec names no ``callback_url`` of its own. Its
            token is registered and journaled (after the intent) before this returns.
        """
        await self.journal.record_intent(
            tracked.key, sent, alias, len(tracked.attempts), self._clock.wall()
        )
        link = self.callbacks
        if link is None:
            return None
        link.forget(tracked)  # an earlier attempt's token, if any
        adapter = self._client.provider(alias).adapter
        if sent.callback_url is not None or not link.supports(adapter):
            return None
        token = link.enroll(tracked, alias, adapter)
        if isinstance(self.journal, CallbackTokenJournal):
            await self.journal.record_callback_token(tracked.key, token.reveal())
        return link.url_for(token)

    def send_stamp(self, tracked: TaskRun) -> SendStamp | None:
        """What the submit of ``tracked`` stamps its sends with (None: the journal has no stamps)."""
        return SendStamp(self._stamps, tracked.key) if self._stamps is not None else None

    def add_attempt(
        self,
        tracked: TaskRun,
        alias: str,
        outcome: str,
        reason: str | None,
        task_id: str | None = None,
    ) -> None:
        """Record one provider tried (without a journal write: the caller's next one covers it)."""
        tracked.attempts.append(
            Attempt(provider=alias, task_id=task_id, outcome=outcome, reason=reason)
        )

    async def not_created(
        self,
        tracked: TaskRun,
        alias: str,
        outcome: Literal["refused", "rejected"],
        reason: str,
    ) -> None:
        """The submit to ``alias`` provably created nothing: the slot goes back."""
        self._forget_token(tracked)
        self.add_attempt(tracked, alias, outcome, reason)
        await self.release_slot(tracked)
        await self.journal.record_not_created(tracked.key, alias, reason)
        if self._attempts is not None:  # a resumed run does not offer it there again
            await self._attempts.record_attempts(tracked.key, tracked.attempts)

    async def forget_intent(self, tracked: TaskRun, alias: str, reason: str) -> None:
        """A resumed intent provably created nothing: journaled so, and the slot goes back."""
        self._forget_token(tracked)
        await self.journal.record_not_created(tracked.key, alias, reason)
        await self.release_slot(tracked)

    async def attach(self, tracked: TaskRun, handle: TaskHandle, *, journal: bool) -> float:
        """``tracked`` is now the remote task ``handle``; returns seconds since it was sent.

        ``journal`` is False for a task resumed from the journal, which already has it.
        """
        alias = handle.provider
        tracked.handle = handle
        if tracked.callbacks and self.callbacks is not None:
            self.callbacks.bind(tracked, handle.task_id)
        last = tracked.attempts[-1] if tracked.attempts else None
        if last is None or (last.provider, last.task_id) != (alias, handle.task_id):
            self.add_attempt(tracked, alias, "submitted", None, handle.task_id)
        elapsed = max(0.0, self._clock.wall() - handle.created_at)
        tracked.submitted_mono = self._clock.now() - elapsed
        tracked.submitted_wall = handle.created_at
        if journal:
            await self.journal.record_submitted(tracked.key, handle)
        self.emit(EventKind.SUBMITTED, tracked, alias)
        return elapsed

    # -- answers -----------------------------------------------------------------------------

    async def observe(self, tracked: TaskRun, status: TaskStatus) -> None:
        """Keep one answer about ``tracked``; a change of state is journaled."""
        current = tracked.status
        previous = current.state if current else None
        if status.is_terminal:
            if (current is None or not current.is_terminal) and status.updated_at is not None:
                seen = self._clock.wall() - status.updated_at.timestamp()
                tracked.detection_lag = max(0.0, seen)
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
                raw=NO_RAW,
                task_id=task_id,
                provider_status=sys.intern(status.provider_status),
            )
        if status.state is not previous:
            await self.journal.record_status(tracked.key, status)

    def end_attempt(self, tracked: TaskRun, outcome: Outcome, reason: str) -> None:
        """The remote task of the last attempt ended ``outcome``."""
        tracked.attempts[-1] = attrs.evolve(
            tracked.attempts[-1], outcome=outcome.value, reason=reason
        )

    async def detach(self, tracked: TaskRun, status: TaskStatus, detail: str) -> None:
        """Leave the remote task (it failed) so that the task can be submitted elsewhere.

        The pending failover is journaled with every attempt so far: a resumed run submits
        it to the next provider instead of polling the failed task again.
        """
        assert tracked.handle is not None
        alias = tracked.handle.provider
        self._forget_token(tracked)
        await self.release_slot(tracked)
        if self._attempts is not None:
            await self._attempts.record_attempts(tracked.key, tracked.attempts, failover=True)
        self.emit(EventKind.FAILED_OVER, tracked, alias, detail)
        tracked.handle = None
        tracked.status = status

    # -- the one exit ------------------------------------------------------------------------

    async def finish(
        self,
        tracked: TaskRun,
        outcome: Outcome,
        reason: str | None,
        *,
        provider: str | None = None,
        video_path: str | None = None,
        last_frame_path: str | None = None,
        download_failed: DownloadPart | None = None,
        journal: bool = True,
    ) -> None:
        """End ``tracked`` (a second call is a no-op): slot back, result journaled, waiters woken.

        ``journal`` is False when the journal's record of the key belongs to another run's
        task, which this ending must not overwrite; so is an ending before that record was
        read. A poll still on the heap for the task is dropped when it comes due.
        """
        if tracked.done:
            return
        journal = journal and tracked.key not in self._unread
        await self.release_slot(tracked)
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
            download_failed=download_failed,
            submitted_at=tracked.submitted_wall,
            started_at=tracked.started_wall,
            finished_at=self._clock.wall(),
        )
        await self._end(
            tracked, result, provider=provider, journal=journal, lag=tracked.detection_lag
        )

    async def replay(self, tracked: TaskRun, result: TaskResult) -> None:
        """End ``tracked`` with the result an earlier run journaled (not journaled again)."""
        if not tracked.done:
            await self.release_slot(tracked)
            tracked.handle, tracked.status = result.handle, result.status
            tracked.attempts = list(result.attempts)
            await self._end(tracked, result, provider=None, journal=False)

    async def _end(
        self,
        tracked: TaskRun,
        result: TaskResult,
        *,
        provider: str | None,
        journal: bool,
        lag: float | None = None,
    ) -> None:
        tracked.loaded = None
        self._forget_token(tracked)
        tracked.set_result(result)
        if self.spend is not None:
            self.spend.settle(result)
        if journal:
            with anyio.CancelScope(shield=True):
                await self.journal.record_result(tracked.key, result)
        handle = result.handle
        alias = provider or (handle.provider if handle else "")
        cost = None
        if result.ok and handle is not None:
            cost = usage_cost(result.task, handle.provider, result.usage, self._prices)
        self.emit(
            EventKind(result.outcome.value), tracked, alias, result.reason, cost=cost, lag=lag
        )
        self._completed.append(result)
        self._completed_event.set()
        self._completed_event = anyio.Event()
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    def _forget_token(self, tracked: TaskRun) -> None:
        if self.callbacks is not None:
            self.callbacks.forget(tracked)

    # -- waiting for results -----------------------------------------------------------------

    async def as_completed(self) -> AsyncIterator[TaskResult]:
        """Results in the order tasks finish, until every task added so far is done."""
        while True:
            while self._completed:
                yield self._completed.popleft()
            if self._pending == 0:
                return
            await self._completed_event.wait()

    async def wait_idle(self) -> None:
        """Wait until every task added so far has a final result."""
        await self._idle.wait()
