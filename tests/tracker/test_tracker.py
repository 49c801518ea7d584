"""Tracker behaviour on a fake clock and an in-memory provider: no sockets, no sleeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from seedance_async.client._client import Client
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import OutcomeUnknown
from seedance_async.core._events import Event, EventKind
from seedance_async.core._secrets import ApiKey
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.journal._protocol import JournalEntry
from seedance_async.policy._failover import FailoverPolicy
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.providers import ProviderAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._handle import Outcome
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.testing import FakeClock, FunctionTransport
from seedance_async.tracker._tracker import Tracker
from seedance_async.transport._download import DownloadResult
from tests.fakes import FakeArk, drop_answer_after_create, not_sent, rate_limited

MODEL = "doubao-seedance-1-0-pro-250528"


def task(n: int = 0, **kw: object) -> VideoTask:
    return VideoTask(model=MODEL, prompt=f"a cat number {n}", metadata={"n": n}, **kw)  # type: ignore[arg-type]


def config(alias: str, **kw: object) -> ProviderConfig:
    options = kw.pop("options", {})
    return ProviderConfig(
        alias=alias,
        adapter="ark",
        base_url=f"https://{alias}.example/api/v3",
        api_key=ApiKey("sk-test-" + alias),
        submit_rpm=6000,
        poll_rps=1000,
        max_running=kw.pop("max_running", 50),  # type: ignore[arg-type]
        options=options,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


class World:
    """A fake clock, one FakeArk per alias, and the events seen."""

    def __init__(self, aliases: list[str]) -> None:
        self.clock = FakeClock()
        self.arks = {a: FakeArk(self.clock.now) for a in aliases}
        self.transports: dict[str, FunctionTransport] = {}
        self.events: list[Event] = []

    def transport(self, cfg: ProviderConfig, _: ProviderAdapter, __: ApiKey) -> FunctionTransport:
        t = FunctionTransport(self.arks[cfg.alias])
        self.transports[cfg.alias] = t
        return t

    def kinds(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind is kind]


@asynccontextmanager
async def running(
    world: World, configs: list[ProviderConfig], **tracker_kw: object
) -> AsyncIterator[Tracker]:
    async with Client(
        configs, clock=world.clock, transport_factory=world.transport, seed=1
    ) as client:
        client.events.add_callback(world.events.append)
        tracker = Tracker(
            client,
            schedule=PollSchedule(first_poll=10, min_interval=2, max_interval=10),
            seed=1,
            **tracker_kw,  # type: ignore[arg-type]
        )
        async with tracker:
            yield tracker


async def drive(world: World, tracker: Tracker, seconds: float = 3600) -> None:
    """Advance virtual time until the tracker is idle (bounded)."""
    for _ in range(100_000):
        if tracker.pending == 0:
            return
        await world.clock.run_for(1.0)
        seconds -= 1
        if seconds <= 0:
            break
    raise AssertionError(f"tracker not idle: {tracker.pending} pending")


async def test_batch_succeeds_and_statuses_are_batched_through_list() -> None:
    """Fifty tasks all succeed; status checks go through Ark's list endpoint in groups."""
    world = World(["a"])
    async with running(world, [config("a")]) as tracker:
        handles = [await tracker.submit(task(n)) for n in range(50)]
        await drive(world, tracker)
        results = [await h.result() for h in handles]
    assert {r.outcome for r in results} == {Outcome.SUCCEEDED}
    assert all(r.status and r.status.video_url for r in results)
    ark = world.arks["a"]
    assert len(ark.created) == 50
    assert ark.calls["LIST"] > 0
    # Far fewer status calls than tasks x polls: the list endpoint answers groups.
    assert ark.calls["GET"] + ark.calls["LIST"] < 50 * 3


async def test_running_cap_is_never_exceeded() -> None:
    """With max_running=3 the provider never sees more than 3 unfinished tasks at once."""
    world = World(["a"])
    async with running(world, [config("a", max_running=3)]) as tracker:
        for n in range(12):
            await tracker.submit(task(n))
        await drive(world, tracker)
    assert len(world.arks["a"].created) == 12
    assert world.arks["a"].running_peak <= 3


async def test_dropped_submit_answer_is_reconciled_not_resubmitted() -> None:
    """A submit that created the task but lost its answer is found by listing, not resent."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", drop_answer_after_create(ark))
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert len(ark.created) == 1
    assert ark.calls["POST"] == 1
    assert result.handle is not None
    assert result.handle.task_id == ark.created[0]["id"]
    assert world.kinds(EventKind.RECONCILED)


async def test_ambiguous_submit_without_list_is_unknown_and_never_resent() -> None:
    """Without a list endpoint an ambiguous submit ends ``unknown`` with its send time."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", drop_answer_after_create(ark))
    async with running(world, [config("a", options={"can_list": False})]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason
    assert "sent at" in result.reason
    assert ark.calls["POST"] == 1


async def test_unsent_submit_is_retried() -> None:
    """A connection that was refused is retried and creates exactly one task."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", not_sent)
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert ark.calls["POST"] == 2
    assert len(ark.created) == 1
    assert world.kinds(EventKind.RETRIED)


async def test_retry_after_is_honoured_before_the_next_submit() -> None:
    """A 429 with Retry-After: 7 holds the next submit until 7 virtual seconds later."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", rate_limited("7"))
    post_times: list[float] = []
    original = ark.__call__

    def spy(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            post_times.append(world.clock.now())
        return original(request)

    world.arks["a"] = spy  # type: ignore[assignment]
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert len(post_times) == 2
    assert post_times[1] - post_times[0] >= 7.0
    assert world.kinds(EventKind.RATE_LIMITED)


async def test_failover_on_auth_rejection() -> None:
    """A provider that answers 401 is skipped; the task runs on the next one."""
    world = World(["a", "b"])

    def unauthorized(_: HttpRequest) -> HttpResponse:
        return HttpResponse.from_json(
            401, {"error": {"code": "AuthenticationError", "message": "bad key"}}
        )

    world.arks["a"].fault("POST", unauthorized)
    async with running(world, [config("a"), config("b")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert [a.provider for a in result.attempts] == ["a", "b"]
    assert result.failovers == 1
    assert world.kinds(EventKind.FAILED_OVER)
    assert not world.arks["a"].created


async def test_failover_after_retryable_remote_failure_but_not_after_moderation() -> None:
    """A task failing with an internal error moves on; one failing moderation does not."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001", "cgt-00002"}
    async with running(world, [config("a"), config("b")]) as tracker:
        first = await tracker.submit(task(1))
        await drive(world, tracker)
        world.arks["a"].fail_code = "OutputVideoSensitiveContentDetected.PolicyViolation"
        second = await tracker.submit(task(2))
        await drive(world, tracker)
        r1, r2 = await first.result(), await second.result()
    assert r1.outcome is Outcome.SUCCEEDED
    assert [a.provider for a in r1.attempts] == ["a", "b"]
    assert r2.outcome is Outcome.FAILED
    assert [a.provider for a in r2.attempts] == ["a"]
    assert r2.status is not None
    assert r2.status.error_code == "OutputVideoSensitiveContentDetected.PolicyViolation"


async def test_deadline_cancels_a_queued_task_remotely() -> None:
    """A task still queued at its deadline is cancelled at the provider."""
    world = World(["a"])
    world.arks["a"].queue_time = 1000
    async with running(world, [config("a")], deadline=60) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.DEADLINE
    assert result.reason
    assert "cancelled remotely" in result.reason
    assert world.arks["a"].calls["DELETE"] == 1


async def test_deadline_detaches_a_running_task() -> None:
    """A running task cannot be cancelled on Ark: the tracker detaches and says so."""
    world = World(["a"])
    world.arks["a"].queue_time = 1
    world.arks["a"].run_time = 1000
    async with running(world, [config("a")], deadline=60) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.DEADLINE
    assert result.reason
    assert "detached" in result.reason
    assert world.arks["a"].calls["DELETE"] == 0


async def test_cancelling_one_task_leaves_the_others_alone() -> None:
    """Cancelling one handle ends only that task."""
    world = World(["a"])
    world.arks["a"].queue_time = 20
    async with running(world, [config("a")]) as tracker:
        handles = [await tracker.submit(task(n)) for n in range(3)]
        await world.clock.run_for(3)
        await handles[1].cancel()
        await drive(world, tracker)
        results = [await h.result() for h in handles]
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED, Outcome.CANCELLED, Outcome.SUCCEEDED]


async def test_as_completed_yields_every_result_once() -> None:
    """as_completed yields each task's result exactly once."""
    world = World(["a"])
    seen: list[str] = []
    async with running(world, [config("a")]) as tracker:
        for n in range(5):
            await tracker.submit(task(n))

        async def consume() -> None:
            async for result in tracker.as_completed():
                seen.append(result.key)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await drive(world, tracker)
    assert len(seen) == 5
    assert len(set(seen)) == 5


async def test_same_key_twice_is_one_task() -> None:
    """Submitting the same spec twice tracks (and bills) it once."""
    world = World(["a"])
    async with running(world, [config("a")]) as tracker:
        h1 = await tracker.submit(task(1))
        h2 = await tracker.submit(task(1))
        await drive(world, tracker)
    assert h1 is h2
    assert len(world.arks["a"].created) == 1


async def test_leaving_the_block_closes_every_transport() -> None:
    """After the client block no transport is open."""
    world = World(["a", "b"])
    async with running(world, [config("a"), config("b")]) as tracker:
        await tracker.submit(task())
        await drive(world, tracker)
    assert all(t.closed for t in world.transports.values())


async def test_weighted_failover_spreads_tasks() -> None:
    """Weighted order sends tasks to both providers."""
    world = World(["a", "b"])
    policy = FailoverPolicy(providers=("a", "b"), weights={"a": 1, "b": 1})
    async with running(world, [config("a"), config("b")], providers=policy) as tracker:
        for n in range(40):
            await tracker.submit(task(n))
        await drive(world, tracker)
    assert world.arks["a"].created
    assert world.arks["b"].created
    assert len(world.arks["a"].created) + len(world.arks["b"].created) == 40


@pytest.mark.parametrize("make_fault", [lambda ark: drop_answer_after_create(ark)])
async def test_reconciliation_ignores_ids_owned_by_other_submits(
    make_fault: Callable[[FakeArk], object],
) -> None:
    """Reconciling one lost answer never adopts a task another submit already owns."""
    world = World(["a"])
    ark = world.arks["a"]
    async with running(world, [config("a")]) as tracker:
        handles = [await tracker.submit(task(n)) for n in range(5)]
        await world.clock.run_for(1)
        ark.fault("POST", make_fault(ark))  # type: ignore[arg-type]
        late = await tracker.submit(task(99))
        await drive(world, tracker)
        results = [await h.result() for h in [*handles, late]]
    ids = [r.handle.task_id for r in results if r.handle]
    assert len(ids) == len(set(ids)) == 6
    assert len(ark.created) == 6


def _lost_before_create(_: HttpRequest) -> HttpResponse | None:
    raise OutcomeUnknown("connection reset", provider="fake")


async def test_ambiguous_submit_that_created_nothing_is_resent_after_listing() -> None:
    """When listing proves an ambiguous submit created nothing, it is sent again: one task."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", _lost_before_create)
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert ark.calls["POST"] == 2
    assert len(ark.created) == 1
    assert ark.calls["LIST"] >= 1


async def test_ambiguous_submit_not_listed_stays_unknown_when_resubmit_is_off() -> None:
    """With resubmit_when_not_listed off, a not-listed ambiguous submit ends unknown."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", _lost_before_create)
    async with running(world, [config("a", resubmit_when_not_listed=False)]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.UNKNOWN
    assert ark.calls["POST"] == 1
    assert not ark.created


async def test_a_task_every_provider_refused_for_now_goes_round_again() -> None:
    """429s that outlast the submit retries do not lose the task: it is offered again later."""
    world = World(["a"])
    for _ in range(5):  # one more than RetryPolicy's 4 attempts per round
        world.arks["a"].fault("POST", rate_limited("1"))
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert [a.outcome for a in result.attempts] == ["refused", "submitted"]
    assert len(world.arks["a"].created) == 1


async def test_refusals_end_rejected_after_the_last_round() -> None:
    """A provider that keeps refusing ends the task rejected after refusal_rounds rounds."""
    world = World(["a"])
    for _ in range(100):
        world.arks["a"].fault("POST", rate_limited("1"))
    async with running(world, [config("a")], refusal_rounds=2) as tracker:
        handle = await tracker.submit(task())
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.REJECTED
    assert [a.outcome for a in result.attempts] == ["refused"] * 3
    assert not world.arks["a"].created


async def test_a_resumed_intent_whose_task_already_succeeded_is_downloaded_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Resuming an intent whose task has ended hands it to exactly one download.

    Regression: the adopted terminal status went to the download stage *and* the task was
    scheduled for another poll, whose answer sent it to the download stage a second time (a
    SIGKILL during that needless second download left a stray ``.part`` file behind).
    """
    world = World(["a"])
    ark = world.arks["a"]
    spec = task(execution_expires_after=86_417)  # as journaled: with its correlation nonce
    request = ArkAdapter().build_submit(spec)
    ark.create_from(request)  # created, then the process died before the answer came back
    await world.clock.run_for(120.0)  # the task runs to the end while nobody watches
    entry = JournalEntry(key="k", task=spec, provider="a", intent_at=world.clock.wall() - 120)
    downloads: list[str] = []

    async def fake_download(
        self: Client, status: TaskStatus, path: str | Path, **_: object
    ) -> DownloadResult:
        downloads.append(status.task_id)
        await world.clock.sleep(30.0)  # long enough for any stray poll to come due meanwhile
        return DownloadResult(path=Path(path), size=1, content_type="video/mp4")

    monkeypatch.setattr(Client, "download", fake_download)
    async with running(world, [config("a")], download_dir=tmp_path) as tracker:
        (tracked,) = await tracker.resume([entry])
        await drive(world, tracker)
        result = await tracked.result()
        gets = ark.calls["GET"]
        await world.clock.run_for(60.0)  # a stray second poll would have been due by now
    assert result.outcome is Outcome.SUCCEEDED, result.reason
    assert result.reason is None
    assert len(ark.created) == 1
    assert downloads == [ark.created[0]["id"]]
    assert ark.calls["GET"] == gets


async def test_a_lag_targeted_schedule_notices_every_end_within_the_lag() -> None:
    """PollSchedule.for_lag(4): each success is seen within 4 s of its end, and once the
    duration is learned a task costs one or two status reads instead of one per 4 s."""
    world = World(["a"])
    ark = world.arks["a"]
    noticed: dict[str, float] = {}
    reads: Counter[str] = Counter()

    def counting(request: HttpRequest) -> HttpResponse:
        ids = [v for k, v in request.query if k == "filter.task_ids"]
        if request.method == "GET" and not request.query:
            ids = [request.path.rsplit("/", 1)[1]]
        reads.update(ids)
        return ark(request)

    def on_event(event: Event) -> None:
        if event.kind is EventKind.SUCCEEDED and event.task_id:
            noticed[event.task_id] = world.clock.now()

    def transport(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(counting)

    async with Client([config("a")], clock=world.clock, transport_factory=transport) as client:
        client.events.add_callback(on_event)
        async with Tracker(client, schedule=PollSchedule.for_lag(4.0), seed=1) as tracker:
            for n in range(30):
                await tracker.submit(task(n))
                await world.clock.run_for(3.0)
            await drive(world, tracker)
    duration = ark.queue_time + ark.run_time
    ends = {str(t["id"]): float(str(t["t0"])) + duration for t in ark.created}
    assert set(noticed) == set(ends)
    lags = [noticed[i] - ends[i] for i in ends]
    assert min(lags) >= 0
    assert max(lags) <= 4.0 + 1e-6
    # Before the first end (35 s) nothing is known: a read every 4 s. Tasks submitted once
    # it was noticed skip straight to about 35 s + 4 s: one read, two when jitter is early.
    cold = [str(t["id"]) for t in ark.created if float(str(t["t0"])) < 1.0]
    warm = [str(t["id"]) for t in ark.created if float(str(t["t0"])) > duration + 4.0]
    assert warm
    assert all(reads[i] >= duration // 4 for i in cold)
    assert all(1 <= reads[i] <= 2 for i in warm), {i: reads[i] for i in warm}


async def test_an_event_stream_ends_when_the_tracker_closes_after_its_last_event() -> None:
    """A reader of ``events_stream()`` finishes when the block is left, and has seen every
    task's final event (emitted just before the tracker went idle and closed)."""
    world = World(["a"])
    seen: list[Event] = []

    async def read(stream: MemoryObjectReceiveStream[Event]) -> None:
        async with stream:
            async for event in stream:
                seen.append(event)

    with anyio.fail_after(30):  # a guard against a stream that never ends, not a timer
        # Leaving the tracker ends the stream: the reader returns and the group exits.
        async with anyio.create_task_group() as tg, running(world, [config("a")]) as tracker:
            tg.start_soon(read, tracker.events_stream())
            for n in range(3):
                await tracker.submit(task(n))
            await drive(world, tracker)
    kinds = Counter(e.kind for e in seen)
    assert kinds[EventKind.SUBMITTED] == 3
    assert kinds[EventKind.SUCCEEDED] == 3


async def test_event_streams_taken_before_opening_or_after_closing_end_too() -> None:
    """A stream taken before ``async with`` gets the events and ends with the tracker; one
    taken after the tracker closed ends at once; an exception in the block ends them too."""
    world = World(["a"])
    async with Client(
        [config("a")], clock=world.clock, transport_factory=world.transport, seed=1
    ) as client:
        schedule = PollSchedule(first_poll=10, min_interval=2, max_interval=10)
        tracker = Tracker(client, schedule=schedule, seed=1)
        early = tracker.events_stream()
        async with tracker:
            await tracker.submit(task())
            await drive(world, tracker)
        with anyio.fail_after(30):  # guards against a stream that never ends, not timers
            async with early:
                early_kinds = [e.kind async for e in early]
            async with tracker.events_stream() as late:
                late_events = [e async for e in late]

        during: list[MemoryObjectReceiveStream[Event]] = []

        async def fail_inside(failing: Tracker) -> None:
            async with failing:
                during.append(failing.events_stream())
                await failing.submit(task(1))
                await world.clock.run_for(1.0)
                raise LookupError("the caller's own error")

        with pytest.raises(ExceptionGroup) as raised:
            await fail_inside(Tracker(client, schedule=schedule, seed=1))
        assert raised.group_contains(LookupError)
        with anyio.fail_after(30):
            async with during[0]:
                during_kinds = [e.kind async for e in during[0]]
    assert early_kinds[0] is EventKind.SUBMITTED
    assert early_kinds[-1] is EventKind.SUCCEEDED
    assert late_events == []
    assert EventKind.SUBMITTED in during_kinds


async def test_results_say_when_the_task_was_sent_seen_running_and_ended() -> None:
    """started_at is when a poll first saw the provider running it: between the two others."""
    world = World(["a"])
    async with running(world, [config("a")]) as tracker:
        handle = await tracker.submit(task(1))
        await drive(world, tracker)
        result = await handle.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert result.submitted_at is not None
    assert result.started_at is not None
    assert result.finished_at is not None
    # FakeArk queues for 5 s and runs for 30 s; polls come every 2-10 s.
    assert result.submitted_at + 5 <= result.started_at < result.finished_at
    assert result.finished_at - result.submitted_at >= 35
