"""Issue #14: a paused worker never bills twice, and reconciliation never adopts another
line's task.

The "paused" worker is a bare :class:`RedisJournal` and :class:`Client` in the test's own
process whose lease runs out while one of its submits is held at a chosen point (an event
in a budget or transport wrapper: deterministic, no sleeps). The worker that takes its
keys over is a real :class:`RedisWorker`; the provider is the simulator.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Literal

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from seedance_async import Client, LeaseLost, VideoTask
from seedance_async.client._client import BudgetFactory, TransportFactory, _default_transport
from seedance_async.config import Timeouts
from seedance_async.config._provider import ProviderConfig as _Config
from seedance_async.core._clock import Clock
from seedance_async.core._errors import RateLimited
from seedance_async.core._secrets import ApiKey
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.distributed._batch import enqueue_batch, redis_results
from seedance_async.distributed._budget import redis_budget_factory
from seedance_async.distributed._journal import RedisJournal
from seedance_async.distributed._worker import RedisWorker
from seedance_async.limits._key_limits import BudgetLike
from seedance_async.limits._primitives import RequestKind
from seedance_async.providers import ProviderAdapter
from seedance_async.simulator import Limits, ManualClock, Simulator
from seedance_async.spec import task_hash
from seedance_async.spec._handle import TaskHandle
from seedance_async.transport._aiohttp import Transport
from tests.distributed._procs import field
from tests.distributed.test_worker import ENV, MODEL, ark, billed_prompts, settings

MODEL_15 = "doubao-seedance-1-5-pro-251215"


class PausingBudget:
    """A budget that holds the first submit ``before`` or ``after`` its token is granted."""

    def __init__(self, inner: BudgetLike, where: Literal["before", "after"]) -> None:
        self.inner = inner
        self.where = where
        self.paused = anyio.Event()
        self.resume = anyio.Event()

    async def _pause(self) -> None:
        if not self.paused.is_set():
            self.paused.set()
            await self.resume.wait()

    async def before_submit(self) -> None:
        if self.where == "before":
            await self._pause()
        await self.inner.before_submit()
        if self.where == "after":
            await self._pause()

    async def before_poll(self) -> None:
        await self.inner.before_poll()

    async def acquire_running_slot(self) -> None:
        await self.inner.acquire_running_slot()

    async def try_acquire_running_slot(self) -> bool:
        return await self.inner.try_acquire_running_slot()

    async def release_running_slot(self) -> None:
        await self.inner.release_running_slot()

    async def keep_running_slot(self, until: float) -> None:
        await self.inner.keep_running_slot(until)

    async def on_rate_limited(self, error: RateLimited, *, kind: RequestKind = "submit") -> None:
        await self.inner.on_rate_limited(error, kind=kind)

    async def on_success(self, *, kind: RequestKind = "submit") -> None:
        await self.inner.on_success(kind=kind)


def pausing_factory(
    redis: Redis, prefix: str, budgets: list[PausingBudget], where: str
) -> BudgetFactory:
    inner = redis_budget_factory(redis, prefix=f"{prefix}budget:")

    def factory(config: _Config, scope: str, clock: Clock) -> BudgetLike:
        budget = PausingBudget(
            inner(config, scope, clock), "before" if where == "before" else "after"
        )
        budgets.append(budget)
        return budget

    return factory


class HeldTransport:
    """The real transport, except that the first create waits for ``release`` on the way."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.in_flight = anyio.Event()
        self.release = anyio.Event()

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        if request.method == "POST" and not self.in_flight.is_set():
            self.in_flight.set()
            await self.release.wait()
        return await self.inner.send(request, timeouts=timeouts)

    async def aclose(self) -> None:
        await self.inner.aclose()


def held_transports(
    held: list[HeldTransport], built: anyio.Event | None = None
) -> TransportFactory:
    def factory(config: _Config, adapter: ProviderAdapter, key: ApiKey) -> Transport:
        transport = HeldTransport(_default_transport(config, adapter, key))
        held.append(transport)
        if built is not None:
            built.set()
        return transport

    return factory


async def paused_owner(
    redis: Redis, prefix: str, worker: str = "paused", lease: float = 0.3
) -> RedisJournal:
    """A worker that heartbeats once, claims what is queued, and is never heard of again."""
    journal = RedisJournal(redis, "b1", worker=worker, prefix=prefix, lease=lease)
    await journal.heartbeat()
    assert await journal.claim(10)
    return journal


@pytest.mark.parametrize("where", ["before", "after"])
async def test_a_worker_paused_around_its_submit_token_never_sends_after_a_takeover(
    redis: Redis, redis_url: str, prefix: str, where: str
) -> None:
    """A worker paused right before (or right after) its submit token is granted, whose
    lease runs out and whose task another worker takes over and sends, sends nothing when
    it resumes: the token grant is fenced on ownership and lease, and the lease is checked
    again right before the send. Billed once."""
    task = VideoTask(model=MODEL, prompt=f"paused {where} the token")
    await enqueue_batch(redis, "b1", [("k0", task, 1)], prefix=prefix)
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001) as sim:
        config = ark(sim)
        paused = await paused_owner(redis, prefix)
        budgets: list[PausingBudget] = []
        factory = pausing_factory(redis, prefix, budgets, where)
        outcome: list[object] = []
        lines: list[str] = []
        async with Client([config], env=ENV, budget_factory=factory) as client:
            provider = client.provider("ark")

            async def submit() -> None:
                await paused.record_intent("k0", task, "ark", 0, time.time())
                try:
                    handle, _ = await provider.submit(task, spec_hash=task_hash(task), key="k0")
                    outcome.append(handle.task_id)
                except LeaseLost as exc:
                    outcome.append(exc)

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(submit)
                    await budgets[0].paused.wait()
                    taker = RedisWorker(
                        settings(redis_url, prefix, config), env=ENV, output=lines.append
                    )
                    report = await taker.run()  # takes k0 over and finishes it
                    budgets[0].resume.set()
        assert report.reason == "done", lines
        assert report.taken_over == 1
        assert billed_prompts(sim) == Counter({task.prompt: 1})
        assert len(outcome) == 1
        assert isinstance(outcome[0], LeaseLost), outcome
    (result,) = await redis_results(redis_url, "b1", prefix=prefix)
    assert result["outcome"] == "succeeded"


async def test_a_taker_waits_out_a_send_already_on_its_way_and_adopts_it(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """The old owner's request left while its lease ran, but reaches the provider only
    after its task was taken over: the taker, finding nothing listed, waits out the old
    owner's last possible send before resending, finds the task then and adopts it."""
    task = VideoTask(model=MODEL, prompt="on its way")
    await enqueue_batch(redis, "b1", [("k0", task, 1)], prefix=prefix)
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001) as sim:
        config = ark(sim)
        paused = await paused_owner(redis, prefix)
        held: list[HeldTransport] = []
        factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
        created: list[str] = []
        late_write: list[BaseException] = []

        async with Client(
            [config], env=ENV, budget_factory=factory, transport_factory=held_transports(held)
        ) as client:
            provider = client.provider("ark")

            async def submit() -> None:
                await paused.record_intent("k0", task, "ark", 0, time.time())
                handle, _ = await provider.submit(task, spec_hash=task_hash(task), key="k0")
                created.append(handle.task_id)
                try:
                    await paused.record_submitted("k0", handle)
                except LeaseLost as exc:
                    late_write.append(exc)

            lines: list[str] = []

            def watch(line: str) -> None:  # the taker waits: let the old request arrive
                lines.append(line)
                if line.startswith("settle-wait "):
                    held[0].release.set()

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(submit)
                    await held[0].in_flight.wait()
                    taker = RedisWorker(settings(redis_url, prefix, config), env=ENV, output=watch)
                    report = await taker.run()
        assert report.reason == "done", lines
        assert report.paths == {"reconciled": 1}, report.paths
        assert billed_prompts(sim) == Counter({task.prompt: 1})
        assert len(late_write) == 1  # the old owner's late answer is not written over
    (result,) = await redis_results(redis_url, "b1", prefix=prefix)
    assert result["outcome"] == "succeeded"
    assert [result["task_id"]] == created


async def test_reconciliation_never_adopts_a_task_another_line_created(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """Line k1's submit was answered but not journaled yet when a worker reconciles line k2
    (an intent whose request never arrived). Ark lists the queued task of k1 with only its
    model, tier and expiry, so it is k2's single candidate: the worker must not adopt it;
    identity is not provable, and k2 ends ``unknown``."""
    expiry = 3600  # set by the caller: no correlation nonce tells the two apart
    mine = VideoTask(model=MODEL, prompt="line one", execution_expires_after=expiry)
    theirs = VideoTask(model=MODEL, prompt="line two", execution_expires_after=expiry)
    await enqueue_batch(redis, "b1", [("k1", mine, 1), ("k2", theirs, 2)], prefix=prefix)
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001) as sim:
        config = attrs.evolve(ark(sim), resubmit_when_not_listed=True)
        other = RedisJournal(redis, "b1", worker="other", prefix=prefix, lease=60.0)
        await other.heartbeat()
        assert [r.key for r in await other.claim(1)] == ["k1"]
        dead = RedisJournal(redis, "b1", worker="dead", prefix=prefix, lease=0.3)
        await dead.heartbeat()
        assert [r.key for r in await dead.claim(1)] == ["k2"]
        factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
        async with Client([config], env=ENV, budget_factory=factory) as client:
            provider = client.provider("ark")

            async def dead_takes_a_token() -> None:  # k2: token granted, never sent
                await dead.record_intent("k2", theirs, "ark", 0, time.time())
                await provider.budget.before_submit()

            async def other_sends() -> None:  # k1: created and answered, not journaled yet
                await other.record_intent("k1", mine, "ark", 0, time.time())
                handle, _ = await provider.submit(mine, spec_hash=task_hash(mine), key="k1")
                answered.append(handle)

            answered: list[TaskHandle] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(dead_takes_a_token)
            async with anyio.create_task_group() as tg:
                tg.start_soon(other_sends)
            (k1_handle,) = answered

        stop = anyio.Event()
        lines: list[str] = []

        def watch(line: str) -> None:
            lines.append(line)
            if field(line, "finished") >= 1:
                stop.set()

        worker = RedisWorker(
            attrs.evolve(settings(redis_url, prefix, config), progress_interval=0.05),
            env=ENV,
            output=watch,
        )
        with anyio.fail_after(30):
            report = await worker.run(stop)
        assert report.taken_over == 1, lines
        assert billed_prompts(sim) == Counter({"line one": 1})
    k2 = (await other.records(["k2"]))[0]
    assert k2.state == "final"
    assert k2.handle is None  # k1's task was not adopted
    result = k2.result
    assert result is not None
    assert result.outcome == "unknown", result
    assert "another worker" in str(result.reason), result
    assert k1_handle.task_id in str(result.reason)  # named as the candidate
    await other.record_submitted("k1", k1_handle)  # the answer is k1's, as it always was


async def test_a_finished_task_echoing_effective_values_is_adopted_not_resent(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """A submit asked for ``ratio=adaptive`` and ``duration=-1``; by the time its task is
    reconciled it has finished and echoes ``16:9`` and a number of seconds. It is
    recognised and adopted, not sent again."""
    task = VideoTask(model=MODEL_15, prompt="let the model choose", ratio="adaptive", duration=-1)
    await enqueue_batch(redis, "b1", [("k0", task, 1)], prefix=prefix)
    clock = ManualClock(time.time())
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001, clock=clock) as sim:
        config = ark(sim)
        dead = await paused_owner(redis, prefix, worker="dead")
        factory = redis_budget_factory(redis, prefix=f"{prefix}budget:")
        ids: list[str] = []
        async with Client([config], env=ENV, budget_factory=factory) as client:
            provider = client.provider("ark")

            async def send() -> None:  # sent and answered, never journaled
                await dead.record_intent("k0", task, "ark", 0, time.time())
                handle, _ = await provider.submit(task, spec_hash=task_hash(task), key="k0")
                ids.append(handle.task_id)

            async with anyio.create_task_group() as tg:
                tg.start_soon(send)
        clock.advance(3600)  # the task has finished: it echoes its effective values
        (listed,) = sim.ledger("ark")
        lines: list[str] = []
        worker = RedisWorker(settings(redis_url, prefix, config), env=ENV, output=lines.append)
        with anyio.fail_after(30):
            report = await worker.run()
        assert report.reason == "done", lines
        assert report.paths == {"reconciled": 1}, report.paths
        assert billed_prompts(sim) == Counter({task.prompt: 1})
        assert listed.task_id == ids[0]
    (result,) = await redis_results(redis_url, "b1", prefix=prefix)
    assert result["task_id"] == ids[0]
    assert result["outcome"] == "succeeded"


@pytest.mark.parametrize("noticed_by", ["heartbeat", "write"])
async def test_the_lease_lost_line_names_the_cause(
    redis: Redis, redis_url: str, prefix: str, noticed_by: str
) -> None:
    """A worker whose task was taken while its submit was on the wire stops with
    ``lease lost`` and logs why (whether its heartbeat or its next write noticed), not
    "unhandled errors in a TaskGroup (1 sub-exception)"."""
    task = VideoTask(model=MODEL, prompt="taken while on the wire")
    await enqueue_batch(redis, "b1", [("k0", task, 1)], prefix=prefix)
    async with Simulator(("ark",), limits=Limits.unlimited(), time_scale=0.001) as sim:
        config = ark(sim)
        held: list[HeldTransport] = []
        built = anyio.Event()
        lines: list[str] = []
        worker = RedisWorker(
            settings(redis_url, prefix, config, worker_id="victim", lease=30.0),
            env=ENV,
            output=lines.append,
            transport_factory=held_transports(held, built),
        )

        async def steal() -> None:
            await built.wait()
            await held[0].in_flight.wait()
            await redis.hset(f"{prefix}{{b1}}:owner", "k0", "thief")
            if noticed_by == "heartbeat":  # the lease ran out and k0 was taken meanwhile
                await redis.delete(f"{prefix}{{b1}}:alive:victim")
            else:  # the answer arrives and its write is refused
                held[0].release.set()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(steal)
                report = await worker.run()
    assert report.reason == "lease lost"
    (line,) = [x for x in lines if x.startswith("lease-lost ")]
    assert "TaskGroup" not in line, line
    expected = "keys taken over" if noticed_by == "heartbeat" else "belongs to another worker"
    assert expected in line, line
