"""One heap of next-poll times for every in-flight task, drained by one loop.

Thousands of sleeping coroutines (one per task) cost memory and wake-ups; one heap costs
O(log n) per reschedule and a single timer. Entries are invalidated by a version number on
the task instead of being removed, so rescheduling is a push and cancelling is an increment.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable

import anyio

from seedance_async.core._clock import Clock
from seedance_async.tracker._task import TaskRun

__all__ = ["PollHeap"]


class PollHeap:
    """Min-heap of (due time, task); :meth:`run` hands due tasks to ``dispatch`` in batches."""

    def __init__(self, clock: Clock, *, lookahead: float = 0.0) -> None:
        self._clock = clock
        # Polls due within ``lookahead`` are taken together, so a provider that answers
        # many ids in one list call gets full groups instead of one id per call.
        self._lookahead = lookahead
        self._heap: list[tuple[float, int, TaskRun, int]] = []
        self._seq = 0
        self._sleep_scope: anyio.CancelScope | None = None
        self._sleeping_until: float | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, tracked: TaskRun, when: float) -> None:
        """Poll ``tracked`` at monotonic time ``when`` (replaces any earlier schedule)."""
        tracked.version += 1
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, tracked, tracked.version))
        if self._sleep_scope is not None and (
            self._sleeping_until is None or when < self._sleeping_until
        ):
            self._sleep_scope.cancel()

    def unschedule(self, tracked: TaskRun) -> None:
        """Forget any pending poll of ``tracked``."""
        tracked.version += 1

    def pop_due(self, now: float) -> list[TaskRun]:
        """Every task due at ``now``, skipping stale entries."""
        due = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, tracked, version = heapq.heappop(heap)
            if version == tracked.version and not tracked.done:
                due.append(tracked)
        return due

    def next_due(self) -> float | None:
        """Time of the earliest entry (possibly stale), or None when empty."""
        return self._heap[0][0] if self._heap else None

    async def run(self, dispatch: Callable[[list[TaskRun]], Awaitable[None]]) -> None:
        """Forever: wait for the earliest due time, then dispatch everything due."""
        while True:
            due = self.pop_due(self._clock.now() + self._lookahead)
            if due:
                await dispatch(due)
                continue
            when = self.next_due()
            with anyio.CancelScope() as scope:
                self._sleep_scope = scope
                self._sleeping_until = when
                if when is None:
                    await anyio.sleep_forever()
                else:
                    await self._clock.sleep(max(0.0, when - self._clock.now()))
            self._sleep_scope = None
            self._sleeping_until = None
