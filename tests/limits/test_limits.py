"""Budgets on a virtual clock: exact schedules, FIFO, cancellation safety, cooldown, AIMD."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._clock import Timer
from seedance_async.core._errors import RateLimited
from seedance_async.limits._key_limits import Budget, BudgetLike, default_budget_for
from seedance_async.limits._primitives import (
    AdaptiveRate,
    CooldownGate,
    RunningSlots,
    TokenBucket,
)
from seedance_async.testing import FakeClock, settle


async def _grant_times(
    clock: FakeClock, acquire: Callable[[], Awaitable[None]], n: int
) -> list[tuple[int, float]]:
    """Start n acquirers one after another and return (index, virtual grant time) in grant order."""
    granted: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await acquire()
        granted.append((i, clock.now()))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
            await settle()  # i is queued before i + 1 arrives
        await clock.run_until_idle()
    return granted


# -- TokenBucket -----------------------------------------------------------------------------


async def test_bucket_releases_exactly_on_schedule() -> None:
    """At 2/s with burst 1, five acquirers go at 0, 0.5, 1.0, 1.5 and 2.0 s."""
    clock = FakeClock()
    bucket = TokenBucket(2, 1, clock=clock)
    granted = await _grant_times(clock, bucket.acquire, 5)
    assert [t for _, t in granted] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


@pytest.mark.parametrize("lateness", [0.0, 0.0008, 0.004])
async def test_late_timers_do_not_lower_the_rate(lateness: float) -> None:
    """Timers that fire late keep grants on the 1/rate grid: 50/s stays 50/s.

    Regression: each grant used to restart the interval at the late wake-up, so a 0.8 ms
    late timer (asyncio's usual) spaced grants 20.8 ms apart and used 96 % of a 50/s limit.
    """
    clock = FakeClock(timer_lateness=lateness)
    bucket = TokenBucket(50, 1, clock=clock)
    granted = [t for _, t in await _grant_times(clock, bucket.acquire, 401)]
    assert granted[-1] == pytest.approx(8.0 + lateness)  # 400 intervals of 20 ms, one late
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert min(gaps) >= 0.02 - lateness - 1e-9


async def test_a_stalled_loop_reclaims_at_most_half_an_interval() -> None:
    """A timer 1 s late does not release a burst: the next grant is half an interval later."""
    clock = FakeClock(timer_lateness=1.0)
    bucket = TokenBucket(10, 1, clock=clock)
    granted = [t for _, t in await _grant_times(clock, bucket.acquire, 4)]
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert granted[0] == 0.0
    assert min(gaps) >= 0.05 - 1e-9


async def test_bucket_burst_then_steady_rate() -> None:
    """A full bucket of 3 lets three go at once, then one per second."""
    clock = FakeClock()
    bucket = TokenBucket(1, 3, clock=clock)
    granted = await _grant_times(clock, bucket.acquire, 5)
    assert [t for _, t in granted] == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0])


async def test_bucket_is_fifo() -> None:
    """Waiters are served in arrival order."""
    clock = FakeClock()
    bucket = TokenBucket(10, 1, clock=clock)
    granted = await _grant_times(clock, bucket.acquire, 20)
    assert [i for i, _ in granted] == list(range(20))


async def test_bucket_uses_one_timer_for_any_number_of_waiters() -> None:
    """A thousand queued acquirers cost one pending timer, not a task or timer each."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(bucket.acquire)
        await settle()
        assert bucket.waiting == 1000
        assert clock.pending_timers == 1
        tg.cancel_scope.cancel()
    assert clock.pending_timers == 0


async def test_cancelled_waiter_consumes_nothing() -> None:
    """Cancelling a queued waiter hands its turn to the next one, on the original schedule."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    granted: list[tuple[str, float]] = []

    async def one(name: str) -> None:
        await bucket.acquire()
        granted.append((name, clock.now()))

    tasks = {}
    for name in "abc":
        tasks[name] = asyncio.create_task(one(name))
        await settle()
    tasks["b"].cancel()
    await clock.run_until_idle()
    await tasks["a"]
    await tasks["c"]
    with pytest.raises(asyncio.CancelledError):
        await tasks["b"]
    assert granted == [("a", 1.0), ("c", 2.0)]


async def test_waiter_cancelled_after_grant_returns_its_token() -> None:
    """A waiter cancelled between being granted and resuming gives the token back."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    granted: list[tuple[str, float]] = []

    async def one(name: str) -> None:
        await bucket.acquire()
        granted.append((name, clock.now()))

    first = asyncio.create_task(one("a"))
    await settle()
    second = asyncio.create_task(one("b"))
    await settle()
    clock.advance(1.0)  # grants "a" synchronously; it has not resumed yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert granted == [("b", 1.0)]


async def test_try_acquire_respects_queue_and_set_rate_reschedules() -> None:
    """try_acquire never jumps the queue; a new rate applies to waiters already queued."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    task = asyncio.create_task(bucket.acquire())
    await settle()
    bucket.set_rate(4)  # the next token now arrives after 0.25 s instead of 1 s
    assert clock.next_timer() == pytest.approx(0.25)
    await clock.run_until_idle()
    await task
    assert clock.now() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="rate"):
        bucket.set_rate(0)


def test_bucket_rejects_bad_parameters() -> None:
    """Rate must be positive and burst at least one token."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1, clock=FakeClock())
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0.5, clock=FakeClock())


@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 5),
    arrivals=st.lists(st.floats(0, 10), min_size=1, max_size=40),
    cancels=st.lists(st.tuples(st.integers(0, 39), st.floats(0, 12)), max_size=10),
)
def test_grants_never_exceed_rate_times_window_plus_burst(
    rate: float, burst: int, arrivals: list[float], cancels: list[tuple[int, float]]
) -> None:
    """Property: in any window of length w, at most rate * w + burst tokens are granted."""
    grants = asyncio.run(_simulate(rate, burst, arrivals, cancels))
    grants.sort()
    for i in range(len(grants)):
        for j in range(i, len(grants)):
            window = grants[j] - grants[i]
            assert j - i + 1 <= rate * window + burst + 1e-6 * (j - i + 1)


async def _simulate(
    rate: float, burst: int, arrivals: list[float], cancels: list[tuple[int, float]]
) -> list[float]:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock=clock)
    grants: list[float] = []

    async def arrive(at: float) -> None:
        await clock.sleep(at)
        await bucket.acquire()
        grants.append(clock.now())

    tasks = [asyncio.create_task(arrive(at)) for at in arrivals]

    async def cancel_later(index: int, at: float) -> None:
        await clock.sleep(at)
        tasks[index % len(tasks)].cancel()

    cancellers = [asyncio.create_task(cancel_later(i, at)) for i, at in cancels]
    await clock.run_until_idle()
    await asyncio.gather(*tasks, *cancellers, return_exceptions=True)
    assert bucket.waiting == 0
    return grants


# -- CooldownGate ----------------------------------------------------------------------------


async def test_gate_holds_everyone_until_the_retry_time() -> None:
    """A closed gate releases all waiters together, exactly when it reopens."""
    clock = FakeClock()
    gate = CooldownGate(clock=clock)
    assert gate.close_for(10) == 10.0
    passed: list[float] = []

    async def waiter() -> None:
        await gate.wait_open()
        passed.append(clock.now())

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(waiter)
        await clock.run_for(9.999)
        assert passed == []
        await clock.run_for(0.001)
        assert passed == [10.0, 10.0, 10.0]
    assert gate.is_open()


async def test_gate_extends_but_never_shortens_and_caps() -> None:
    """A later close extends the cooldown; an earlier one is ignored; waits are capped."""
    clock = FakeClock()
    gate = CooldownGate(clock=clock, max_cooldown=60)
    gate.close_for(10)
    clock.advance(2)
    assert gate.close_for(5) == 10.0  # would reopen at 7: ignored
    assert gate.close_for(20) == 22.0
    assert gate.close_for(3600) == 62.0  # capped at 60 s from now
    task = asyncio.create_task(gate.wait_open())
    await clock.run_until_idle()
    await task
    assert clock.now() == 62.0
    assert clock.pending_timers == 0


async def test_gate_waiter_can_be_cancelled() -> None:
    """A cancelled gate waiter leaves cleanly and does not disturb the others."""
    clock = FakeClock()
    gate = CooldownGate(clock=clock)
    gate.close_for(5)
    a = asyncio.create_task(gate.wait_open())
    b = asyncio.create_task(gate.wait_open())
    await settle()
    a.cancel()
    await clock.run_until_idle()
    await b
    with pytest.raises(asyncio.CancelledError):
        await a


class EarlyOnceClock(FakeClock):
    """Runs its first timer 1 ms early, as a real loop may (by up to its clock resolution)."""

    early = True

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        shift, self.early = (0.001 if self.early else 0.0), False
        return super().call_at(when - shift, callback)


async def test_limiters_tolerate_timers_that_fire_early() -> None:
    """A timer run before its time re-arms itself: nobody is released early or left hanging."""
    clock = EarlyOnceClock()
    gate = CooldownGate(clock=clock)
    gate.close_for(10)
    waiter = asyncio.create_task(gate.wait_open())
    await clock.run_until_idle()
    assert waiter.done()
    await waiter
    assert clock.now() == 10.0

    clock = EarlyOnceClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    acquirer = asyncio.create_task(bucket.acquire())
    await clock.run_until_idle()
    assert acquirer.done()
    await acquirer
    assert clock.now() == pytest.approx(1.0)


# -- AdaptiveRate ----------------------------------------------------------------------------


async def test_aimd_decreases_once_per_hold_and_recovers_additively() -> None:
    """429s halve the rate (not below the floor, once per hold); successes add it back."""
    clock = FakeClock()
    bucket = TokenBucket(10, 1, clock=clock)
    aimd = AdaptiveRate(bucket, clock=clock, floor=2, increase=1, hold=1)
    aimd.on_rate_limited()
    assert bucket.rate == 5
    aimd.on_rate_limited()  # same burst of answers: counts once
    assert bucket.rate == 5
    clock.advance(1)
    aimd.on_rate_limited()
    assert bucket.rate == 2.5
    clock.advance(1)
    aimd.on_rate_limited()
    assert bucket.rate == 2  # floor
    for _ in range(5):
        aimd.on_success()
    assert bucket.rate == 7
    for _ in range(10):
        aimd.on_success()
    assert bucket.rate == 10  # ceiling


def test_aimd_rejects_bad_factor() -> None:
    """The decrease factor must shrink the rate."""
    with pytest.raises(ValueError, match="decrease"):
        AdaptiveRate(TokenBucket(1, clock=FakeClock()), decrease=1.5, clock=FakeClock())


# -- RunningSlots ------------------------------------------------------------------------------


async def test_running_slots_cap_fifo_and_cross_task_release() -> None:
    """At most capacity holders; waiters go in order; any task may release."""
    slots = RunningSlots(2)
    order: list[int] = []

    async def take(i: int) -> None:
        await slots.acquire()
        order.append(i)

    tasks = []
    for i in range(4):
        tasks.append(asyncio.create_task(take(i)))
        await settle()
    assert order == [0, 1]
    assert slots.used == 2
    slots.release()  # released by the test task, not the holder
    await settle()
    assert order == [0, 1, 2]
    slots.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]
    assert slots.used == 2


async def test_running_slots_cancellation_safety() -> None:
    """A waiter cancelled while queued, or right after its grant, leaves no slot held."""
    slots = RunningSlots(1)
    await slots.acquire()
    queued = asyncio.create_task(slots.acquire())
    granted_then_cancelled = asyncio.create_task(slots.acquire())
    await settle()
    queued.cancel()
    await settle()
    slots.release()  # hands the slot to the second waiter...
    granted_then_cancelled.cancel()  # ...which is cancelled before it resumes
    for task in (queued, granted_then_cancelled):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert slots.used == 0
    with pytest.raises(RuntimeError, match="without a held slot"):
        slots.release()


# -- Budget ----------------------------------------------------------------------------------


async def test_budget_is_budgetlike_and_gate_holds_submit_and_poll() -> None:
    """A 429 with Retry-After closes the gate for submits and polls alike."""
    clock = FakeClock()
    budget = Budget(submit_rate=10, poll_rate=10, clock=clock)
    assert isinstance(budget, BudgetLike)
    await budget.on_rate_limited(RateLimited("slow", retry_after=30), kind="poll")
    passed: list[tuple[str, float]] = []

    async def go(kind: str, wait: Callable[[], Awaitable[None]]) -> None:
        await wait()
        passed.append((kind, clock.now()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(go, "submit", budget.before_submit)
        tg.start_soon(go, "poll", budget.before_poll)
        await clock.run_for(29)
        assert passed == []
        await clock.run_until_idle()
    assert sorted(passed) == [("poll", 30.0), ("submit", 30.0)]


async def test_budget_requeues_when_gate_closes_while_waiting_for_a_token() -> None:
    """A submit that got its token after a 429 closed the gate waits for the gate again."""
    clock = FakeClock()
    budget = Budget(submit_rate=1, submit_burst=1, clock=clock)
    await budget.before_submit()  # uses the only token: the next comes at t=1
    passed: list[float] = []

    async def submit() -> None:
        await budget.before_submit()
        passed.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit)
        await clock.run_for(0.5)
        budget.gate.close_for(10)  # closes at 0.5 while the submit waits in the bucket
        await clock.run_until_idle()
    assert passed == [pytest.approx(10.5)]


async def test_budget_adapts_the_rate_without_retry_after() -> None:
    """A 429 without a wait slows only the bucket of its kind; a spend cap changes nothing."""
    clock = FakeClock()
    budget = Budget(submit_rate=10, poll_rate=10, clock=clock)
    await budget.on_rate_limited(RateLimited("slow"), kind="submit")
    assert budget.submit_bucket.rate == 5
    assert budget.poll_bucket.rate == 10
    assert budget.gate.is_open()
    await budget.on_rate_limited(RateLimited("cap", retryable=False, retry_after=99))
    assert budget.gate.is_open()
    await budget.on_success(kind="submit")
    assert budget.submit_bucket.rate > 5


async def test_budget_running_slots() -> None:
    """acquire/try_acquire/release_running_slot enforce max_running."""
    budget = Budget(max_running=1, clock=FakeClock())
    assert await budget.try_acquire_running_slot()
    assert not await budget.try_acquire_running_slot()
    waiter = asyncio.create_task(budget.acquire_running_slot())
    await settle()
    assert not waiter.done()
    await budget.release_running_slot()
    await waiter
    await budget.release_running_slot()
    await budget.acquire_running_slot()
    await budget.release_running_slot()


@pytest.mark.parametrize(
    ("model", "rpm", "running"),
    [
        ("doubao-seedance-1-0-lite-t2v-250428", 300, 5),
        ("seedance-1-0-lite-i2v-250428", 300, 5),
        ("doubao-seedance-1-0-pro-250528", 600, 10),
        ("doubao-seedance-1-5-pro-251215", 600, 10),
        ("ep-20250101-abcde", 300, 5),
    ],
)
def test_default_budget_for_model_families(model: str, rpm: int, running: int) -> None:
    """Defaults follow docs/providers.md §2.9; unknown ids get the conservative Lite limits."""
    budget = default_budget_for(model, clock=FakeClock())
    assert budget.submit_bucket.rate * 60 == pytest.approx(rpm)
    assert budget.slots.capacity == running
