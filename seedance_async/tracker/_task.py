"""One tracked task, twice: the caller's :class:`TrackedTask` and the tracker's :class:`TaskRun`.

The tracker owns the run, everything it keeps to drive the task to its end (attempts,
failover order, deadlines, slots, poll bookkeeping). The caller holds ``run.view``, which
shows what an application needs (the spec, its key, where it stands, its handle, its
result) and none of the bookkeeping, so the tracker can change that freely.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from seedance_async.core._warn import warn_caller
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["TaskRun", "TrackedTask"]


class TrackedTask:
    """Your handle on one task a :class:`~seedance_async.Tracker` drives.

    Returned by :meth:`Tracker.submit` and :meth:`Tracker.resume` at once; ``await
    tracked.result()`` waits for the final word. Lifecycle events of the task come from
    :meth:`Tracker.events_stream` (filter on ``event.key``).
    """

    __slots__ = ("_run",)

    def __init__(self, run: TaskRun) -> None:
        self._run = run

    def __repr__(self) -> str:
        state = self.outcome or self.state or "pending"
        return f"TrackedTask(key={self.key!r}, state={state})"

    @property
    def key(self) -> str:
        """The tracking key (the spec hash unless one was given)."""
        return self._run.key

    @property
    def task(self) -> VideoTask:
        """The spec."""
        return self._run.task

    @property
    def status(self) -> TaskStatus | None:
        """The last status the provider reported, or None before the first answer."""
        return self._run.status

    @property
    def state(self) -> TaskState | None:
        """The provider-side state of the last status, or None before the first answer."""
        status = self._run.status
        return status.state if status else None

    @property
    def handle(self) -> TaskHandle | None:
        """The remote task of the current attempt, once a submit was accepted."""
        return self._run.handle

    @property
    def done(self) -> bool:
        """True once the task has a final result."""
        return self._run.result_value is not None

    @property
    def outcome(self) -> Outcome | None:
        """The final outcome, or None while the task is still being driven."""
        result = self._run.result_value
        return result.outcome if result else None

    async def result(self) -> TaskResult:
        """Wait for the final result (never raises for a failed task: check ``outcome``)."""
        return await self._run.result()

    async def cancel(self) -> None:
        """Stop this task only: cancel it remotely where the provider allows, else detach."""
        await self._run.cancel()

    if not TYPE_CHECKING:  # type checkers see the attributes as gone

        def __getattr__(self, name: str) -> Any:
            if name not in _MOVED:
                raise AttributeError(f"'TrackedTask' object has no attribute {name!r}")
            warn_caller(
                f"TrackedTask.{name} is the tracker's bookkeeping and no longer part of the "
                "API; it will be removed in 0.3 (the result has attempts and timings)",
                DeprecationWarning,
            )
            return getattr(self._run, name)


class TaskRun:
    """One task the tracker drives, as the tracker sees it.

    Memory matters here (a process may track 100,000 of these), hence ``__slots__`` and the
    lazily created completion event.
    """

    __slots__ = (
        "_canceller",
        "_done",
        "attempts",
        "callbacks",
        "cancel_requested",
        "confirming",
        "deadline_at",
        "detection_lag",
        "handle",
        "key",
        "loaded",
        "order",
        "poll_errors",
        "result_value",
        "resumed",
        "rounds",
        "running_seen_at",
        "slot_alias",
        "started_wall",
        "status",
        "submitted_mono",
        "submitted_wall",
        "task",
        "version",
        "view",
    )

    def __init__(
        self,
        key: str,
        task: VideoTask,
        *,
        order: list[str],
        deadline_at: float | None,
        canceller: Callable[[TaskRun], Awaitable[None]],
    ) -> None:
        self.key = key
        self.task = task
        self.loaded: VideoTask | None = None
        self.order = order
        self.deadline_at = deadline_at
        self.attempts: list[Attempt] = []
        self.handle: TaskHandle | None = None
        self.status: TaskStatus | None = None
        self.submitted_mono: float | None = None
        self.submitted_wall: float | None = None
        # When a poll first saw the provider running it (None: never seen running).
        self.started_wall: float | None = None
        self.result_value: TaskResult | None = None
        self.cancel_requested = False
        self.slot_alias: str | None = None
        self.poll_errors = 0
        self.rounds = 0
        # When a poll last found the task unfinished: a lower bound on its duration.
        self.running_seen_at: float | None = None
        self.resumed = False
        # Seconds between the provider's reported end and the poll that saw it (metrics).
        self.detection_lag: float | None = None
        # The current attempt carries a callback URL (polled by the backstop schedule), and
        # a callback asked for the poll under way.
        self.callbacks = False
        self.confirming = False
        self.version = 0
        self._done: anyio.Event | None = None
        self._canceller = canceller
        self.view = TrackedTask(self)

    def __repr__(self) -> str:
        return f"TaskRun(key={self.key!r})"

    @property
    def done(self) -> bool:
        """True once the task has a final result."""
        return self.result_value is not None

    async def result(self) -> TaskResult:
        """Wait for the final result (never raises for a failed task: check ``outcome``)."""
        if self.result_value is None:
            if self._done is None:
                self._done = anyio.Event()
            await self._done.wait()
        assert self.result_value is not None
        return self.result_value

    async def cancel(self) -> None:
        """Stop this task only: cancel it remotely where the provider allows, else detach."""
        await self._canceller(self)

    def set_result(self, result: TaskResult) -> None:
        """Record the final result and wake waiters (tracker use)."""
        self.result_value = result
        self.version += 1
        if self._done is not None:
            self._done.set()


# What TrackedTask used to expose and the tracker now keeps to itself: still readable, with
# a DeprecationWarning, until 0.3.
_SHOWN = {"key", "task", "status", "handle", "view", "_canceller", "_done"}
_MOVED = frozenset({*TaskRun.__slots__, "set_result"} - _SHOWN)
