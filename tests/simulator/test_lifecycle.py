"""Lifecycle, running-task cap, queued cap, in-flight cap, RPM window and credits."""

from __future__ import annotations

import random

import aiohttp
import pytest

from seedance_async.simulator import DurationModel, Limits, ManualClock, Simulator, max_in_window
from seedance_async.simulator._lifecycle import SimTask, TaskStore
from seedance_async.simulator._params import model_info, resolve_params
from tests.simulator._helpers import ARK_TASKS, QUEUE_S, RUN_S, ark_body, call, make_sim


async def create(
    http: aiohttp.ClientSession, sim: Simulator, text: str = "x", **options: object
) -> str:
    status, body, _ = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body(text, **options)
    )
    assert status == 200, body
    task_id: str = body["id"]
    return task_id


async def states(http: aiohttp.ClientSession, sim: Simulator, ids: list[str]) -> list[str]:
    found = []
    for task_id in ids:
        _, task, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{task_id}")
        found.append(task["status"])
    return found


async def test_transitions_follow_the_clock(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """queued until the queue time is over, running for the run time, then succeeded."""
    task_id = await create(http, sim)
    seen = []
    for step in (0, QUEUE_S - 0.001, 0.001, RUN_S - 0.001, 0.001, 1000):
        clock.advance(step)
        seen += await states(http, sim, [task_id])
    assert seen == ["queued", "queued", "running", "running", "succeeded", "succeeded"]


async def test_time_scale_shrinks_durations(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """With time_scale 0.001 a 10 s queue and 60 s run take 10 ms and 60 ms of clock time."""
    async with make_sim(clock, time_scale=0.001) as sim:
        task_id = await create(http, sim)
        clock.advance(0.011)
        assert await states(http, sim, [task_id]) == ["running"]
        clock.advance(0.060)
        assert await states(http, sim, [task_id]) == ["succeeded"]


async def test_expires_while_running(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A task whose run outlasts execution_expires_after ends expired at its deadline."""
    async with make_sim(clock, durations=DurationModel.fixed(0, 5000)) as slow_sim:
        task_id = await create(http, slow_sim, execution_expires_after=3600)
        clock.advance(3599)
        assert await states(http, slow_sim, [task_id]) == ["running"]
        clock.advance(1)
        assert await states(http, slow_sim, [task_id]) == ["expired"]


async def test_running_cap_queues_the_rest(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """With max_running=2, four tasks run two by two, each pair as soon as slots free."""
    async with make_sim(clock, limits=Limits(max_running=2)) as sim:
        ids = [await create(http, sim, f"t{n}") for n in range(4)]
        clock.advance(QUEUE_S)
        assert await states(http, sim, ids) == ["running", "running", "queued", "queued"]
        clock.advance(RUN_S)
        assert await states(http, sim, ids) == ["succeeded", "succeeded", "running", "running"]
        clock.advance(RUN_S)
        assert await states(http, sim, ids) == ["succeeded"] * 4


async def test_running_cap_is_replayed_lazily(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Jumping far ahead without polling gives the same schedule as polling every step."""
    async with make_sim(clock, limits=Limits(max_running=1)) as sim:
        ids = [await create(http, sim, f"t{n}") for n in range(3)]
        clock.advance(QUEUE_S + 3 * RUN_S)
        url = f"{sim.base_url('ark')}{ARK_TASKS}"
        finished = []
        for task_id in ids:
            _, task, _ = await call(http, "GET", f"{url}/{task_id}")
            finished.append(task["updated_at"] - task["created_at"])
        assert finished == [QUEUE_S + RUN_S, QUEUE_S + 2 * RUN_S, QUEUE_S + 3 * RUN_S]


async def test_deadline_passes_while_waiting_for_a_slot(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """A queued task whose deadline passes before a slot frees never runs: it expires."""
    async with make_sim(
        clock, limits=Limits(max_running=1), durations=DurationModel.fixed(0, 4000)
    ) as sim:
        first = await create(http, sim, "a")
        second = await create(http, sim, "b", execution_expires_after=3600)
        clock.advance(3600)
        assert await states(http, sim, [first, second]) == ["running", "expired"]
        clock.advance(400)
        assert await states(http, sim, [first, second]) == ["succeeded", "expired"]


async def test_queued_cap_answers_quota_exceeded(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Beyond max_queued queued tasks, creates get 429 QuotaExceeded and are not billed."""
    async with make_sim(clock, limits=Limits(max_queued=3)) as sim:
        for n in range(3):
            await create(http, sim, f"t{n}")
        url = sim.base_url("ark") + ARK_TASKS
        status, body, _ = await call(http, "POST", url, json=ark_body("t3"))
        assert status == 429
        assert (body["error"]["code"], body["error"]["type"]) == (
            "QuotaExceeded",
            "TooManyRequests",
        )
        assert len(sim.ledger()) == 3
        clock.advance(QUEUE_S)  # all three run now: the queue is empty again
        assert (await call(http, "POST", url, json=ark_body("t3")))[0] == 200
        assert sim.stats("ark")["limit.queue_full"] == 1


async def test_cancel_frees_a_queue_slot(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A cancelled task no longer counts against max_queued."""
    async with make_sim(clock, limits=Limits(max_queued=1)) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        first = await create(http, sim)
        assert (await call(http, "POST", url, json=ark_body("b")))[0] == 429
        await call(http, "DELETE", f"{url}/{first}")
        assert (await call(http, "POST", url, json=ark_body("b")))[0] == 200


async def test_inflight_cap(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Beyond max_inflight queued+running tasks, creates get 429 InflightBatchsizeExceeded."""
    async with make_sim(clock, limits=Limits(max_inflight=2)) as sim:
        await create(http, sim, "a")
        clock.advance(QUEUE_S)
        await create(http, sim, "b")
        url = sim.base_url("ark") + ARK_TASKS
        status, body, _ = await call(http, "POST", url, json=ark_body("c"))
        assert (status, body["error"]["code"]) == (429, "InflightBatchsizeExceeded")
        clock.advance(RUN_S)  # the first finished
        assert (await call(http, "POST", url, json=ark_body("c")))[0] == 200


async def test_rpm_sliding_window(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """rpm creates per 60 s window; the next gets 429 EndpointRPMExceeded until the window slides."""
    async with make_sim(clock, limits=Limits(rpm=5)) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        outcomes = []
        for n in range(8):
            status, body, _ = await call(http, "POST", url, json=ark_body(f"t{n}"))
            outcomes.append(status if status == 200 else body["error"]["code"])
            clock.advance(5)
        assert outcomes == [200] * 5 + ["RateLimitExceeded.EndpointRPMExceeded"] * 3
        clock.advance(20)  # t=60: the first create left the window
        assert (await call(http, "POST", url, json=ark_body("late")))[0] == 200
        polls = await call(http, "GET", url)
        assert polls[0] == 200  # polls do not count by default
        accepted = [r.time for r in sim.requests("ark") if r.op == "create" and r.status == 200]
        assert max_in_window(accepted, 60.0) == 5


async def test_rpm_can_count_polls(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """With count_polls, gets use the same budget as creates."""
    async with make_sim(clock, limits=Limits(rpm=2, count_polls=True)) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        assert (await call(http, "POST", url, json=ark_body()))[0] == 200
        assert (await call(http, "GET", url))[0] == 200
        assert (await call(http, "GET", url))[0] == 429


async def test_credits_run_out(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A key with a credit budget is refused once a create would overspend it."""
    async with make_sim(clock, limits=Limits(credits=500_000)) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        assert (await call(http, "POST", url, json=ark_body("a")))[0] == 200  # 244 800 tokens
        assert (await call(http, "POST", url, json=ark_body("b")))[0] == 200
        status, body, _ = await call(http, "POST", url, json=ark_body("c"))
        assert (status, body["error"]["code"]) == (403, "AccountOverdueError")


async def test_same_seed_same_run(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Task ids, seeds and durations repeat exactly for the same seed and differ for another."""

    async def run(seed: int) -> list[tuple[str, int, int]]:
        local = ManualClock()
        async with make_sim(local, seed=seed, durations=DurationModel()) as sim:
            ids = [await create(http, sim, f"t{n}") for n in range(3)]
            local.advance(1000)
            out = []
            for task_id in ids:
                _, task, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{task_id}")
                out.append((task_id, task["seed"], task["updated_at"]))
            return out

    assert await run(3) == await run(3)
    assert await run(3) != await run(4)


def _task(
    store_seq: int, ready: float, run: float, key: str = "k", expires: float = 1e9
) -> SimTask:
    info = model_info("doubao-seedance-1-0-pro-250528")
    assert info is not None
    params = resolve_params(model="m", info=info, scenario="text", prompt="p", rng=random.Random(0))
    return SimTask(
        task_id=f"t{store_seq}",
        key=key,
        seq=store_seq,
        params=params,
        created=0.0,
        queue_time=ready,
        run_time=run,
        expires_after=expires,
        failure=None,
    )


def test_store_starts_tasks_in_ready_order() -> None:
    """With one slot, the task that became ready first runs first, whatever the creation order."""
    store = TaskStore(max_running=1)
    late, early = _task(1, ready=5, run=10), _task(2, ready=1, run=10)
    store.add(late)
    store.add(early)
    store.advance(100)
    assert (early.start, late.start) == (1, 11)


def test_store_keys_have_separate_slots() -> None:
    """The running cap applies per key."""
    store = TaskStore(max_running=1)
    a, b = _task(1, ready=0, run=10, key="a"), _task(2, ready=0, run=10, key="b")
    store.add(a)
    store.add(b)
    store.advance(1)
    assert (a.state(1), b.state(1)) == ("running", "running")
    assert store.counts("a", 1) == (0, 1)


def test_store_ignores_a_clock_going_back() -> None:
    """Observed transitions are not undone when the clock goes backwards."""
    store = TaskStore()
    task = _task(1, ready=1, run=10)
    store.add(task)
    store.advance(5)
    store.advance(0)
    assert task.start == 1


@pytest.mark.parametrize("bad", [(-1.0, 2.0), (3.0, 2.0)])
def test_duration_model_rejects_bad_ranges(bad: tuple[float, float]) -> None:
    """Ranges must be ordered and non-negative."""
    with pytest.raises(ValueError, match="queue"):
        DurationModel(queue=bad)


@pytest.mark.parametrize("seed", range(5))
def test_store_schedule_is_fifo_capped_and_work_conserving(seed: int) -> None:
    """Random workloads: never more than the cap running, FIFO starts, no idle slot while
    someone waits, and stepping the clock in many small advances equals one big one."""
    rng = random.Random(seed)
    cap = rng.randint(1, 4)
    specs = [(rng.uniform(0, 50), rng.uniform(1, 30)) for _ in range(40)]
    stepped, jumped = TaskStore(max_running=cap), TaskStore(max_running=cap)
    a = [_task(n, ready, run) for n, (ready, run) in enumerate(specs)]
    b = [_task(n, ready, run) for n, (ready, run) in enumerate(specs)]
    for task in a:
        stepped.add(task)
    for task in b:
        jumped.add(task)
    now = 0.0
    while now < 2000:
        now += rng.uniform(0, 7)
        stepped.advance(now)
    jumped.advance(now)
    assert [t.start for t in a] == [t.start for t in b]
    in_fifo_order = sorted(a, key=lambda t: (t.ready, t.seq))
    previous = float("-inf")
    for task in in_fifo_order:
        assert task.start is not None
        assert task.start >= max(task.ready, previous)
        if task.start > task.ready and task.start > previous:
            # It waited, and not behind its FIFO predecessor: every slot was busy.
            probe = task.start - 1e-6
            busy = sum(
                1
                for t in a
                if t.start is not None and t.end is not None and t.start <= probe < t.end
            )
            assert busy == cap
        previous = task.start
    for probe in (x / 2 for x in range(4000)):
        running = sum(
            1 for t in a if t.start is not None and t.end is not None and t.start <= probe < t.end
        )
        assert running <= cap
