"""Running the same tracker program twice with one journal bills every task once.

The program is the README's tracker example: submit every spec, read ``as_completed()``.
The simulator's ledger is the bill.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import attrs

from seedance_async import (
    Client,
    EventKind,
    Outcome,
    PollSchedule,
    SqliteJournal,
    TaskResult,
    Timeouts,
    Tracker,
    VideoTask,
)
from seedance_async.config import parse_provider_config
from seedance_async.core import Event
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, DurationModel, Limits, Simulator

PRO = "doubao-seedance-1-0-pro-250528"
TIME_SCALE = 0.01  # a 40 s generation takes 0.4 s


def specs(n: int) -> list[VideoTask]:
    return [VideoTask(model=PRO, prompt=f"a paper boat on a pond, take {i}") for i in range(n)]


async def program(
    sim: Simulator,
    journal_path: Path,
    tasks: list[VideoTask],
    videos: Path,
    *,
    stop_after_submits: int | None = None,
) -> list[TaskResult]:
    """The README's tracker example; optionally killed once some submits were answered."""
    configs = [
        attrs.evolve(
            c,
            submit_rpm=6000,
            poll_rps=500,
            reconcile_settle=0.2,
            timeouts=Timeouts(connect=2.0, read=2.0, total=5.0),
        )
        for c in parse_provider_config(sim.provider_config()).values()
    ]
    results: list[TaskResult] = []
    killed = anyio.Event()
    submitted = 0

    def count(event: Event) -> None:
        nonlocal submitted
        if event.kind is EventKind.SUBMITTED:
            submitted += 1
            if stop_after_submits is not None and submitted >= stop_after_submits:
                killed.set()

    async with (
        Client(configs, env={KEY_ENV: DEFAULT_KEY}) as client,
        SqliteJournal(journal_path) as journal,
    ):
        client.events.add_callback(count)
        async with anyio.create_task_group() as tg:

            async def kill() -> None:
                await killed.wait()
                tg.cancel_scope.cancel()  # as a crash would, mid-batch

            if stop_after_submits is not None:
                tg.start_soon(kill)
            async with Tracker(
                client,
                journal=journal,
                download_dir=videos,
                schedule=PollSchedule().scaled(TIME_SCALE),
            ) as tracker:
                for task in tasks:
                    await tracker.submit(task)
                async for result in tracker.as_completed():
                    results.append(result)
            tg.cancel_scope.cancel()
    return results


def billed_prompts(sim: Simulator) -> Counter[str]:
    return Counter(str(e.body.get("content", [{}])[0].get("text")) for e in sim.ledger())


async def test_a_finished_batch_run_again_bills_nothing_and_reports_every_task(
    tmp_path: Path,
) -> None:
    """The second run submits nothing and reports the first run's results."""
    tasks = specs(12)
    async with Simulator(
        ("ark",),
        seed=1,
        time_scale=TIME_SCALE,
        durations=DurationModel.fixed(queue=1, run=40),
        limits=Limits.unlimited(),
    ) as sim:
        first = await program(sim, tmp_path / "j.db", tasks, tmp_path / "videos")
        creates = len([r for r in sim.requests("ark") if r.op == "create"])
        second = await program(sim, tmp_path / "j.db", tasks, tmp_path / "videos")
        assert len([r for r in sim.requests("ark") if r.op == "create"]) == creates
        ledger = sim.ledger()

    downloaded = {p.name for p in (tmp_path / "videos").iterdir()}
    assert {f"{r.key}.mp4" for r in second} == downloaded
    assert len(ledger) == len(tasks)
    assert {r.outcome for r in first} == {Outcome.SUCCEEDED}
    by_key = {r.key: r for r in first}
    assert len(second) == len(tasks)
    for again in second:
        was = by_key[again.key]
        assert again.outcome is was.outcome
        assert again.handle == was.handle
        assert again.video_path == was.video_path
        assert again.video_path is not None
        assert again.attempts == was.attempts
        assert again.task in tasks


async def test_a_killed_batch_run_again_follows_what_was_sent_and_sends_the_rest(
    tmp_path: Path,
) -> None:
    """Killed after some submits: the second run re-attaches those (no second bill), sends
    the tasks never sent, and reports every task."""
    tasks = specs(30)
    async with Simulator(
        ("ark",),
        seed=2,
        time_scale=TIME_SCALE,
        durations=DurationModel.fixed(queue=1, run=40),
        limits=Limits.unlimited(),
    ) as sim:
        first = await program(
            sim, tmp_path / "j.db", tasks, tmp_path / "videos", stop_after_submits=10
        )
        async with SqliteJournal(tmp_path / "j.db") as journal:
            left_running = await journal.unfinished()
        billed_first = len(sim.ledger())
        second = await program(sim, tmp_path / "j.db", tasks, tmp_path / "videos")
        billed = billed_prompts(sim)

    assert len(first) < len(tasks)  # the kill came before the batch was done
    assert left_running, "the kill left no task in flight: the test proves nothing"
    assert billed_first < len(tasks)
    assert sorted(billed) == sorted(t.prompt for t in tasks if t.prompt)
    assert max(billed.values()) == 1, [p for p, n in billed.items() if n > 1]
    assert len(second) == len(tasks)
    assert {r.outcome for r in second} == {Outcome.SUCCEEDED}, [r.reason for r in second]
    downloaded = {p.name for p in (tmp_path / "videos").iterdir()}
    assert {f"{r.key}.mp4" for r in second} == downloaded
