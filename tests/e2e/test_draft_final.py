"""Draft → final against the simulator: each billed once, a final made at most once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import pytest

from seedance_async import (
    Client,
    InvalidTaskSpec,
    PollSchedule,
    SqliteJournal,
    TaskState,
    Tracker,
    VideoTask,
)
from seedance_async.config import parse_provider_config
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV, DurationModel, Limits, Simulator

PRO15 = "doubao-seedance-1-5-pro-251215"
FAST = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)
TIME_SCALE = 0.002


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(
        ("ark", "chainhub", "aimlapi"),
        seed=3,
        time_scale=TIME_SCALE,
        durations=DurationModel.fixed(queue=1, run=20),
        limits=Limits.unlimited(),
    ) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    configs = parse_provider_config(sim.provider_config())
    fast = [attrs.evolve(c, submit_rpm=6000, poll_rps=500) for c in configs.values()]
    async with Client(fast, env={KEY_ENV: DEFAULT_KEY}) as c:
        yield c


async def test_draft_then_final_each_billed_once(client: Client, sim: Simulator) -> None:
    draft = await client.submit(
        VideoTask(model=PRO15, prompt="a lantern festival", draft=True, seed=5, duration=6),
        provider="ark",
    )
    with pytest.raises(InvalidTaskSpec, match="a final is made from a draft that succeeded"):
        await client.finalize(draft)  # still queued: nothing is sent
    seen = await client.wait(draft, schedule=FAST)
    assert seen.state is TaskState.SUCCEEDED
    assert seen.effective is not None
    assert seen.effective.draft is True
    final = await client.finalize(draft, resolution="720p", watermark=False)
    again = await client.finalize(draft, resolution="720p", watermark=False)
    assert again == final  # the second call pays for nothing
    done = await client.wait(final, schedule=FAST)
    assert done.state is TaskState.SUCCEEDED
    assert done.effective is not None
    assert done.effective.draft_task_id == draft.task_id
    assert (done.effective.seed, done.effective.duration) == (5, 6)  # reused from the draft
    billed = sim.ledger("ark")
    assert [(e.charge, e.task_id) for e in billed] == [
        ("draft", draft.task_id),
        ("final", final.task_id),
    ]
    assert billed[0].tokens < billed[1].tokens
    assert billed[1].body["content"] == [
        {"type": "draft_task", "draft_task": {"id": draft.task_id}}
    ]


async def test_a_plain_video_makes_no_final(client: Client, sim: Simulator) -> None:
    plain = await client.submit(VideoTask(model=PRO15, prompt="x"), provider="ark")
    await client.wait(plain, schedule=FAST)
    with pytest.raises(InvalidTaskSpec, match="not a draft"):
        await client.finalize(plain)
    with pytest.raises(InvalidTaskSpec, match="reuses its draft's seed"):
        VideoTask(model=PRO15, from_draft=plain.task_id, seed=3)
    assert len(sim.ledger()) == 1


async def test_a_journaled_final_is_sent_once_across_runs(
    client: Client, sim: Simulator, tmp_path: Path
) -> None:
    """Two runs of ``finalize`` as a batch: the journal keys the final spec."""
    draft = await client.submit(VideoTask(model=PRO15, prompt="tide pools", draft=True))
    await client.wait(draft, schedule=FAST)
    final = VideoTask(model=PRO15, from_draft=draft.task_id, resolution="720p")
    for _ in range(2):
        async with (
            SqliteJournal(tmp_path / "j.db") as journal,
            Tracker(client, journal=journal, schedule=FAST) as tracker,
        ):
            await tracker.submit(final, provider=draft.provider)
            with anyio.fail_after(10):
                results = [r async for r in tracker.as_completed()]
        assert [r.ok for r in results] == [True]
    assert [e.charge for e in sim.ledger()] == ["draft", "final"]


async def test_finals_run_only_where_drafts_exist(client: Client) -> None:
    final = VideoTask(model=PRO15, from_draft="cgt-20260101000000-abcde")
    assert client.provider("aimlapi").check(final)  # AI/ML API has no drafts
    async with Tracker(client, providers=["aimlapi"], schedule=FAST) as tracker:
        with pytest.raises(InvalidTaskSpec):
            await tracker.submit(final)
