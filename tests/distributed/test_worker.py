"""RedisWorker taking over a dead worker's tasks: re-attach, reconcile, never pay twice."""

from __future__ import annotations

import time
from collections import Counter

import anyio
import attrs
from redis.asyncio import Redis

from seedance_async import Client, PollSchedule, ProviderConfig, VideoTask
from seedance_async.config import Timeouts, parse_provider_config
from seedance_async.distributed._batch import enqueue_batch, redis_results, redis_summary
from seedance_async.distributed._budget import redis_budget_factory
from seedance_async.distributed._journal import RedisJournal
from seedance_async.distributed._worker import RedisWorker, WorkerSettings
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, Limits, Simulator
from seedance_async.spec import task_hash
from seedance_async.telemetry import PrometheusMetrics
from tests.distributed._procs import field

MODEL = "doubao-seedance-1-0-pro-250528"
SCALE = 0.001
ENV = {KEY_ENV: DEFAULT_KEY}


def ark(sim: Simulator) -> ProviderConfig:
    config = parse_provider_config(sim.provider_config())["ark"]
    # A short submit timeout: a taker waits that long past the old lease before it resends
    # an intent whose old owner may still be alive.
    return attrs.evolve(
        config,
        submit_rpm=6000.0,
        poll_rps=200.0,
        reconcile_settle=0.1,
        timeouts=Timeouts(connect=1.0, read=2.0, total=2.0),
    )


def settings(
    url: str,
    prefix: str,
    config: ProviderConfig,
    *,
    worker_id: str = "survivor",
    lease: float = 0.5,
) -> WorkerSettings:
    return WorkerSettings(
        url=url,
        batch="b1",
        providers=(config,),
        lease=lease,
        heartbeat=0.1,
        schedule=PollSchedule().scaled(SCALE),
        progress_interval=60.0,
        prefix=prefix,
        worker_id=worker_id,
    )


def billed_prompts(sim: Simulator) -> Counter[str]:
    return Counter(e.body["content"][0]["text"] for e in sim.ledger("ark"))


async def test_a_dead_workers_tasks_are_followed_without_paying_twice(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """Taken over: a remote id is re-attached; a submit sent but not answered is found by
    listing and adopted; an intent whose token was never granted is sent (once); a claimed
    key never started is sent. Every prompt is billed exactly once."""
    specs = [VideoTask(model=MODEL, prompt=f"takeover {n}") for n in range(5)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        config = ark(sim)
        dead = RedisJournal(redis, "b1", worker="dead", prefix=prefix, lease=0.3)
        await dead.heartbeat()
        assert len(await dead.claim(5)) == 5
        factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
        ids: dict[str, str] = {}
        async with Client([config], env=ENV, budget_factory=factory) as client:
            provider = client.provider("ark")

            async def send(key: str, task: VideoTask, *, answered: bool) -> None:
                await dead.record_intent(key, task, "ark", 0, time.time())
                handle, _ = await provider.submit(task, spec_hash=task_hash(task), key=key)
                ids[key] = handle.task_id
                if answered:
                    await dead.record_submitted(key, handle)

            async def intent_only(key: str, task: VideoTask) -> None:
                await dead.record_intent(key, task, "ark", 0, time.time())

            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: send("k0", specs[0], answered=True))
                tg.start_soon(lambda: send("k1", specs[1], answered=False))
                tg.start_soon(intent_only, "k2", specs[2])
                tg.start_soon(intent_only, "k3", specs[3])  # k4: claimed, never started
        assert billed_prompts(sim) == Counter({"takeover 0": 1, "takeover 1": 1})

        lines: list[str] = []
        worker = RedisWorker(settings(redis_url, prefix, config), env=ENV, output=lines.append)
        with anyio.fail_after(30):
            report = await worker.run()
        assert report.reason == "done", lines
        assert report.taken_over == 5
        assert billed_prompts(sim) == Counter({t.prompt: 1 for t in specs})
    results = {r["key"]: r for r in await redis_results(redis_url, "b1", prefix=prefix)}
    assert {k: r["outcome"] for k, r in results.items()} == {f"k{n}": "succeeded" for n in range(5)}
    assert results["k0"]["task_id"] == ids["k0"]  # re-attached by its remote id
    assert results["k1"]["task_id"] == ids["k1"]  # found by listing and adopted
    summary = await redis_summary(redis_url, "b1", prefix=prefix)
    assert summary["complete"]
    assert summary["final"] == 5


async def test_a_submit_stamped_but_never_delivered_is_sent_after_listing(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """An intent whose token was granted (``sent_at``) but whose request never reached the
    provider is listed for, not found, and sent again: billed once."""
    task = VideoTask(model=MODEL, prompt="stamped, lost")
    await enqueue_batch(redis, "b1", [("k0", task, 1)], prefix=prefix)
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        config = ark(sim)
        dead = RedisJournal(redis, "b1", worker="dead", prefix=prefix, lease=0.3)
        await dead.heartbeat()
        await dead.claim(1)
        factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
        async with Client([config], env=ENV, budget_factory=factory) as client:
            budget = client.provider("ark").budget

            async def die_after_the_token() -> None:
                await dead.record_intent("k0", task, "ark", 0, time.time())
                await budget.before_submit()  # stamps sent_at; the process dies here

            async with anyio.create_task_group() as tg:
                tg.start_soon(die_after_the_token)
        (record,) = await dead.records(["k0"])
        assert record.sent_at is not None
        worker = RedisWorker(settings(redis_url, prefix, config), env=ENV, output=lambda _: None)
        with anyio.fail_after(30):
            report = await worker.run()
        assert report.reason == "done"
        assert billed_prompts(sim) == Counter({"stamped, lost": 1})
    (result,) = await redis_results(redis_url, "b1", prefix=prefix)
    assert result["outcome"] == "succeeded"


async def test_a_stopped_worker_hands_its_tasks_over_at_once(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """A stop ends the lease immediately: another worker finishes the batch, each billed once."""
    specs = [VideoTask(model=MODEL, prompt=f"handover {n}") for n in range(40)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        config = attrs.evolve(ark(sim), submit_rpm=600.0)  # 10/s: the first stops mid-batch
        stop = anyio.Event()

        def watch(line: str) -> None:  # stop the first worker once it has done some work
            if field(line, "finished") >= 3:
                stop.set()

        first = RedisWorker(
            attrs.evolve(
                settings(redis_url, prefix, config, worker_id="first", lease=30.0),
                progress_interval=0.05,
            ),
            env=ENV,
            output=watch,
        )
        second = RedisWorker(
            settings(redis_url, prefix, config, worker_id="second", lease=30.0),
            env=ENV,
            output=lambda _: None,
        )
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first.run, stop)
            report = await second.run()
        assert first.report.reason == "stopped"
        assert report.reason == "done"
        assert report.taken_over > 0
        assert billed_prompts(sim) == Counter({t.prompt: 1 for t in specs})
    summary = await redis_summary(redis_url, "b1", prefix=prefix)
    assert summary["complete"]
    assert summary["by_outcome"] == {"succeeded": 40}


async def test_workers_sharing_a_small_running_cap_all_finish(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """Two workers share a cap of two running tasks: slots freed by one are taken by the
    other (which never sees the release), and the batch completes."""
    specs = [VideoTask(model=MODEL, prompt=f"capped {n}") for n in range(16)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        config = attrs.evolve(ark(sim), max_running=2)
        workers = [
            RedisWorker(
                attrs.evolve(settings(redis_url, prefix, config, worker_id=f"w{n}"), chunk=4),
                env=ENV,
                output=lambda _: None,
            )
            for n in range(2)
        ]
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for worker in workers:
                    tg.start_soon(worker.run)
        assert [w.report.reason for w in workers] == ["done", "done"]
        assert all(w.report.claimed > 0 for w in workers)
        assert billed_prompts(sim) == Counter({t.prompt: 1 for t in specs})


async def test_a_worker_feeds_its_events_to_a_metrics_callback(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """What `worker --metrics-port` serves: the worker's submits and outcomes, by alias."""
    specs = [VideoTask(model=MODEL, prompt=f"metered {n}") for n in range(3)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    metrics = PrometheusMetrics()
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        worker = RedisWorker(
            settings(redis_url, prefix, ark(sim)), env=ENV, output=lambda _: None, on_event=metrics
        )
        with anyio.fail_after(60):
            await worker.run()
    assert worker.report.reason == "done"
    assert metrics.value("submits", "ark", MODEL) == 3
    assert metrics.value("outcomes", "ark", MODEL, "succeeded") == 3
