"""RedisBudget: limits shared atomically by processes that each have their own connection."""

from __future__ import annotations

import time

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from seedance_async import Client, RateLimited, VideoTask
from seedance_async.config import parse_provider_config
from seedance_async.core._clock import SystemClock
from seedance_async.distributed._budget import RedisBudget, redis_budget_factory
from seedance_async.distributed._conn import connect
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, Limits, Simulator, max_in_window
from tests.distributed.conftest import RedisServer

MODEL = "doubao-seedance-1-0-pro-250528"


async def test_shared_submit_rate_holds_across_processes(redis_url: str, prefix: str) -> None:
    """Three clients with their own connections share 50 creates/s: the simulator never
    sees more than 50 + burst creates in any second."""
    rate, burst, count = 50, 5, 150
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001) as sim:
        config = attrs.evolve(
            parse_provider_config(sim.provider_config())["ark"], submit_rpm=rate * 60.0
        )
        connections = [connect(redis_url) for _ in range(3)]
        try:
            clients = [
                Client(
                    [config],
                    env={KEY_ENV: DEFAULT_KEY},
                    budget_factory=redis_budget_factory(c, prefix=prefix, submit_burst=burst),
                )
                for c in connections
            ]
            async with clients[0], clients[1], clients[2], anyio.create_task_group() as tg:
                for n in range(count):
                    task = VideoTask(model=MODEL, prompt=f"rate {n}")
                    tg.start_soon(lambda c, t: clients[c].submit(t), n % 3, task)
        finally:
            for c in connections:
                await c.aclose()
        creates = [r.time for r in sim.requests("ark") if r.op == "create"]
    assert len(creates) == count
    # Arrival times at the server: allow scheduling jitter of ~10 % within one second.
    assert max_in_window(creates, 1.0) <= rate * 1.1 + burst
    # The limit did bind: 150 creates at 50/s after a burst of 5 take about 2.9 s.
    assert max(creates) - min(creates) >= (count - burst) / rate - 0.2


async def test_the_factory_spaces_creates_evenly_by_default(redis: Redis, prefix: str) -> None:
    """Without --submit-burst, budgets built from a config send creates one at a time at
    submit_rpm less the headroom, as the in-process client does (no burst on top)."""
    config = parse_provider_config(
        {"providers": {"a": {"adapter": "ark", "base_url": "https://a.example", "submit_rpm": 600}}}
    )["a"]
    built: list[RedisBudget] = []
    redis_budget_factory(redis, prefix=prefix, created=built)(config, "a/k", SystemClock())
    redis_budget_factory(redis, prefix=prefix, submit_burst=5, created=built)(
        config, "a/k2", SystemClock()
    )
    default, explicit = built
    assert default.burst("submit") == 1.0
    assert default.rate("submit") == pytest.approx(10 * 0.98)
    assert explicit.burst("submit") == 5.0


async def test_grants_follow_the_bucket_on_redis_time(redis: Redis, prefix: str) -> None:
    """Grant times (Redis's clock) of three contending budgets fit rate * t + burst exactly."""
    budgets = [RedisBudget(redis, f"{prefix}b", submit_rate=40, submit_burst=4) for _ in range(3)]
    grants: list[float] = []

    async def take(b: RedisBudget) -> None:
        grants.append(await b.take("submit"))

    async with anyio.create_task_group() as tg:
        for n in range(60):
            tg.start_soon(take, budgets[n % 3])
    grants.sort()
    assert max_in_window(grants, 1.0) <= 44
    assert grants[-1] - grants[0] >= (60 - 4) / 40 - 0.01


async def test_a_429_closes_the_gate_for_every_process(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """A Retry-After seen by one process makes every other one wait that long."""
    other = connect(redis_url)
    try:
        a = RedisBudget(redis, f"{prefix}b", submit_rate=100)
        b = RedisBudget(other, f"{prefix}b", submit_rate=100)
        await a.on_rate_limited(RateLimited("slow down", retry_after=0.5))
        start = time.monotonic()
        await b.before_poll()
        assert 0.4 <= time.monotonic() - start < 2.0
        await b.before_submit()  # open again
    finally:
        await other.aclose()


async def test_a_429_without_a_wait_halves_the_rate_for_everyone(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """AIMD is shared: one process's 429 slows all; successes raise the shared rate again."""
    other = connect(redis_url)
    try:
        a = RedisBudget(redis, f"{prefix}b", submit_rate=40)
        b = RedisBudget(other, f"{prefix}b", submit_rate=40)
        await a.on_rate_limited(RateLimited("slow down"))
        await a.on_rate_limited(RateLimited("slow down"))  # within the hold: counted once
        await b.before_submit()
        assert b.rate("submit") == 20
        await b.on_success()
        await a.before_submit()
        assert a.rate("submit") == 22
        await a.on_rate_limited(RateLimited("quota", retryable=False))  # waiting would not help
        assert a.rate("submit") == 22
    finally:
        await other.aclose()


async def test_running_slots_are_shared(redis: Redis, redis_url: str, prefix: str) -> None:
    """A cap of two holds across budgets; a released slot is free for anyone."""
    other = connect(redis_url)
    try:
        a, b, c = (RedisBudget(conn, f"{prefix}b", max_running=2) for conn in (redis, other, redis))
        assert await a.try_acquire_running_slot()
        assert await b.try_acquire_running_slot()
        assert not await c.try_acquire_running_slot()
        await a.release_running_slot()
        assert await c.try_acquire_running_slot()
        with pytest.raises(RuntimeError):
            await a.release_running_slot()
        await b.aclose()
        assert await a.try_acquire_running_slot()
    finally:
        await other.aclose()


async def test_a_dead_holders_slot_comes_back_after_its_lease(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """Slots of a holder that stopped renewing return when the lease runs out; renewed ones stay."""
    other = connect(redis_url)
    try:
        dead = RedisBudget(other, f"{prefix}b", max_running=1, slot_lease=0.3)
        live = RedisBudget(redis, f"{prefix}b", max_running=1)
        assert await dead.try_acquire_running_slot()
        assert not await live.try_acquire_running_slot()
        start = time.monotonic()
        with anyio.fail_after(3):
            await live.acquire_running_slot()
        assert time.monotonic() - start >= 0.2

        keeper = RedisBudget(redis, f"{prefix}k", max_running=1, slot_lease=0.3)
        rival = RedisBudget(other, f"{prefix}k", max_running=1)
        assert await keeper.try_acquire_running_slot()
        for _ in range(5):  # renewing every 0.1 s keeps a 0.3 s lease for 0.5 s and more
            await anyio.sleep(0.1)
            await keeper.renew()
            assert not await rival.try_acquire_running_slot()
    finally:
        await other.aclose()


async def test_submits_pause_while_redis_is_away_and_resume(private_redis: RedisServer) -> None:
    """With Redis down a submit waits (slots are refused, not raised); it goes once Redis is back."""
    conn = connect(private_redis.url)
    try:
        budget = RedisBudget(conn, "p:b", submit_rate=100)
        await budget.before_submit()
        private_redis.stop()
        assert not await budget.try_acquire_running_slot()
        done = anyio.Event()

        async def submit() -> None:
            await budget.before_submit()
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(submit)
            with anyio.move_on_after(0.5):
                await done.wait()
            assert not done.is_set(), "a submit went out while Redis was away"
            await anyio.to_thread.run_sync(private_redis.start)
            with anyio.fail_after(5):
                await done.wait()
        assert budget.link.outages >= 1
        assert budget.link.down_since is None
    finally:
        await conn.aclose()
