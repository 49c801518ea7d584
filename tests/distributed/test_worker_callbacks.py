"""A Redis worker with ``callback_listen``: its tasks carry callback URLs on its server."""

from __future__ import annotations

import socket

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from seedance_async import PollSchedule, VideoTask
from seedance_async.callbacks import CallbackServerError
from seedance_async.distributed._batch import enqueue_batch, redis_results
from seedance_async.distributed._worker import RedisWorker
from seedance_async.simulator import DurationModel, Limits, Simulator
from tests.distributed.test_worker import ENV, MODEL, ark, settings

SCALE = 0.01


async def test_a_worker_receives_the_callbacks_of_its_tasks(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    specs = [VideoTask(model=MODEL, prompt=f"callback worker {n}") for n in range(6)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    async with Simulator(
        ("ark",),
        limits=Limits.unlimited(),
        time_scale=SCALE,
        durations=DurationModel.fixed(5.0, 30.0),
    ) as sim:
        lines: list[str] = []
        s = attrs.evolve(
            settings(redis_url, prefix, ark(sim)),
            schedule=PollSchedule().scaled(SCALE),
            callback_listen="127.0.0.1:0",
            backstop=PollSchedule.backstop(interval=3000.0).scaled(SCALE),
            confirm_window=0.5 * SCALE,
        )
        with anyio.fail_after(60):
            report = await RedisWorker(s, env=ENV, output=lines.append).run()
        assert all(e.body["callback_url"].startswith("http://127.0.0.1:") for e in sim.ledger())
    assert [r["outcome"] for r in await redis_results(redis, "b1", prefix=prefix)] == [
        "succeeded"
    ] * 6
    assert report.callbacks is not None
    assert (report.callbacks.confirmed, report.callbacks.found_by_backstop) == (6, 0)
    assert "callbacks_confirmed=6" in lines[-1]


async def test_a_worker_whose_callback_port_is_taken_claims_nothing(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    await enqueue_batch(
        redis, "b1", [("k0", VideoTask(model=MODEL, prompt="never sent"), 1)], prefix=prefix
    )
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=SCALE) as sim:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            s = attrs.evolve(
                settings(redis_url, prefix, ark(sim)), callback_listen=f"127.0.0.1:{port}"
            )
            with pytest.raises(CallbackServerError, match=f"127.0.0.1:{port}"):
                await RedisWorker(s, env=ENV, output=lambda _: None).run()
        assert sim.ledger() == []
