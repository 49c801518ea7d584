"""Callbacks across workers: any worker may receive one; the worker that follows the task
acts on it, also when it took the task over from a dead worker after the callback came."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import aiohttp
import anyio
import attrs
import pytest
from redis.asyncio import Redis

from seedance_async import Client, PollSchedule, TaskState, VideoTask
from seedance_async.callbacks import CallbackServer, CallbackStats
from seedance_async.distributed._batch import enqueue_batch, redis_results
from seedance_async.distributed._budget import redis_budget_factory
from seedance_async.distributed._callbacks import (
    CallbackTokens,
    RedisCallbackRelay,
    serve_front,
)
from seedance_async.distributed._journal import RedisJournal
from seedance_async.distributed._keys import BatchKeys
from seedance_async.distributed._worker import RedisWorker
from seedance_async.providers.ark import ArkAdapter
from seedance_async.simulator import DurationModel, Limits, Simulator
from seedance_async.spec import task_hash
from tests.callbacks._helpers import JSON, ark_body, encode
from tests.distributed.test_worker import ENV, MODEL, ark, settings

SCALE = 0.01


async def test_a_callback_received_by_another_worker_reaches_the_owner(
    redis: Redis, prefix: str
) -> None:
    """Worker B does not hold the token: it asks Redis, relays the body, answers 200; the
    owner's receiver turns it into a hint. A token nobody holds is still a 404 at B."""
    keys = BatchKeys.of("b1", prefix)
    owner_relay, other_relay = RedisCallbackRelay(redis, keys), RedisCallbackRelay(redis, keys)
    async with (
        CallbackServer(listen="127.0.0.1:0") as owner,
        CallbackServer(listen="127.0.0.1:0") as other,
        aiohttp.ClientSession() as http,
        anyio.create_task_group() as tg,
    ):
        owner.receiver.relay, other.receiver.relay = owner_relay, other_relay
        token = owner.receiver.register(
            "k1", provider="ark", adapter=ArkAdapter(), remote_id="cgt-1"
        )
        await CallbackTokens(redis, keys).record("k1", token.reveal())
        tg.start_soon(owner_relay.run, owner.receiver)
        at_other = f"{other.public_url}/{token.reveal()}"
        async with http.post(at_other, data=encode(ark_body()), headers=JSON) as response:
            assert response.status == 200
        async with http.post(
            f"{other.public_url}/{'B' * 43}", data=encode(ark_body()), headers=JSON
        ) as response:
            assert response.status == 404
        with anyio.fail_after(10):
            hint = await owner.receiver.next_hint()
        assert (hint.key, hint.claimed) == ("k1", TaskState.SUCCEEDED)
        assert (other.stats.relayed_out, owner.stats.relayed_in) == (1, 1)
        assert other.stats.rejected == {"unknown_token": 1}
        tg.cancel_scope.cancel()


async def test_callbacks_that_came_while_the_owner_was_dead_reach_the_taker(
    redis: Redis, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner dies after sending its tasks with callback URLs that lead to worker B
    (one public URL for every host). Their ends are posted to B before it may take them
    over: B relays them, nobody holds the tokens yet. When B takes the tasks over it
    registers their tokens from Redis and replays the relay: every task is confirmed by its
    callback (none waits for the far backstop poll), billed once."""
    count = 4
    specs = [VideoTask(model=MODEL, prompt=f"relay {n}") for n in range(count)]
    await enqueue_batch(
        redis, "b1", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
    )
    relaying = anyio.Event()
    original_run = RedisCallbackRelay.run

    async def run(self: RedisCallbackRelay, receiver: object, **kw: float) -> None:
        relaying.set()
        await original_run(self, receiver, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(RedisCallbackRelay, "run", run)
    async with Simulator(
        ("ark",),
        limits=Limits.unlimited(),
        time_scale=SCALE,
        durations=DurationModel.fixed(5.0, 30.0),
    ) as sim:
        config = ark(sim)
        dead = RedisJournal(redis, "b1", worker="dead", prefix=prefix, lease=3.0)
        await dead.heartbeat()
        assert len(await dead.claim(count)) == count
        lines: list[str] = []
        survivor = RedisWorker(
            attrs.evolve(
                settings(redis_url, prefix, config),
                schedule=PollSchedule().scaled(SCALE),
                callback_listen="127.0.0.1:0",
                backstop=PollSchedule.backstop(interval=3000.0).scaled(SCALE),
                confirm_window=0.5 * SCALE,
            ),
            env=ENV,
            output=lines.append,
        )
        async with anyio.create_task_group() as tg:

            async def survive() -> None:
                with anyio.fail_after(40):
                    survivor.report = await survivor.run()

            tg.start_soon(survive)
            with anyio.fail_after(20):
                await relaying.wait()
            server = survivor.tracker.callback_server
            assert server is not None
            port = server.port
            factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
            async with Client([config], env=ENV, budget_factory=factory) as client:
                provider = client.provider("ark")
                for n, task in enumerate(specs):
                    key = f"k{n}"
                    token = "t" * 30 + f"{n:013d}"
                    await dead.record_intent(key, task, "ark", 0, time.time())
                    await dead.record_callback_token(key, token)
                    sent = attrs.evolve(task, callback_url=f"http://127.0.0.1:{port}/{token}")
                    handle, _ = await provider.submit(sent, spec_hash=task_hash(task), key=key)
                    await dead.record_submitted(key, handle)
            # The owner dies here: no heartbeat, no release.
        report = survivor.report
        assert report.reason == "done", lines
        assert report.taken_over == count
        assert Counter(e.body["content"][0]["text"] for e in sim.ledger()) == Counter(
            {t.prompt: 1 for t in specs}
        )
    results = await redis_results(redis_url, "b1", prefix=prefix)
    assert [r["outcome"] for r in results] == ["succeeded"] * count
    stats = report.callbacks
    assert stats is not None
    assert (stats.tasks, stats.confirmed, stats.found_by_backstop) == (count, count, 0)


async def test_a_front_receiver_relays_to_the_worker_that_holds_the_token(
    redis: Redis, prefix: str
) -> None:
    """``seedance-async callbacks``: a receiver that follows no task passes each callback
    for a held token on, answers 404 to any other, and stops when asked."""
    keys = BatchKeys.of("b1", prefix)
    relay = RedisCallbackRelay(redis, keys)
    stop, up, ended = anyio.Event(), anyio.Event(), anyio.Event()
    fronts: list[CallbackServer] = []

    def ready(server: CallbackServer) -> None:
        fronts.append(server)
        up.set()

    async with (
        CallbackServer(listen="127.0.0.1:0") as owner,
        aiohttp.ClientSession() as http,
        anyio.create_task_group() as tg,
    ):
        owner.receiver.relay = relay
        token = owner.receiver.register(
            "k1", provider="ark", adapter=ArkAdapter(), remote_id="cgt-1"
        )
        await CallbackTokens(redis, keys).record("k1", token.reveal())
        tg.start_soon(relay.run, owner.receiver)
        stats: list[object] = []

        async def front() -> None:
            stats.append(
                await serve_front(
                    redis, keys, listen="127.0.0.1:0", public_url=None, stop=stop, ready=ready
                )
            )
            ended.set()

        tg.start_soon(front)
        with anyio.fail_after(10):
            await up.wait()
        base = fronts[0].public_url
        async with http.post(
            f"{base}/{token.reveal()}", data=encode(ark_body()), headers=JSON
        ) as r:
            assert r.status == 200
        async with http.post(f"{base}/{'C' * 43}", data=encode(ark_body()), headers=JSON) as r:
            assert r.status == 404
        with anyio.fail_after(10):
            hint = await owner.receiver.next_hint()
        assert (hint.key, hint.claimed) == ("k1", TaskState.SUCCEEDED)
        stop.set()
        with anyio.fail_after(10):
            await ended.wait()
        tg.cancel_scope.cancel()
    (front_stats,) = stats
    assert isinstance(front_stats, CallbackStats)
    assert (front_stats.relayed_out, dict(front_stats.rejected)) == (1, {"unknown_token": 1})


def test_the_callbacks_command_checks_its_options() -> None:
    """Every interface needs the public URL; a malformed address is refused; exit 2."""
    for argv, message in (
        (["--listen", "0.0.0.0:8080", "--batch", "b1"], "give --url"),
        (["--listen", "nowhere", "--batch", "b1"], "HOST:PORT"),
    ):
        done = subprocess.run(  # noqa: S603 (our own CLI)
            [sys.executable, "-m", "seedance_async", "callbacks", *argv, "--redis", "redis://x"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
