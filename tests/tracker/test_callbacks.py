"""The tracker with callbacks on, against the simulator's Ark (time-scaled, real servers).

A callback is a hint that makes the tracker GET the task at once; the backstop polls find
the tasks whose callbacks were lost; nothing a body says is acted on without a GET.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import pytest

from seedance_async import (
    Client,
    ConfigurationError,
    Outcome,
    PollSchedule,
    SqliteJournal,
    Tracker,
    VideoTask,
)
from seedance_async.callbacks import (
    CallbackReceiver,
    CallbackServer,
    CallbackServerError,
    CallbackToken,
)
from seedance_async.config import parse_provider_config
from seedance_async.journal import JournalEntry
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    Callbacks,
    DurationModel,
    Limits,
    Simulator,
)
from seedance_async.tracker import CallbackSummary

PRO = "doubao-seedance-1-0-pro-250528"
SCALE = 0.01  # 1 provider second = 10 ms
QUEUE_S, RUN_S = 5.0, 30.0
TASKS = 8
SCHEDULE = PollSchedule().scaled(SCALE)
# Long enough that a test relying on callbacks fails (not passes slowly) without them.
FAR_BACKSTOP = PollSchedule.backstop(interval=3000.0).scaled(SCALE)
NEAR_BACKSTOP = PollSchedule.backstop(interval=60.0).scaled(SCALE)
JSON = {"Content-Type": "application/json"}


def tasks(n: int = TASKS) -> list[VideoTask]:
    return [VideoTask(model=PRO, prompt=f"callback task {i}") for i in range(n)]


@contextlib.asynccontextmanager
async def simulated(
    callbacks: Callbacks,
    providers: tuple[str, ...] = ("ark",),
    durations: DurationModel | None = None,
) -> AsyncIterator[tuple[Simulator, Client]]:
    async with Simulator(
        providers,
        seed=5,
        time_scale=SCALE,
        durations=durations or DurationModel.fixed(QUEUE_S, RUN_S),
        limits=Limits.unlimited(),
        callbacks=callbacks,
    ) as sim:
        configs = parse_provider_config(sim.provider_config()).values()
        async with Client(configs, env={KEY_ENV: DEFAULT_KEY}) as client:
            yield sim, client


def tracker(client: Client, server: Any, backstop: PollSchedule, **kw: Any) -> Tracker:
    kw.setdefault("confirm_window", 0.5 * SCALE)
    return Tracker(client, schedule=SCHEDULE, callbacks=server, backstop=backstop, **kw)


def status_requests(sim: Simulator, provider: str = "ark") -> int:
    """GETs and list calls: every request that asked about a task."""
    return sum(1 for r in sim.requests(provider) if r.op in ("get", "list"))


class Calls:
    """Counts calls of one receiver method (the tracker's reports to it) and wakes waiters."""

    def __init__(self, receiver: CallbackReceiver, method: str) -> None:
        self.count = 0
        self._changed = anyio.Event()
        original: Callable[..., Any] = getattr(receiver, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            finally:
                self.count += 1
                self._changed.set()
                self._changed = anyio.Event()

        setattr(receiver, method, wrapper)

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (each call) until ``predicate`` holds."""
        with anyio.fail_after(10):
            while not predicate():
                await self._changed.wait()


async def test_callbacks_finish_tasks_with_one_request_each() -> None:
    """Every end arrives as a callback and is confirmed by one status request (or a list
    call for several); the sparse backstop never had to poll."""
    async with (
        simulated(Callbacks()) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        async with tracker(client, server, FAR_BACKSTOP) as t:
            handles = [await t.submit(task) for task in tasks()]
        results = [await h.result() for h in handles]
        assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * TASKS
        stats = t.callback_stats
        assert stats is not None
        assert (stats.tasks, stats.confirmed, stats.found_by_backstop) == (TASKS, TASKS, 0)
        assert stats.rejected == 0
        assert status_requests(sim) <= TASKS
        # Each create carried its own callback URL on the server; the results do not.
        urls = [e.body["callback_url"] for e in sim.ledger("ark")]
        assert len(set(urls)) == TASKS
        assert all(u.startswith(f"{server.public_url}/") for u in urls)
        assert all(r.task.callback_url is None for r in results)
        assert len(server.receiver.registry) == 0  # every token forgotten at the end


async def test_lost_callbacks_are_found_by_the_backstop() -> None:
    async with (
        simulated(Callbacks(drop=1.0)) as (_, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        async with tracker(client, server, NEAR_BACKSTOP) as t:
            handles = [await t.submit(task) for task in tasks()]
        assert [(await h.result()).outcome for h in handles] == [Outcome.SUCCEEDED] * TASKS
        stats = t.callback_stats
        assert stats is not None
        assert (stats.received, stats.confirmed, stats.found_by_backstop) == (0, 0, TASKS)


async def test_duplicated_and_reordered_callbacks_cost_one_confirmation() -> None:
    for faults in (Callbacks(duplicate=1.0), Callbacks(reorder=1.0)):
        async with (
            simulated(faults) as (sim, client),
            CallbackServer(listen="127.0.0.1:0") as server,
        ):
            async with tracker(client, server, FAR_BACKSTOP) as t:
                handles = [await t.submit(task) for task in tasks()]
            assert [(await h.result()).outcome for h in handles] == [Outcome.SUCCEEDED] * TASKS
            stats = t.callback_stats
            assert stats is not None
            assert (stats.confirmed, stats.found_by_backstop) == (TASKS, 0), faults
            assert status_requests(sim) <= TASKS, faults


async def test_forged_callbacks_change_nothing(tmp_path: Path) -> None:
    """Next to each real notice, a success for a task never created and a success with the
    video on a foreign host: the GET shows the truth, nothing ends early, and the only
    download is the real video from the simulator's CDN."""
    forged = Callbacks(forge_task=1.0, forge_url=1.0)
    async with (
        simulated(forged) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        async with tracker(client, server, FAR_BACKSTOP, download_dir=tmp_path) as t:
            handles = [await t.submit(task) for task in tasks(2)]
        results = [await h.result() for h in handles]
        assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 2
        for r in results:
            assert r.video_path is not None
            assert Path(r.video_path).name == f"{r.key}.mp4"
        ids = {e.task_id for e in sim.ledger("ark")}
        assert {d.task_id for d in sim.callback_deliveries("ark") if d.fault == "forged_task"}
        assert all(r.handle is not None and r.handle.task_id in ids for r in results)
        for r in results:
            assert r.status is not None
            assert r.status.video_url is not None
            assert ".invalid" not in r.status.video_url  # what the GET said, not a body
        stats = t.callback_stats
        assert stats is not None
        assert stats.rejected_by_reason.get("task_id_mismatch", 0) > 0
        assert stats.rejected_by_reason.get("contradicted", 0) > 0


async def test_bad_bodies_on_a_real_token_are_counted_and_change_nothing() -> None:
    """A malformed body, a body for another task id and a success with a foreign video URL,
    all posted to a running task's real URL: one confirming GET shows it still running, the
    claims are counted as rejected, nothing is downloaded; an unknown token is a 404."""
    slow = DurationModel.fixed(5.0, 100_000.0)
    async with (
        simulated(Callbacks(drop=1.0), durations=slow) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
        aiohttp.ClientSession() as http,
    ):
        bound, observed = Calls(server.receiver, "bind"), Calls(server.receiver, "observe")
        # A window wide enough for the three posts below, whatever the machine's load.
        async with tracker(client, server, FAR_BACKSTOP, confirm_window=0.5) as t:
            handle = await t.submit(tasks(1)[0])
            await bound.until(lambda: bound.count >= 1)
            assert handle.handle is not None
            url = sim.ledger("ark")[0].body["callback_url"]
            remote = handle.handle.task_id
            before = status_requests(sim)
            bodies = [
                b"{not json",
                b'{"id": "cgt-someone-else", "status": "succeeded"}',
                json.dumps(
                    {
                        "id": remote,
                        "status": "succeeded",
                        "content": {"video_url": "https://evil.invalid/x.mp4"},
                    }
                ).encode(),
            ]
            for body in bodies:
                async with http.post(url, data=body, headers=JSON) as response:
                    assert response.status == 200  # acknowledged; believed only after a GET
            async with http.post(
                url.rsplit("/", 1)[0] + "/" + "A" * 43, data=bodies[2], headers=JSON
            ) as response:
                assert response.status == 404
            # The confirming GET's answer settles every claim.
            await observed.until(lambda: (t.callback_stats or CallbackSummary()).rejected >= 4)
            stats = t.callback_stats
            assert stats is not None
            assert stats.rejected_by_reason == {
                "contradicted": 1,
                "malformed": 1,
                "task_id_mismatch": 1,
                "unknown_token": 1,
            }
            assert stats.confirm_polls == 1
            assert status_requests(sim) == before + 1
            assert not handle.done
            assert handle.status is not None
            assert not handle.status.state.is_terminal
            await handle.cancel()
        assert sim.cdn_requests() == []
        assert handle.outcome is Outcome.CANCELLED


async def test_providers_without_callbacks_are_polled_as_before() -> None:
    """AI/ML API posts no callbacks: no callback_url in its body, the normal schedule."""
    async with (
        simulated(Callbacks(), providers=("aimlapi",)) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        async with tracker(client, server, FAR_BACKSTOP) as t:
            handles = [await t.submit(task) for task in tasks(3)]
        assert [(await h.result()).outcome for h in handles] == [Outcome.SUCCEEDED] * 3
        assert all("callback_url" not in e.body for e in sim.ledger("aimlapi"))
        assert t.callback_stats == CallbackSummary()


async def test_a_spec_with_its_own_callback_url_keeps_it() -> None:
    async with (
        simulated(Callbacks(enabled=False)) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        own = "http://127.0.0.1:9/mine"
        async with tracker(client, server, NEAR_BACKSTOP) as t:
            handle = await t.submit(attrs.evolve(tasks(1)[0], callback_url=own))
        assert (await handle.result()).ok
        assert sim.ledger("ark")[0].body["callback_url"] == own
        assert t.callback_stats == CallbackSummary()


async def test_a_port_that_cannot_bind_fails_before_any_submit() -> None:
    async with simulated(Callbacks()) as (sim, client):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            t = Tracker(
                client, callbacks=f"http://127.0.0.1:{port}", callback_listen=f"127.0.0.1:{port}"
            )
            with pytest.raises(CallbackServerError, match=f"127.0.0.1:{port}"):
                async with t:
                    pytest.fail("entered a tracker whose callback port is taken")
        assert sim.ledger() == []


async def test_a_tracker_owned_server_from_a_url_and_a_listen_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with simulated(Callbacks()) as (sim, client):
        public = f"http://127.0.0.1:{port}/hooks"
        t = tracker(client, public, FAR_BACKSTOP, callback_listen=f"127.0.0.1:{port}")
        async with t:
            server = t.callback_server
            assert server is not None
            assert server.running
            handles = [await t.submit(task) for task in tasks(2)]
        assert [(await h.result()).ok for h in handles] == [True, True]
        assert "stopped" in repr(server)  # with the tracker that started it
        assert all(e.body["callback_url"].startswith(public + "/") for e in sim.ledger("ark"))
        assert t.callback_stats is not None
        assert t.callback_stats.confirmed == 2


async def test_callback_options_are_checked() -> None:
    async with simulated(Callbacks()) as (_, client):
        check_options(client)


def check_options(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="callback_listen"):
        Tracker(client, callbacks="https://hooks.example.com/sd")
    with pytest.raises(ConfigurationError, match="callback_listen goes with"):
        Tracker(client, callbacks=CallbackReceiver(), callback_listen="127.0.0.1:0")
    with pytest.raises(ConfigurationError, match="confirm_window"):
        Tracker(client, callbacks=CallbackReceiver(), confirm_window=-1)


async def test_a_receiver_without_a_public_url_is_refused_on_entry() -> None:
    async with simulated(Callbacks()) as (_, client):
        with pytest.raises(ConfigurationError, match="public URL"):
            async with Tracker(client, callbacks=CallbackReceiver()):
                pytest.fail("entered")


async def test_the_journal_keeps_the_token_and_a_resumed_run_receives_callbacks(
    tmp_path: Path,
) -> None:
    """The token goes to the journal (the journaled spec has no callback URL); a task an
    earlier run sent with it is confirmed by its callback after resume, not by a poll."""
    async with (
        simulated(Callbacks(enabled=False)) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
        SqliteJournal(tmp_path / "j.db") as journal,
    ):
        async with tracker(client, server, NEAR_BACKSTOP, journal=journal) as t:
            handle = await t.submit(tasks(1)[0], key="k1")
        assert (await handle.result()).ok
        url = sim.ledger("ark")[0].body["callback_url"]
        record = await journal.get("k1")
        assert record is not None
        assert record.callback_token is not None
        assert record.callback_token == url.rsplit("/", 1)[-1]
        assert record.task.callback_url is None
        assert record.callback_token not in repr(record)

    # An earlier run sent a task with a token and stopped; this run resumes it.
    async with (
        simulated(Callbacks()) as (sim, client),
        CallbackServer(listen="127.0.0.1:0") as server,
    ):
        token = CallbackToken.new()
        sent = attrs.evolve(tasks(1)[0], callback_url=server.receiver.url_for(token))
        remote = await client.submit(sent, provider="ark")
        entry = JournalEntry(
            key="k2",
            task=tasks(1)[0],
            provider="ark",
            handle=remote,
            callback_token=token.reveal(),
        )
        async with tracker(client, server, FAR_BACKSTOP) as t:
            (resumed,) = await t.resume([entry])
        assert (await resumed.result()).ok
        stats = t.callback_stats
        assert stats is not None
        assert (stats.tasks, stats.confirmed, stats.found_by_backstop) == (1, 1, 0)
