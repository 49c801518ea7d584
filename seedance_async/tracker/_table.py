"""State and bookkeeping shared by the tracker's stages (see :mod:`seedance_async.tracker._tracker`).

:class:`TrackerCore` holds what every stage touches: the task table, the poll heap, the
running slots, the event hub, and the one exit :meth:`TrackerCore._finish` through which
every task ends exactly once.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from anyio.streams.memory import MemoryObjectSendStream as _SendStream

from seedance_async.client._client import Client
from seedance_async.core._errors import (
    ConfigurationError,
)
from seedance_async.core._events import Event, EventKind
from seedance_async.journal._protocol import Journal, NullJournal
from seedance_async.policy._failover import CircuitBreaker, FailoverPolicy
from seedance_async.policy._poll_schedule import EtaEstimator, PollSchedule
from seedance_async.spec._handle import Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._heap import PollScheduler
from seedance_async.tracker._task import TrackedTask

__all__ = ["NO_RAW", "TrackerCore"]

# Ark's execution_expires_after default: a task nobody can follow may run until then.
_DEFAULT_EXPIRY = 172_800.0
_EXPIRY_SKEW = 30.0  # seconds of clock difference between us and the provider

NO_RAW: MappingProxyType[str, object] = MappingProxyType({})  # one for every stored status


class TrackerCore:
    """The tracker's shared state; the stages and :class:`Tracker` build on it."""

    _submit_send: _SendStream[TrackedTask]
    _poll_send: _SendStream[list[TrackedTask]]
    _download_send: _SendStream[TrackedTask]

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
        refusal_rounds: int = 5,
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
        self.refusal_rounds = refusal_rounds
        self.journal: Journal = journal or NullJournal()
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self._workers = (submit_workers, poll_workers, download_workers)
        self._batch_size = batch_size
        self._rng = random.Random(seed)
        self._canceller = self._cancel  # one bound method shared by every task, not one each
        self._breaker = CircuitBreaker()
        self._eta = EtaEstimator(early_quantile=self.schedule.early_quantile)
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

    # -- bookkeeping -------------------------------------------------------------------------

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

    async def _release_slot(self, tracked: TrackedTask) -> None:
        if tracked.slot_alias is not None:
            alias, tracked.slot_alias = tracked.slot_alias, None
            with anyio.CancelScope(shield=True):
                await self.client.provider(alias).budget.release_running_slot()
            self._slot_event.set()
            self._slot_event = anyio.Event()

    async def _keep_slot(self, tracked: TrackedTask, sent_at: float) -> None:
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
            await self.client.provider(alias).budget.keep_running_slot(
                sent_at + expiry + _EXPIRY_SKEW
            )

    def _schedule_poll(self, tracked: TrackedTask, delay: float) -> None:
        when = self.clock.now() + max(0.0, delay * self.schedule.jitter_factor(self._rng.random()))
        if tracked.deadline_at is not None:
            when = min(when, tracked.deadline_at)
        self._scheduler.schedule(tracked, when)

    # -- the one exit ------------------------------------------------------------------------

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

    @staticmethod
    def _last_reason(tracked: TrackedTask) -> str | None:
        return tracked.attempts[-1].reason if tracked.attempts else None

    @property
    def pending(self) -> int:
        """Tasks without a final result yet."""
        return self._pending

    @property
    def tasks(self) -> dict[str, TrackedTask]:
        """Every task tracked, by key."""
        return self._tracked

    # -- implemented by the stages -----------------------------------------------------------

    async def _attached(
        self,
        tracked: TrackedTask,
        handle: TaskHandle,
        first: TaskStatus | None,
        *,
        journal: bool = True,
    ) -> None:
        raise NotImplementedError  # PollStage

    async def _cancel(self, tracked: TrackedTask) -> None:
        raise NotImplementedError  # PollStage
