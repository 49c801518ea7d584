"""The tracker's per-task record, which doubles as the caller's handle on the task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from seedance_async.spec._handle import Attempt, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

if TYPE_CHECKING:
    from seedance_async.spec._handle import Outcome

__all__ = ["TrackedTask"]


class TrackedTask:
    """One task the tracker drives; await :meth:`result` for its outcome.

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
    )

    def __init__(
        self,
        key: str,
        task: VideoTask,
        *,
        order: list[str],
        deadline_at: float | None,
        canceller: Callable[[TrackedTask], Awaitable[None]],
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

    def __repr__(self) -> str:
        state = (
            self.result_value.outcome.value
            if self.result_value
            else (self.status.state.value if self.status else "pending")
        )
        return f"TrackedTask(key={self.key!r}, state={state})"

    @property
    def done(self) -> bool:
        """True once the task has a final result."""
        return self.result_value is not None

    @property
    def outcome(self) -> Outcome | None:
        """The final outcome, or None while the task is still being driven."""
        return self.result_value.outcome if self.result_value else None

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
