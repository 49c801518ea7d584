"""End to end: the tracker against the real simulator servers, with faults switched on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import attrs

from seedance_async import (
    Client,
    EventKind,
    FailoverPolicy,
    Outcome,
    PollSchedule,
    ProviderConfig,
    RetryPolicy,
    Timeouts,
    Tracker,
)
from seedance_async.cli._demo import demo_tasks
from seedance_async.config import parse_provider_config
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, Faults, Limits, Simulator
from seedance_async.simulator._ledger import max_in_window

TIME_SCALE = 0.001
SUBMIT_RPM = 3000.0  # 50 creates per second per alias: ~7 s for the 333 each gets
POLL_RPS = 200.0

FAULTS = Faults(
    rate_limit=0.2, retry_after=0.05, server_error=0.05, reset=0.02, drop_after_create=0.01
)
# Half the providers send 429s without Retry-After, so the adaptive rate is exercised too.
NO_RETRY_AFTER = attrs.evolve(FAULTS, retry_after=None)


def configs(sim: Simulator) -> list[ProviderConfig]:
    parsed = parse_provider_config(sim.provider_config(), where="simulator")
    return [
        attrs.evolve(
            c,
            submit_rpm=SUBMIT_RPM,
            poll_rps=POLL_RPS,
            max_running=200,
            reconcile_settle=0.2,
            timeouts=Timeouts(connect=2.0, read=2.0, total=5.0),
        )
        for c in parsed.values()
    ]


async def test_two_thousand_tasks_with_faults_end_well_and_are_billed_once() -> None:
    """2,000 tasks with 20% 429s, 5% 5xx, 2% resets and 1% lost answers: all end, none doubled."""
    faults = {
        p: (FAULTS if i % 2 == 0 else NO_RETRY_AFTER)
        for i, p in enumerate(("ark", "chainhub", "gateway000", "aimlapi", "unified", "gptproto"))
    }
    tasks = demo_tasks(2000, seed=3)
    kinds: Counter[EventKind] = Counter()
    async with Simulator(
        seed=3, time_scale=TIME_SCALE, faults=faults, limits=Limits.unlimited()
    ) as sim:
        cfgs = configs(sim)
        aliases = tuple(c.alias for c in cfgs)
        # Backoff scaled down like the simulator's clock, so the test runs in seconds.
        retry = RetryPolicy(base_delay=0.02, max_delay=0.5)
        async with Client(cfgs, env={KEY_ENV: DEFAULT_KEY}, seed=3, retry=retry) as client:
            client.events.add_callback(lambda e: kinds.update([e.kind]))
            policy = FailoverPolicy(providers=aliases, weights=dict.fromkeys(aliases, 1.0))
            async with Tracker(
                client, providers=policy, schedule=PollSchedule().scaled(TIME_SCALE), seed=3
            ) as tracker:
                handles = [await tracker.submit(t) for t in tasks]
            results = [await h.result() for h in handles]

        # Every task ended, and every non-success says why.
        assert len(results) == 2000
        for r in results:
            assert r.outcome in set(Outcome)
            if not r.ok:
                assert r.reason, r
        outcomes = Counter(r.outcome for r in results)
        assert outcomes[Outcome.SUCCEEDED] >= 1800, outcomes

        # The ledger: no prompt was billed twice, anywhere.
        billed: Counter[str | None] = Counter()
        for entry in sim.ledger():
            body = entry.body
            prompt = body.get("prompt") or next(
                (c.get("text") for c in body.get("content", []) if c.get("type") == "text"), None
            )
            billed[prompt] += 1
        assert billed, "nothing billed"
        assert max(billed.values()) == 1, [p for p, n in billed.items() if n > 1][:5]
        # Every success was billed exactly where its handle says.
        ids = {(e.provider, e.task_id) for e in sim.ledger()}
        for r in results:
            if r.ok:
                assert r.handle is not None
                assert (r.handle.provider, r.handle.task_id) in ids

        # The faults really fired and were handled.
        assert kinds[EventKind.RATE_LIMITED] > 100
        assert kinds[EventKind.RECONCILED] > 0

        # Configured rates were never exceeded (the simulator counts creates per key). The
        # client's bucket has no burst; arrivals may bunch by a few requests on the way.
        rate = SUBMIT_RPM / 60
        for provider in aliases:
            creates = [r.time for r in sim.requests(provider) if r.op == "create"]
            assert len(creates) > 2 * rate, provider  # long enough for the check to mean something
            assert max_in_window(creates, 1.0) <= rate * 1.1 + 2, provider
            assert max_in_window(creates, 5.0) <= rate * 5 + 2, provider


async def test_retry_after_is_honoured_by_the_next_submit() -> None:
    """After a 429 with Retry-After: 0.5, the next create on that key comes at least 0.5 s later."""
    retry_after = 0.5
    async with Simulator(("ark",), seed=1, time_scale=TIME_SCALE, limits=Limits.unlimited()) as sim:
        sim.set_faults("ark", Faults(rate_limit=1.0, retry_after=retry_after))
        (cfg,) = configs(sim)
        async with Client([cfg], env={KEY_ENV: DEFAULT_KEY}) as client:

            def lift_faults(event: object) -> None:
                if getattr(event, "kind", None) is EventKind.RATE_LIMITED:
                    sim.set_faults("ark", Faults())

            client.events.add_callback(lift_faults)
            async with Tracker(client, schedule=PollSchedule().scaled(TIME_SCALE)) as tracker:
                handle = await tracker.submit(demo_tasks(1)[0])
            result = await handle.result()
        creates = [r for r in sim.requests("ark") if r.op == "create"]
    assert result.ok
    assert creates[0].status == 429
    assert creates[1].status == 200
    assert creates[1].time - creates[0].time >= retry_after


async def test_a_download_folder_that_does_not_exist_yet_gets_the_videos(tmp_path: Path) -> None:
    """Tracker(download_dir=...) with a missing folder: created, every video lands."""
    folder = tmp_path / "not" / "yet" / "videos"
    async with Simulator(("ark",), time_scale=TIME_SCALE, limits=Limits.unlimited()) as sim:
        async with (
            Client(configs(sim), env={KEY_ENV: DEFAULT_KEY}) as client,
            Tracker(
                client, download_dir=folder, schedule=PollSchedule().scaled(TIME_SCALE)
            ) as tracker,
        ):
            handles = [await tracker.submit(t) for t in demo_tasks(3, seed=5)]
        results = [await h.result() for h in handles]
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 3
    for r in results:
        assert r.reason is None
        assert r.video_path is not None
        assert Path(r.video_path).parent == folder
        assert (await anyio.Path(r.video_path).read_bytes())[4:8] == b"ftyp"
