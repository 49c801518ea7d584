"""Task lifecycle: queued → running → succeeded | failed (or cancelled / expired).

Theory of operation. No timer or background task exists per simulated task. When a task is
created its queue time, run time and fate are drawn once; its state at any instant is then a
pure function of the clock. Only the running-task cap needs memory: tasks of one key start in
order of the time they become ready, each as soon as a slot is free. :meth:`TaskStore.advance`
replays those starts lazily, in time order, up to "now" whenever a request arrives, with one
heap of ready tasks and one heap of slot release times per key. Because every start at or
before "now" is replayed before a state is read, a task that has not started yet is queued
(or expired, once its ``execution_expires_after`` deadline passed while it waited).

Durations are drawn in provider seconds and multiplied by ``time_scale``; so is
``execution_expires_after``. Retention is in clock seconds: task records stay queryable for
7 days and cancelled ones for 24 h (Ark's "Query a video generation task" and "Cancel or
delete a video generation task" pages).

Because a state is a function of the clock, the past can be replayed too:
:meth:`SimTask.as_of` shows a task as it was at an earlier instant (what a lagging gateway
reports, and what a status-change callback carries) and :meth:`SimTask.transitions` lists
every status change up to now (what callbacks announce).
"""

from __future__ import annotations

import copy
import heapq
import math
import random
from collections.abc import Iterator
from typing import Literal

import attrs

from seedance_async.simulator._params import GenParams

__all__ = ["FINAL_STATES", "STATES", "DurationModel", "SimTask", "State", "TaskStore"]

State = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
STATES: tuple[State, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
FINAL_STATES: frozenset[State] = frozenset({"succeeded", "failed", "cancelled", "expired"})

RETENTION = 7 * 86_400.0
CANCELLED_RETENTION = 86_400.0


def _range(
    _: object, attribute: attrs.Attribute[tuple[float, float]], value: tuple[float, float]
) -> None:
    low, high = value
    if not 0 <= low <= high:
        raise ValueError(
            f"{attribute.name} must be (low, high) with 0 <= low <= high, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class DurationModel:
    """How long tasks wait and run, in provider seconds (before ``time_scale``).

    Both are drawn uniformly from ``(low, high)`` with the provider's seeded RNG. The
    defaults follow the ~40-60 s for a 5 s clip that AI/ML API's Seedance page quotes, with
    a few seconds of queueing.

    Attributes:
        queue: range of the time from creation until the task is ready to run.
        run: range of the generation time once running.
    """

    queue: tuple[float, float] = attrs.field(default=(1.0, 5.0), validator=_range)
    run: tuple[float, float] = attrs.field(default=(30.0, 60.0), validator=_range)

    @classmethod
    def fixed(cls, queue: float, run: float) -> DurationModel:
        """Every task waits exactly ``queue`` and runs exactly ``run`` seconds."""
        return cls(queue=(queue, queue), run=(run, run))

    def draw(self, rng: random.Random) -> tuple[float, float]:
        """(queue seconds, run seconds) for one task."""
        return rng.uniform(*self.queue), rng.uniform(*self.run)


class SimTask:
    """One simulated task and the times that decide its state (mutable, owned by a store)."""

    __slots__ = (
        "cancelled_at",
        "created",
        "deadline",
        "end",
        "failure",
        "id",
        "key",
        "outcome",
        "params",
        "ready",
        "run",
        "seq",
        "start",
    )

    def __init__(
        self,
        *,
        task_id: str,
        key: str,
        seq: int,
        params: GenParams,
        created: float,
        queue_time: float,
        run_time: float,
        expires_after: float,
        failure: tuple[str, str] | None,
    ) -> None:
        self.id = task_id
        self.key = key
        self.seq = seq
        self.params = params
        self.created = created
        self.ready = created + queue_time
        self.run = run_time
        self.deadline = created + expires_after
        self.failure = failure
        self.start: float | None = None
        self.end: float | None = None
        self.outcome: State | None = None
        self.cancelled_at: float | None = None

    def state(self, now: float) -> State:
        """The state at ``now``; valid once the store was advanced to ``now``."""
        if self.cancelled_at is not None:
            return "cancelled"
        if self.start is None:
            if self.outcome == "expired" or now >= self.deadline:
                return "expired"
            return "queued"
        assert self.end is not None
        assert self.outcome is not None
        return "running" if now < self.end else self.outcome

    def updated_at(self, now: float) -> float:
        """Time of the last transition at or before ``now``."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        if self.start is None:
            return self.deadline if now >= self.deadline else self.created
        assert self.end is not None
        return self.end if now >= self.end else self.start

    def progress(self, now: float) -> float:
        """0..1: how far the generation got at ``now``."""
        if self.start is None or self.end is None:
            return 0.0
        if now >= self.end:
            return 1.0
        return min(0.99, (now - self.start) / self.run) if self.run > 0 else 0.99

    def as_of(self, at: float) -> SimTask:
        """A copy that shows the task as it was at ``at`` (an instant the store has passed).

        A task that had not started by then is queued (or expired, past its deadline)
        in the copy, a cancel after ``at`` has not happened yet, and so on, so
        :meth:`state`, :meth:`updated_at` and :meth:`progress` of the copy at ``at`` are
        what they were at that instant.
        """
        view = copy.copy(self)
        if self.cancelled_at is not None and self.cancelled_at > at:
            view.cancelled_at = None
        if self.start is not None and self.start > at:
            view.start = view.end = view.outcome = None
        elif self.start is None and self.end is not None and self.end > at:
            view.end = view.outcome = None  # expired while queued, but not yet at ``at``
        return view

    def in_state(self, state: State, at: float) -> SimTask:
        """:meth:`as_of` at ``at``, showing ``state`` even when the next status began at
        the same instant (a task without queue time is queued and running at once)."""
        view = self.as_of(at)
        if state == "queued":
            view.start = view.end = view.outcome = view.cancelled_at = None
        elif state == "running" and view.end is not None and view.end <= at:
            view.end = math.inf  # a zero-length run: show it running, not yet finished
        return view

    def stuck(self) -> SimTask:
        """A copy that is running forever: what a gateway that has no word for expired or
        cancelled tasks reports about them."""
        view = copy.copy(self)
        view.cancelled_at = None
        view.start = self.created if self.start is None else self.start
        view.end = view.run = math.inf
        view.outcome = "succeeded"  # never reached: the end is infinitely far
        return view

    def claimed(self, outcome: State, at: float) -> SimTask:
        """A copy that claims to have ended ``outcome`` at ``at``, whatever really happened
        (the body of a forged callback)."""
        view = copy.copy(self)
        view.cancelled_at = None
        view.start = min(self.created if self.start is None else self.start, at)
        view.end = at
        view.outcome = outcome
        view.failure = None
        return view

    def transitions(self, now: float) -> list[tuple[State, float]]:
        """Every status the task has had up to ``now``, with the time it began, in order
        (valid once the store was advanced to ``now``)."""
        found: list[tuple[State, float]] = [("queued", self.created)]
        if self.cancelled_at is not None:
            if self.cancelled_at <= now:
                found.append(("cancelled", self.cancelled_at))
            return found
        if self.start is not None and self.start <= now:
            found.append(("running", self.start))
        if self.end is not None and self.outcome is not None and self.end <= now:
            found.append((self.outcome, self.end))
        elif self.start is None and now >= self.deadline:
            found.append(("expired", self.deadline))
        return found


class _Lane:
    """Scheduling state of one key: ready heap, running slots, queued deadlines."""

    __slots__ = ("cursor", "deadlines", "n_queued", "pending", "running", "tasks")

    def __init__(self) -> None:
        self.tasks: dict[str, SimTask] = {}
        self.pending: list[tuple[float, int, SimTask]] = []
        self.running: list[float] = []
        self.deadlines: list[tuple[float, int, SimTask]] = []
        self.n_queued = 0
        self.cursor = float("-inf")


class TaskStore:
    """All tasks of one simulated provider, with lazily computed states.

    Args:
        max_running: running tasks per key; None means no cap.
    """

    def __init__(self, max_running: int | None = None) -> None:
        self.max_running = max_running
        self._lanes: dict[str, _Lane] = {}
        self._tasks: dict[str, SimTask] = {}
        self._now = float("-inf")

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[SimTask]:
        """Every task record still held, in creation order (call :meth:`advance` first)."""
        return iter(list(self._tasks.values()))

    def add(self, task: SimTask) -> None:
        """Register a new task (it starts queued)."""
        lane = self._lanes.get(task.key)
        if lane is None:
            lane = self._lanes[task.key] = _Lane()
        lane.tasks[task.id] = task
        self._tasks[task.id] = task
        heapq.heappush(lane.pending, (task.ready, task.seq, task))
        heapq.heappush(lane.deadlines, (task.deadline, task.seq, task))
        lane.n_queued += 1

    def advance(self, now: float) -> None:
        """Replay every start, slot release and queue expiry up to ``now``."""
        if now < self._now:
            return  # a clock that went back must not undo what was observed
        self._now = now
        for lane in self._lanes.values():
            if lane.pending:
                self._advance_lane(lane, now)

    def _advance_lane(self, lane: _Lane, now: float) -> None:
        cap = self.max_running
        pending, running = lane.pending, lane.running
        while pending:
            ready, _, task = pending[0]
            if task.cancelled_at is not None or task.outcome is not None:
                heapq.heappop(pending)
                continue
            # FIFO by ready time: nobody starts before the previous start (the cursor),
            # nor before a slot frees when all are taken.
            start = max(ready, lane.cursor)
            if cap is not None and len(running) >= cap and running[0] > start:
                start = running[0]
            if start > now:
                break
            heapq.heappop(pending)
            lane.n_queued -= 1
            if start >= task.deadline:
                # Its deadline passed while it waited for a slot: it never runs and takes
                # no slot.
                task.outcome, task.end = "expired", task.deadline
                continue
            while running and running[0] <= start:
                heapq.heappop(running)
            lane.cursor = start
            task.start = start
            finish = start + task.run
            if finish > task.deadline:
                task.end, task.outcome = task.deadline, "expired"
            else:
                task.end = finish
                task.outcome = "failed" if task.failure is not None else "succeeded"
            heapq.heappush(running, task.end)
        deadlines = lane.deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, task = heapq.heappop(deadlines)
            if task.start is None and task.cancelled_at is None and task.outcome is None:
                task.outcome, task.end = "expired", task.deadline
                lane.n_queued -= 1

    def get(self, task_id: str, now: float) -> SimTask | None:
        """The task if its record still exists (not deleted, within retention)."""
        task = self._tasks.get(task_id)
        if task is None:
            return None
        if not self._visible(task, now):
            self.delete(task)
            return None
        return task

    @staticmethod
    def _visible(task: SimTask, now: float) -> bool:
        if now >= task.created + RETENTION:
            return False
        return task.cancelled_at is None or now < task.cancelled_at + CANCELLED_RETENTION

    def cancel(self, task: SimTask, now: float) -> None:
        """Cancel a queued task (the caller checked it is queued)."""
        task.cancelled_at = now
        self._lanes[task.key].n_queued -= 1

    def delete(self, task: SimTask) -> None:
        """Forget a task's record (a later get answers 404)."""
        self._tasks.pop(task.id, None)
        lane = self._lanes.get(task.key)
        if lane is not None:
            lane.tasks.pop(task.id, None)

    def counts(self, key: str, now: float) -> tuple[int, int]:
        """(queued, running) tasks of ``key`` at ``now`` (after :meth:`advance`)."""
        lane = self._lanes.get(key)
        if lane is None:
            return 0, 0
        running = lane.running
        while running and running[0] <= now:
            heapq.heappop(running)
        return lane.n_queued, len(running)

    def newest_first(self, key: str, now: float) -> Iterator[SimTask]:
        """The visible tasks of ``key``, newest first."""
        lane = self._lanes.get(key)
        if lane is None:
            return
        for task in reversed(list(lane.tasks.values())):
            if self._visible(task, now):
                yield task
