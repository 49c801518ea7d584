"""The receiver against the simulator's Ark callbacks, faults included, with the smallest
consumer there is: for each hint, one GET through the Client, reported back with observe().
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator

from seedance_async import Client, TaskHandle, TaskState, VideoTask
from seedance_async.callbacks import CallbackHint, CallbackServer
from seedance_async.config import parse_provider_config
from seedance_async.providers.ark import ArkAdapter
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    Callbacks,
    DurationModel,
    Limits,
    ManualClock,
    Simulator,
)

PRO = "doubao-seedance-1-0-pro-250528"
QUEUE_S, RUN_S = 10.0, 60.0
TASKS = 4


class Run:
    """Simulator, client and callback server on one manual clock."""

    def __init__(
        self, sim: Simulator, clock: ManualClock, client: Client, server: CallbackServer
    ) -> None:
        self.sim, self.clock, self.client, self.server = sim, clock, client, server
        self.receiver = server.receiver
        self.handles: dict[str, TaskHandle] = {}
        self.hints: list[CallbackHint] = []
        self.truth: dict[str, TaskState] = {}

    async def submit(self, n: int) -> None:
        key = f"k{n}"
        token = self.receiver.register(key, provider="ark", adapter=ArkAdapter())
        task = VideoTask(model=PRO, prompt=f"task {n}", callback_url=self.receiver.url_for(token))
        handle = await self.client.submit(task, provider="ark")
        self.receiver.bind(key, handle.task_id)
        self.handles[key] = handle

    async def confirm(self) -> list[bool]:
        """Deliver what is due, then GET each hinted task once and report what it showed."""
        await self.sim.flush_callbacks()
        hints = self.receiver.drain()
        self.hints += hints
        rechecks = []
        for key in dict.fromkeys(h.key for h in hints):  # several hints, one GET
            status = await self.client.status(self.handles[key])
            self.truth[key] = status.state
            rechecks.append(self.receiver.observe(key, status.state))
        return rechecks

    async def lifetime(self) -> None:
        """Submit, then walk the clock through queued, running and done."""
        for n in range(TASKS):
            await self.submit(n)
        for step in (0.0, QUEUE_S, RUN_S):
            self.clock.advance(step)
            await self.confirm()

    def gets(self) -> int:
        return sum(1 for r in self.sim.requests("ark") if r.op == "get")


@contextlib.asynccontextmanager
async def started(callbacks: Callbacks) -> AsyncIterator[Run]:
    """A simulator whose Ark posts ``callbacks``, a client, and a server on loopback."""
    clock = ManualClock()
    async with (
        Simulator(
            ("ark",),
            clock=clock,
            time_scale=1.0,
            durations=DurationModel.fixed(QUEUE_S, RUN_S),
            limits=Limits.unlimited(),
            callbacks=callbacks,
        ) as sim,
        Client(
            parse_provider_config(sim.provider_config()).values(), env={KEY_ENV: DEFAULT_KEY}
        ) as client,
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        yield Run(sim, clock, client, server)


async def test_each_task_is_confirmed_once_with_one_get() -> None:
    """queued and running cost nothing; succeeded asks for one GET, which confirms it."""
    async with started(Callbacks()) as run:
        await run.lifetime()
        assert [h.claimed for h in run.hints] == [TaskState.SUCCEEDED] * TASKS
        assert run.truth == {f"k{n}": TaskState.SUCCEEDED for n in range(TASKS)}
        assert run.gets() == TASKS
        stats = run.receiver.stats
        assert (stats.received, stats.hints, stats.confirmed) == (3 * TASKS, TASKS, TASKS)
        assert (stats.stale, stats.noted, sum(stats.rejected.values())) == (TASKS, TASKS, 0)


async def test_dropped_notices_give_no_hint() -> None:
    """Nothing arrives: nothing is claimed (finding these is the backstop poll's job)."""
    async with started(Callbacks(drop=1.0)) as run:
        await run.lifetime()
        assert run.hints == []
        assert run.receiver.stats.received == 0


async def test_duplicates_ask_once() -> None:
    async with started(Callbacks(duplicate=1.0)) as run:
        await run.lifetime()
        assert Counter(h.key for h in run.hints) == {f"k{n}": 1 for n in range(TASKS)}
        stats = run.receiver.stats
        assert (stats.received, stats.hints, stats.confirmed) == (6 * TASKS, TASKS, TASKS)
        assert (stats.stale, stats.noted, stats.duplicates) == (2 * TASKS, TASKS, 2 * TASKS)
        assert run.gets() == TASKS


async def test_reordered_notices_ask_once() -> None:
    """succeeded arrives first, then the held-back queued and running: one GET per task."""
    async with started(Callbacks(reorder=1.0)) as run:
        await run.lifetime()
        assert [h.claimed for h in run.hints] == [TaskState.SUCCEEDED] * TASKS
        assert run.truth == {f"k{n}": TaskState.SUCCEEDED for n in range(TASKS)}
        stats = run.receiver.stats
        assert (stats.hints, stats.stale, stats.noted) == (TASKS, TASKS, TASKS)
        assert run.gets() == TASKS


async def test_forged_bodies_are_disbelieved_by_the_confirming_get() -> None:
    """Next to the real queued notice: a success for an id never created, and a success for
    the real task with its video on a foreign host. Neither claim survives the GET, the
    hints carry no URL, and the real success later is still confirmed."""
    forged = Callbacks(forge_task=1.0, forge_url=1.0, notify={"queued"})
    async with started(forged) as run:
        for n in range(TASKS):
            await run.submit(n)
        rechecks = await run.confirm()
        assert [h.claimed for h in run.hints] == [None, TaskState.SUCCEEDED] * TASKS
        assert rechecks == [True] * TASKS  # a false success: worth one more look later
        assert run.gets() == TASKS
        assert set(run.truth.values()) == {TaskState.QUEUED}
        stats = run.receiver.stats
        assert stats.rejected == {
            "task_id_mismatch": TASKS,
            "contradicted": TASKS,
        }
        assert stats.confirmed == 0
        assert run.sim.cdn_requests() == []  # nothing was downloaded
        run.sim.set_callbacks("ark", Callbacks(notify={"succeeded"}))
        run.clock.advance(QUEUE_S + RUN_S)
        await run.confirm()
        assert set(run.truth.values()) == {TaskState.SUCCEEDED}
        assert stats.confirmed == TASKS
