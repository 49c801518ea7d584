"""Test doubles shipped to users: a virtual clock and a transport built from a function.

Test your code that drives seedance-async without a server and without waiting::

    from seedance_async import HttpResponse
    from seedance_async.testing import FakeClock, FunctionTransport

    def provider(request):
        if request.method == "POST":
            return HttpResponse.from_json(200, {"id": "cgt-1"})
        return HttpResponse.from_json(200, {"id": "cgt-1", "status": "succeeded"})

    transport = FunctionTransport(provider)
    clock = FakeClock()
    ...                                   # start the code under test in a task group
    await clock.run_for(30)               # 30 virtual seconds, timers fired in order
    assert transport.requests[0].paid

:class:`FakeClock` implements :class:`~seedance_async.core._clock.Clock`. Virtual time only moves
when the test says so: :meth:`FakeClock.advance` fires due timers synchronously, and the
async helpers :meth:`FakeClock.run_for` / :meth:`FakeClock.run_until_idle` also let the woken
tasks run (:func:`settle`) between timers, so chains of sleeps happen in the same order and
at the same virtual times as they would in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._clock import Timer
from seedance_async.core._wire import HttpRequest, HttpResponse

__all__ = ["FakeClock", "FunctionTransport", "Handler", "settle"]

Handler = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
"""A plain or async function from a request to a response (it may raise, e.g. RequestNotSent)."""


def _is_blocked(task: asyncio.Task[object]) -> bool:
    # The same probe anyio's wait_all_tasks_blocked uses, without its 0.1 s real sleeps:
    # a task waiting on a future that is not done cannot make progress by itself.
    waiter = getattr(task, "_fut_waiter", None)
    return waiter is not None and not waiter.done()


async def settle(*, max_rounds: int = 10_000) -> None:
    """Yield to the event loop until every other task is blocked on something not yet done.

    Use it after changing the world (advancing a fake clock, setting an event) to let every
    task that can run do so, instead of sleeping for a guessed duration.

    Raises:
        RuntimeError: tasks still ran after ``max_rounds`` loop iterations (a busy loop).
    """
    this = asyncio.current_task()
    for _ in range(max_rounds):
        await asyncio.sleep(0)
        if all(_is_blocked(t) for t in asyncio.all_tasks() if t is not this):
            return
    raise RuntimeError(f"tasks still runnable after {max_rounds} loop iterations (busy loop?)")


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A virtual clock for tests; time moves only when the test moves it.

    Args:
        start: the initial :meth:`now` value.
        wall_start: the Unix time that corresponds to ``start``.
        timer_lateness: every timer fires this many seconds after its due time, as a real
            event loop's do (asyncio's are typically ~1 ms late); 0 fires them on time.
    """

    def __init__(
        self,
        start: float = 0.0,
        *,
        wall_start: float = 1_700_000_000.0,
        timer_lateness: float = 0.0,
    ) -> None:
        if timer_lateness < 0:
            raise ValueError("timer_lateness cannot be negative")
        self.timer_lateness = timer_lateness
        self._now = start
        self._wall_offset = wall_start - start
        self._heap: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, pending_timers={self.pending_timers})"

    # -- the Clock protocol ------------------------------------------------------------------

    def now(self) -> float:
        """The current virtual monotonic time."""
        return self._now

    def wall(self) -> float:
        """Virtual Unix time: ``wall_start`` plus the virtual time elapsed."""
        return self._now + self._wall_offset

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Schedule ``callback`` for virtual time ``when``.

        A timer that is already due runs on the next loop iteration, as with a real loop.
        """
        when += self.timer_lateness
        timer = _FakeTimer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        if when <= self._now:
            # Without a running loop the next advance() fires it.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(self._fire_due)
        return timer

    async def sleep(self, seconds: float) -> None:
        """Suspend until virtual time has advanced by ``seconds`` (<= 0: just yield)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self._now + seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    # -- moving time ---------------------------------------------------------------------------

    @property
    def pending_timers(self) -> int:
        """How many scheduled timers have neither run nor been cancelled."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def next_timer(self) -> float | None:
        """The virtual time of the earliest pending timer, or None."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running every timer that falls due, in order.

        Each callback sees :meth:`now` equal to its own due time. Woken tasks run only when
        the test next yields; prefer :meth:`run_for` when they schedule further timers.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (no-op if already there), running due timers."""
        target = max(when, self._now)
        while (due := self.next_timer()) is not None and due <= target:
            _, _, timer = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            timer.cancelled = True  # a timer runs once
            timer.callback()
        self._now = target

    def advance_to_next(self) -> float | None:
        """Jump to the earliest pending timer and run every timer due then.

        Returns:
            The new time, or None (time unchanged) when no timer is pending.
        """
        due = self.next_timer()
        if due is not None:
            self.advance_to(due)
        return due

    def _fire_due(self) -> None:
        self.advance_to(self._now)

    async def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass, settling the tasks after every timer."""
        target = self._now + seconds
        await settle()
        while (due := self.next_timer()) is not None and due <= target:
            self.advance_to(due)
            await settle()
        self.advance_to(target)
        await settle()

    async def run_until_idle(self, *, max_timers: int = 100_000) -> float:
        """Run timers one virtual instant after another until none is pending.

        Returns:
            The virtual time reached.

        Raises:
            RuntimeError: more than ``max_timers`` instants ran (something reschedules forever).
        """
        await settle()
        for _ in range(max_timers):
            if self.advance_to_next() is None:
                return self._now
            await settle()
        raise RuntimeError(f"timers still pending after {max_timers} steps")


class FunctionTransport:
    """A transport that answers with a function instead of a network (httpx's MockTransport).

    The handler receives each :class:`HttpRequest` exactly as the client would send it
    (without auth headers) and returns an :class:`HttpResponse`; it may be sync or async and
    may raise :class:`~seedance_async.RequestNotSent` or
    :class:`~seedance_async.OutcomeUnknown` to simulate network failures.

    Attributes:
        requests: every request seen, in order (including those whose handler raised).
        timeouts: the ``timeouts`` argument of each call, parallel to ``requests``.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[HttpRequest] = []
        self.timeouts: list[Timeouts | None] = []
        self.closed = False

    @classmethod
    def replay(cls, outcomes: Iterable[HttpResponse | BaseException]) -> FunctionTransport:
        """A transport that returns (or raises) ``outcomes`` one per request, in order.

        Raises (from ``send``):
            AssertionError: more requests arrived than outcomes were given.
        """
        queue = deque(outcomes)

        def handler(request: HttpRequest) -> HttpResponse:
            if not queue:
                raise AssertionError(f"unexpected request {request.method} {request.path}")
            outcome = queue.popleft()
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return cls(handler)

    def __repr__(self) -> str:
        return f"FunctionTransport(requests={len(self.requests)}, closed={self.closed})"

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """Record ``request`` and return the handler's answer.

        Raises:
            RuntimeError: the transport was closed.
            TypeError: the handler returned something other than an HttpResponse.
            Exception: whatever the handler raised.
        """
        if self.closed:
            raise RuntimeError("transport is closed")
        self.requests.append(request)
        self.timeouts.append(timeouts)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, HttpResponse):
            raise TypeError(f"handler returned {type(result).__name__}, not HttpResponse")
        return result

    async def aclose(self) -> None:
        """Mark the transport closed; later sends raise RuntimeError."""
        self.closed = True
