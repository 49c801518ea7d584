"""The public test doubles: FakeClock, settle and FunctionTransport."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._clock import Clock, SystemClock, sleep_until
from seedance_async.core._errors import OutcomeUnknown, RequestNotSent
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.testing import FakeClock, FunctionTransport, settle
from seedance_async.transport._aiohttp import Transport

# -- FakeClock -----------------------------------------------------------------------------


def test_fake_clock_implements_clock_protocol() -> None:
    """FakeClock and SystemClock both satisfy the Clock protocol."""
    assert isinstance(FakeClock(), Clock)
    assert isinstance(SystemClock(), Clock)


def test_advance_fires_due_callbacks_in_time_then_scheduling_order() -> None:
    """advance() runs due callbacks ordered by time, ties by scheduling order, each at its time."""
    clock = FakeClock()
    seen: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: seen.append(("b", clock.now())))
    clock.call_at(1.0, lambda: seen.append(("a", clock.now())))
    clock.call_at(2.0, lambda: seen.append(("c", clock.now())))
    clock.call_at(5.0, lambda: seen.append(("late", clock.now())))
    clock.advance(3.0)
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now() == 3.0
    assert clock.pending_timers == 1


def test_cancelled_timer_does_not_fire() -> None:
    """A cancelled timer never runs and is not counted as pending."""
    clock = FakeClock()
    fired: list[int] = []
    timer = clock.call_at(1.0, lambda: fired.append(1))
    timer.cancel()
    clock.advance(10)
    assert fired == []
    assert clock.pending_timers == 0


def test_callback_scheduling_a_due_timer_runs_it_in_the_same_advance() -> None:
    """A callback that schedules another timer inside the window sees it run in order."""
    clock = FakeClock()
    seen: list[float] = []

    def first() -> None:
        seen.append(clock.now())
        clock.call_at(clock.now() + 1, lambda: seen.append(clock.now()))

    clock.call_at(1.0, first)
    clock.advance(5)
    assert seen == [1.0, 2.0]


def test_advance_rejects_negative_and_wall_follows_now() -> None:
    """Time never goes backwards; wall() moves with now()."""
    clock = FakeClock(start=10.0, wall_start=1000.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    clock.advance(2.5)
    assert clock.wall() == 1002.5


async def test_sleep_wakes_exactly_at_virtual_deadline() -> None:
    """A sleeper wakes when virtual time reaches its deadline, not before."""
    clock = FakeClock()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await settle()
        clock.advance(4.999)
        await settle()
        assert woke == []
        clock.advance(0.001)
        await settle()
        assert woke == [5.0]


async def test_run_for_lets_chained_sleeps_happen_at_their_own_times() -> None:
    """run_for settles between timers, so a loop of sleeps ticks at every virtual second."""
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(1)
            ticks.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await clock.run_for(10)
    assert ticks == [1.0, 2.0, 3.0]
    assert clock.now() == 10.0


async def test_run_until_idle_and_advance_to_next() -> None:
    """run_until_idle drains every timer; advance_to_next returns None when nothing is pending."""
    clock = FakeClock()
    done = anyio.Event()

    async def worker() -> None:
        await clock.sleep(3)
        await sleep_until(clock, 7)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        assert await clock.run_until_idle() == 7.0
    assert done.is_set()
    assert clock.advance_to_next() is None


async def test_cancelled_sleep_removes_its_timer() -> None:
    """Cancelling a sleeping task leaves no pending timer behind."""
    clock = FakeClock()
    with anyio.move_on_after(0) as scope:  # cancelled at its first checkpoint
        await clock.sleep(100)
    assert scope.cancelled_caught
    assert clock.pending_timers == 0


async def test_sleep_zero_only_yields() -> None:
    """sleep(0) schedules no timer."""
    clock = FakeClock()
    await clock.sleep(0)
    assert clock.pending_timers == 0


async def test_timer_already_due_fires_on_next_loop_iteration() -> None:
    """Like a real loop, a timer scheduled for the past runs without advancing time."""
    clock = FakeClock(start=5.0)
    fired: list[float] = []
    clock.call_at(1.0, lambda: fired.append(clock.now()))
    await settle()
    assert fired == [5.0]


async def test_settle_detects_busy_loops() -> None:
    """settle() refuses to wait forever on a task that never blocks."""
    stop = False

    async def spinner() -> None:
        # The busy loop settle() must detect, so the lint rule against it does not apply.
        while not stop:  # noqa: ASYNC110
            await asyncio.sleep(0)

    task = asyncio.create_task(spinner())
    try:
        with pytest.raises(RuntimeError, match="busy loop"):
            await settle(max_rounds=50)
    finally:
        stop = True
        await task


async def test_system_clock_uses_the_running_loop() -> None:
    """SystemClock.now is the loop's time and call_at schedules on the loop."""
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    assert abs(clock.now() - loop.time()) < 1.0
    fired = asyncio.Event()
    clock.call_at(clock.now(), fired.set)
    await fired.wait()
    await clock.sleep(0)


# -- FunctionTransport ---------------------------------------------------------------------


async def test_function_transport_sync_handler_records_requests() -> None:
    """A sync handler answers and every request is recorded with its timeouts."""

    def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse.from_json(200, {"path": request.path})

    transport = FunctionTransport(handler)
    assert isinstance(transport, Transport)
    req = HttpRequest(method="GET", path="/tasks/1")
    resp = await transport.send(req, timeouts=Timeouts(total=5))
    assert resp.json() == {"path": "/tasks/1"}
    assert transport.requests == [req]
    assert transport.timeouts == [Timeouts(total=5)]


async def test_function_transport_async_handler_and_raised_errors() -> None:
    """An async handler is awaited; errors it raises reach the caller and are still recorded."""

    async def handler(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        if request.paid:
            raise OutcomeUnknown("simulated reset", provider="fake")
        return HttpResponse(status=204)

    transport = FunctionTransport(handler)
    assert (await transport.send(HttpRequest(method="GET", path="/x"))).status == 204
    with pytest.raises(OutcomeUnknown):
        await transport.send(HttpRequest(method="POST", path="/x", json={}, paid=True))
    assert len(transport.requests) == 2


async def test_function_transport_replay_and_close() -> None:
    """replay() answers in order, raises given exceptions, and complains when exhausted."""
    transport = FunctionTransport.replay(
        [RequestNotSent("refused", provider="fake"), HttpResponse(status=200)]
    )
    req = HttpRequest(method="GET", path="/x")
    with pytest.raises(RequestNotSent):
        await transport.send(req)
    assert (await transport.send(req)).status == 200
    with pytest.raises(AssertionError, match="unexpected request"):
        await transport.send(req)
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(req)


async def test_function_transport_rejects_non_response() -> None:
    """A handler returning something else is a TypeError, not a silent pass."""
    transport = FunctionTransport(lambda request: "nope")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="HttpResponse"):
        await transport.send(HttpRequest(method="GET", path="/x"))
