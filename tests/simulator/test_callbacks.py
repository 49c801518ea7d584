"""Status-change callbacks: Ark's documented behaviour, then every delivery fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from seedance_async.simulator import (
    Callbacks,
    DurationModel,
    Faults,
    ManualClock,
    Quirks,
    Simulator,
    is_loopback,
)
from tests.simulator._helpers import ARK_TASKS, QUEUE_S, RUN_S, ark_body, call, make_sim
from tests.simulator._receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def create(
    http: aiohttp.ClientSession, sim: Simulator, hook: str, provider: str = "ark", **options: Any
) -> str:
    path = "/v1/video/generations" if provider == "gateway000" else ARK_TASKS
    if provider == "chainhub":
        path = "/volc/v1/contents/generations/tasks"
    status, body, _ = await call(
        http, "POST", sim.base_url(provider) + path, json=ark_body(callback_url=hook, **options)
    )
    assert status == 200, body
    task_id: str = body["id"]
    return task_id


async def get(http: aiohttp.ClientSession, sim: Simulator, task_id: str) -> Any:
    _, body, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{task_id}")
    return body


# -- what Ark documents ---------------------------------------------------------------------


async def test_each_status_change_posts_the_get_answer(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """queued, running, succeeded: each body equals a GET at that instant; nothing is signed."""
    task_id = await create(http, sim, receiver.url("/hook?token=t1"))
    seen = []
    for step in (0, QUEUE_S, RUN_S):
        clock.advance(step)
        await sim.flush_callbacks()
        seen.append(await get(http, sim, task_id))
    assert receiver.statuses() == ["queued", "running", "succeeded"]
    assert [p.body for p in receiver.posts] == seen
    assert all(p.query == {"token": "t1"} for p in receiver.posts)
    # No signature, timestamp or secret of any kind: only what any HTTP client sends.
    plain = {"host", "content-type", "content-length", "accept", "accept-encoding", "user-agent"}
    assert all({h.lower() for h in p.headers} <= plain for p in receiver.posts)
    records = sim.callback_deliveries("ark")
    assert [(r.status, r.attempt, r.outcome, r.http_status) for r in records] == [
        ("queued", 1, "acked", 200),
        ("running", 1, "acked", 200),
        ("succeeded", 1, "acked", 200),
    ]
    assert {r.task_id for r in records} == {task_id}


async def test_a_jump_in_time_still_announces_every_change_as_it_was(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """Moving the clock past the end at once yields all three notices, each as of its time."""
    task_id = await create(http, sim, receiver.url())
    created = clock()
    clock.advance(1000)
    await sim.flush_callbacks()
    bodies = [p.body for p in receiver.posts]
    assert [b["status"] for b in bodies] == ["queued", "running", "succeeded"]
    assert [b["updated_at"] - created for b in bodies] == [0, QUEUE_S, QUEUE_S + RUN_S]
    assert "content" not in bodies[1]
    assert bodies[2]["content"]["video_url"].startswith(sim.cdn_url)
    assert {b["id"] for b in bodies} == {task_id}
    clock.advance(1000)
    await sim.flush_callbacks()
    assert len(receiver.posts) == 3  # a final task is announced once


async def test_failed_and_expired_tasks_are_announced(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """A failed notice carries Ark's error; an expired one comes at the deadline."""
    async with make_sim(clock, faults=Faults(task_failure=1.0)) as sim:
        await create(http, sim, receiver.url("/failed"))
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
    failed = receiver.posts[-1].body
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "OutputVideoSensitiveContentDetected.PolicyViolation"
    async with make_sim(clock, durations=DurationModel.fixed(0, 5000)) as sim:
        await create(http, sim, receiver.url("/expired"), execution_expires_after=3600)
        clock.advance(3600)
        await sim.flush_callbacks()
    expired = [p.body["status"] for p in receiver.posts if p.path == "/expired"]
    assert expired == ["queued", "running", "expired"]


async def test_cancel_is_not_announced_unless_configured(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """Ark does not list ``cancelled`` among callback statuses; ``notify`` can add it."""
    url = sim.base_url("ark") + ARK_TASKS
    for path in ("/a", "/b"):
        if path == "/b":
            sim.set_callbacks("ark", Callbacks(notify={"queued", "cancelled"}))
        task_id = await create(http, sim, receiver.url(path))
        await sim.flush_callbacks()
        await call(http, "DELETE", f"{url}/{task_id}")
        clock.advance(1)
        await sim.flush_callbacks()
    assert [(p.path, p.body["status"]) for p in receiver.posts] == [
        ("/a", "queued"),
        ("/b", "queued"),
        ("/b", "cancelled"),
    ]


async def test_notify_limits_the_statuses_posted(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Only the configured statuses trigger a notice."""
    async with make_sim(clock, callbacks=Callbacks(notify={"succeeded", "failed"})) as sim:
        await create(http, sim, receiver.url())
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
    assert receiver.statuses() == ["succeeded"]


async def test_unacknowledged_final_notices_are_resent_three_times(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Non-2xx answers: running is not re-sent; succeeded is, 3 times, retry_delay apart."""
    receiver.answers = [500] * 20
    async with make_sim(clock, callbacks=Callbacks(retry_delay=10)) as sim:
        task_id = await create(http, sim, receiver.url())
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        for _ in range(5):
            clock.advance(10)
            await sim.flush_callbacks()
        records = sim.callback_deliveries()
    assert receiver.statuses() == ["queued", "running"] + ["succeeded"] * 4
    final = [r for r in records if r.status == "succeeded"]
    assert [r.attempt for r in final] == [1, 2, 3, 4]
    assert {(r.outcome, r.http_status, r.task_id) for r in final} == {("rejected", 500, task_id)}
    assert [r.time - final[0].time for r in final] == [0, 10, 20, 30]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (Callbacks(retries=1, retry_delay=0), ["queued", "running", "succeeded", "succeeded"]),
        (Callbacks(retries=0), ["queued", "running", "succeeded"]),
        (
            Callbacks(retry_on={"running"}, retries=2, retry_delay=0),
            # A re-send queues behind the notices already waiting for that task.
            ["queued", "running", "succeeded", "running", "running"],
        ),
    ],
)
async def test_retry_count_and_statuses_are_configurable(
    clock: ManualClock,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    config: Callbacks,
    expected: list[str],
) -> None:
    """``retries`` and ``retry_on`` decide what is re-sent (retry_delay 0: at once)."""
    receiver.answers = [503] * 20
    async with make_sim(clock, callbacks=config) as sim:
        await create(http, sim, receiver.url())
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
    assert receiver.statuses() == expected


async def test_a_slow_receiver_times_out_and_gets_the_notice_again(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """No answer within ack_timeout (wall seconds) counts as not acknowledged."""
    receiver.answers = [None]
    config = Callbacks(notify={"succeeded"}, ack_timeout=0.5, retry_delay=0)
    async with make_sim(clock, callbacks=config) as sim:
        await create(http, sim, receiver.url())
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        records = sim.callback_deliveries()
    assert [(r.attempt, r.outcome, r.http_status) for r in records] == [
        (1, "timeout", None),
        (2, "acked", 200),
    ]


async def test_an_unreachable_receiver_is_an_error_and_retried(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Nobody listening: outcome ``error`` for each of the four attempts."""
    async with Receiver() as gone:
        url = gone.url()
    config = Callbacks(notify={"succeeded"}, retry_delay=0)
    async with make_sim(clock, callbacks=config) as sim:
        await create(http, sim, url)
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        outcomes = [(r.attempt, r.outcome) for r in sim.callback_deliveries()]
    assert outcomes == [(1, "error"), (2, "error"), (3, "error"), (4, "error")]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cb",
        "http://10.0.0.8/cb",
        "http://[2001:db8::1]/cb",
        "http://metadata.internal/cb",
        "ftp://127.0.0.1/cb",
    ],
)
async def test_only_loopback_receivers_are_posted_to(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, url: str
) -> None:
    """Other URLs are refused (recorded, never sent, never re-sent); the task runs normally."""
    task_id = await create(http, sim, url)
    clock.advance(QUEUE_S + RUN_S)
    await sim.flush_callbacks()
    clock.advance(100)
    await sim.flush_callbacks()
    records = sim.callback_deliveries()
    assert [(r.status, r.outcome, r.attempt) for r in records] == [
        ("queued", "refused", 1),
        ("running", "refused", 1),
        ("succeeded", "refused", 1),
    ]
    assert (await get(http, sim, task_id))["status"] == "succeeded"


def test_loopback_check() -> None:
    """127/8, ::1 and localhost pass; names, private and public addresses do not."""
    assert is_loopback("http://127.0.0.1:8080/cb")
    assert is_loopback("https://127.3.4.5/cb")
    assert is_loopback("http://[::1]:9/cb")
    assert is_loopback("http://LOCALHOST:9/cb")
    for url in ("http://192.168.1.1/", "http://example.com/", "file:///etc/passwd", "nonsense"):
        assert not is_loopback(url)


async def test_gateways_relay_callbacks_from_ark_in_arks_words(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """Through gateway000 (which says submitted/processing) the notices still say queued/running."""
    task_id = await create(http, sim, receiver.url("/g"), provider="gateway000")
    await create(http, sim, receiver.url("/c"), provider="chainhub")
    _, polled, _ = await call(
        http, "GET", f"{sim.base_url('gateway000')}/v1/video/generations/{task_id}"
    )
    assert polled["status"] == "submitted"
    clock.advance(QUEUE_S + RUN_S)
    await sim.flush_callbacks()
    for path in ("/g", "/c"):
        statuses = [p.body["status"] for p in receiver.posts if p.path == path]
        assert statuses == ["queued", "running", "succeeded"]
    assert {r.provider for r in sim.callback_deliveries()} == {"gateway000", "chainhub"}


async def test_providers_without_documented_callbacks(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """GPTProto posts nothing unless enabled; AI/ML API and unified cannot be enabled."""
    async with make_sim(clock) as sim:
        assert not sim.callbacks("gptproto").enabled
        await create(http, sim, receiver.url("/off"), provider="gptproto")
        sim.set_callbacks("gptproto", Callbacks())
        await create(http, sim, receiver.url("/on"), provider="gptproto")
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        assert {p.path for p in receiver.posts} == {"/on"}
        for provider in ("aimlapi", "unified"):
            with pytest.raises(ValueError, match="callbacks"):
                sim.set_callbacks(provider, Callbacks())
    with pytest.raises(ValueError, match="callbacks"):
        Simulator(callbacks={"unified": Callbacks()})


async def test_a_task_whose_create_answer_was_lost_still_calls_back(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """drop_after_create: the client never saw the id, but Ark announces the task anyway."""
    sim.set_faults("ark", Faults(drop_after_create=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await http.post(
            sim.base_url("ark") + ARK_TASKS,
            json=ark_body(callback_url=receiver.url()),
            headers={"Authorization": "Bearer sk-test-key"},
        )
    clock.advance(QUEUE_S + RUN_S)
    await sim.flush_callbacks()
    (entry,) = sim.ledger()
    assert {p.body["id"] for p in receiver.posts} == {entry.task_id}


async def test_admin_route_lists_deliveries(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """``GET /_sim/callbacks`` (no auth) has every attempt with its body."""
    task_id = await create(http, sim, receiver.url())
    await sim.flush_callbacks()
    root = sim.base_url("ark").removesuffix("/api/v3")
    status, records, _ = await call(http, "GET", root + "/_sim/callbacks", headers={})
    assert status == 200
    (record,) = records
    assert record["task_id"] == task_id
    assert (record["status"], record["outcome"], record["fault"]) == ("queued", "acked", "")
    assert record["body"]["id"] == task_id


async def test_deliveries_happen_on_their_own_with_a_real_clock(receiver: Receiver) -> None:
    """Without flush_callbacks: the background loop posts as the real clock moves."""
    async with (
        Simulator(
            ("ark",),
            api_key="sk-test-key",
            time_scale=0.001,
            durations=DurationModel.fixed(10, 60),
        ) as sim,
        aiohttp.ClientSession() as http,
    ):
        await create(http, sim, receiver.url())
        posts = await receiver.wait_for(3)
    assert [p.body["status"] for p in posts] == ["queued", "running", "succeeded"]


async def test_close_does_not_wait_for_a_hanging_receiver(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Deliveries in flight are abandoned when the simulator stops."""
    receiver.answers = [None]
    sim = make_sim(clock, callbacks=Callbacks(ack_timeout=60))
    await sim.start()
    await create(http, sim, receiver.url())
    await receiver.wait_for(1)
    await asyncio.wait_for(sim.close(), 5)


# -- faults ---------------------------------------------------------------------------------


async def run_faulted(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver, config: Callbacks
) -> tuple[str, Simulator]:
    """One task from creation to success under ``config``, flushing at each step."""
    async with make_sim(clock, callbacks=config) as sim:
        task_id = await create(http, sim, receiver.url())
        await sim.flush_callbacks()
        clock.advance(QUEUE_S)
        await sim.flush_callbacks()
        clock.advance(RUN_S)
        await sim.flush_callbacks()
    return task_id, sim


async def test_drop(clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    """Dropped notices are never sent, nor re-sent, and are recorded as such."""
    _, sim = await run_faulted(clock, http, receiver, Callbacks(drop=1.0))
    assert receiver.posts == []
    records = sim.callback_deliveries()
    assert [(r.status, r.outcome, r.fault) for r in records] == [
        ("queued", "dropped", "drop"),
        ("running", "dropped", "drop"),
        ("succeeded", "dropped", "drop"),
    ]


async def test_duplicate(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """Every notice arrives twice, the copy marked ``duplicate``."""
    _, sim = await run_faulted(clock, http, receiver, Callbacks(duplicate=1.0))
    assert receiver.statuses() == [
        "queued",
        "queued",
        "running",
        "running",
        "succeeded",
        "succeeded",
    ]
    assert [r.fault for r in sim.callback_deliveries()] == ["", "duplicate"] * 3
    assert receiver.posts[0].body == receiver.posts[1].body


async def test_delay(clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    """A delayed notice goes out delay_seconds (clock) after its status change."""
    config = Callbacks(delay=1.0, delay_seconds=100)
    async with make_sim(clock, callbacks=config) as sim:
        start = clock()
        await create(http, sim, receiver.url())
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        assert receiver.posts == []
        arrivals = []
        for at in (100, QUEUE_S + 100, QUEUE_S + RUN_S + 100):
            clock.set(start + at)
            await sim.flush_callbacks()
            arrivals.append(receiver.statuses())
        records = sim.callback_deliveries()
    assert arrivals == [
        ["queued"],
        ["queued", "running"],
        ["queued", "running", "succeeded"],
    ]
    assert [(r.fault, r.time - start) for r in records] == [
        ("delay", 100),
        ("delay", QUEUE_S + 100),
        ("delay", QUEUE_S + RUN_S + 100),
    ]


async def test_reorder(clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    """Held-back notices arrive after the task's next one: the final status comes first."""
    _, sim = await run_faulted(clock, http, receiver, Callbacks(reorder=1.0))
    assert receiver.statuses() == ["succeeded", "queued", "running"]
    assert [r.fault for r in sim.callback_deliveries()] == ["", "reorder", "reorder"]


async def test_forged_success_for_a_task_that_does_not_exist(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """A POST claims success for an id never created; GET says 404 and its link is refused."""
    config = Callbacks(notify={"queued"}, forge_task=1.0)
    async with make_sim(clock, callbacks=config) as sim:
        task_id = await create(http, sim, receiver.url())
        await sim.flush_callbacks()
        real, forged = receiver.posts  # one task's notices, forgeries included, go in order
        assert (real.body["id"], real.body["status"]) == (task_id, "queued")
        fake = forged.body["id"]
        assert fake != task_id
        assert fake not in {e.task_id for e in sim.ledger()}
        assert forged.body["status"] == "succeeded"
        status, _, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{fake}")
        assert status == 404
        async with http.get(forged.body["content"]["video_url"]) as response:
            assert response.status == 403
        (record,) = [r for r in sim.callback_deliveries() if r.fault == "forged_task"]
        assert (record.task_id, record.status, record.outcome) == (fake, "succeeded", "acked")


async def test_forged_success_with_a_foreign_video_url(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """While the task is still queued, a POST claims it succeeded with a video elsewhere."""
    config = Callbacks(notify={"queued"}, forge_url=1.0)
    async with make_sim(clock, callbacks=config) as sim:
        task_id = await create(http, sim, receiver.url())
        await sim.flush_callbacks()
        forged = receiver.posts[1].body
        assert (forged["id"], forged["status"]) == (task_id, "succeeded")
        host = urlsplit(forged["content"]["video_url"]).hostname or ""
        assert host.endswith(".invalid")
        assert (await get(http, sim, task_id))["status"] == "queued"  # GET tells the truth
    assert [r.fault for r in sim.callback_deliveries()] == ["", "forged_url"]


async def test_callback_faults_are_seeded(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Same seed, same faults; the dice are independent of the request faults' dice."""
    config = Callbacks(drop=0.3, reorder=0.3, duplicate=0.3, retry_delay=0)

    async def run(seed: int) -> list[tuple[str, str, str]]:
        own = ManualClock()
        async with Receiver() as receiver, make_sim(own, seed=seed, callbacks=config) as sim:
            for n in range(6):
                await create(http, sim, receiver.url(f"/t{n}"), text=f"t{n}")
            own.advance(QUEUE_S + RUN_S)
            await sim.flush_callbacks()
            return sorted((r.task_id, r.status, r.fault) for r in sim.callback_deliveries())

    first, again, other = await run(3), await run(3), await run(4)
    assert first == again
    assert first != other


def test_callbacks_config_is_validated() -> None:
    """Unknown statuses, negative counts and bad probabilities are refused."""
    with pytest.raises(ValueError, match="unknown status"):
        Callbacks(notify={"done"})
    with pytest.raises(ValueError, match="retries"):
        Callbacks(retries=-1)
    with pytest.raises(ValueError, match="drop"):
        Callbacks(drop=1.5)
    assert Callbacks(notify="succeeded").notify == frozenset({"succeeded"})
    assert Callbacks().retries == 3
    assert Callbacks().retry_on == frozenset({"succeeded", "failed"})


async def test_switching_callbacks_off_stops_pending_announcements(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, receiver: Receiver
) -> None:
    """``enabled=False`` later: a task already created is announced no further."""
    await create(http, sim, receiver.url())
    await sim.flush_callbacks()
    sim.set_callbacks(None, Callbacks(enabled=False))
    clock.advance(QUEUE_S + RUN_S)
    await sim.flush_callbacks()
    assert receiver.statuses() == ["queued"]


async def test_callbacks_carry_absolute_links_from_ark(
    clock: ManualClock, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    """A gateway with relative result links still relays Ark's absolute ones in callbacks."""
    quirks = {"chainhub": Quirks(relative_result_urls=True)}
    async with make_sim(clock, quirks=quirks, callbacks=Callbacks(notify={"succeeded"})) as sim:
        task_id = await create(http, sim, receiver.url(), provider="chainhub")
        clock.advance(QUEUE_S + RUN_S)
        await sim.flush_callbacks()
        path = "/volc/v1/contents/generations/tasks"
        _, polled, _ = await call(http, "GET", f"{sim.base_url('chainhub')}{path}/{task_id}")
    assert polled["content"]["video_url"].startswith("/files/chainhub/")
    (post,) = receiver.posts
    assert post.body["content"]["video_url"].startswith(sim.cdn_url + "/tos/chainhub/")
