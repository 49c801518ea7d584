"""``generate``: one call from a spec to a file, against the simulator, with its safety kept."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from seedance_async import (
    Client,
    ConfigurationError,
    DeadlineExceeded,
    GenerationFailed,
    InvalidTaskSpec,
    PollSchedule,
    ProviderConfig,
    SqliteJournal,
    TaskState,
    VideoTask,
    generate,
)
from seedance_async.client import Generation
from seedance_async.config import parse_provider_config
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Faults,
    Limits,
    ManualClock,
    Simulator,
)
from seedance_async.spec import task_hash

PRO = "doubao-seedance-1-0-pro-250528"
FAST = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)
ENV = {KEY_ENV: DEFAULT_KEY}


def _configs(sim: Simulator) -> dict[str, ProviderConfig]:
    return {
        alias: attrs.evolve(c, submit_rpm=60_000.0, poll_rps=10_000.0, reconcile_settle=0.05)
        for alias, c in parse_provider_config(sim.provider_config()).items()
    }


@pytest.fixture
async def quick() -> AsyncIterator[Simulator]:
    """Tasks that end in a few milliseconds of real time."""
    async with Simulator(
        ("ark", "aimlapi"),
        time_scale=0.001,
        durations=DurationModel.fixed(queue=1, run=5),
        limits=Limits.unlimited(),
    ) as s:
        yield s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def frozen(clock: ManualClock) -> AsyncIterator[Simulator]:
    """Tasks that move only when the test advances the clock (queued 10 s, running 60 s)."""
    async with Simulator(
        ("ark",),
        clock=clock,
        time_scale=1.0,
        durations=DurationModel.fixed(queue=10, run=60),
        limits=Limits.unlimited(),
    ) as s:
        yield s


def _creates(sim: Simulator, provider: str = "ark") -> int:
    return sum(1 for r in sim.requests(provider) if r.op == "create")


async def test_one_call_submits_waits_and_downloads(quick: Simulator, tmp_path: Path) -> None:
    """The video lands (in a folder created for it), paid for once, with its task's handle."""
    dest = tmp_path / "out" / "nested" / "corgi.mp4"
    task = VideoTask(model=PRO, prompt="a corgi surfing", return_last_frame=True)
    result = await generate(
        task,
        dest,
        provider="ark",
        config=_configs(quick),
        env=ENV,
        schedule=FAST,
        last_frame_path=tmp_path / "out" / "corgi.png",
    )
    assert isinstance(result, Generation)
    assert result.path == dest
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert result.size == dest.stat().st_size
    assert result.last_frame_path == tmp_path / "out" / "corgi.png"
    assert result.last_frame_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.status.state is TaskState.SUCCEEDED
    assert result.handle.provider == "ark"
    assert [e.task_id for e in quick.ledger("ark")] == [result.handle.task_id]


async def test_provider_as_a_config_and_inside_a_given_client(
    quick: Simulator, tmp_path: Path
) -> None:
    """A ProviderConfig works on its own; with a client, its aliases (and only they) do."""
    configs = _configs(quick)
    task = VideoTask(model=PRO, prompt="a config")
    alone = await generate(
        task, tmp_path / "a.mp4", provider=configs["aimlapi"], env=ENV, schedule=FAST
    )
    assert alone.handle.provider == "aimlapi"
    async with Client(configs.values(), env=ENV) as client:
        default = await generate(
            VideoTask(model=PRO, prompt="default alias"),
            tmp_path / "b.mp4",
            client=client,
            schedule=FAST,
        )
        assert default.handle.provider == "ark"  # the client's first alias
        with pytest.raises(ConfigurationError, match="known"):
            await generate(task, tmp_path / "c.mp4", provider="nope", client=client)
        assert client.aliases == ["ark", "aimlapi"]  # still open: generate left it alone
        assert (await client.status(default.handle)).succeeded


async def test_bad_arguments_fail_before_anything_is_sent(tmp_path: Path) -> None:
    """No provider, an unknown alias, a bad deadline, a last frame not asked for: typed errors."""
    task = VideoTask(model=PRO, prompt="never sent")
    with pytest.raises(ConfigurationError, match="name a provider"):
        await generate(task, tmp_path / "v.mp4")
    with pytest.raises(ConfigurationError, match="unknown provider alias 'arc'"):
        await generate(task, tmp_path / "v.mp4", provider="arc")
    lost = ProviderConfig(
        alias="x", adapter="ark", base_url="https://x.invalid", key_env="SEEDANCE_TEST_NO_KEY"
    )
    with pytest.raises(ConfigurationError, match="SEEDANCE_TEST_NO_KEY"):
        await generate(task, tmp_path / "v.mp4", provider=lost, env={})
    with pytest.raises(ValueError, match="deadline"):
        await generate(task, tmp_path / "v.mp4", provider="ark", deadline=0)
    with pytest.raises(InvalidTaskSpec, match="return_last_frame"):
        await generate(task, tmp_path / "v.mp4", provider="ark", last_frame_path="f.png")
    assert not (tmp_path / "v.mp4").exists()


async def test_a_failed_generation_raises_with_its_status(tmp_path: Path) -> None:
    """A task that ends failed is GenerationFailed, carrying the provider's reason."""
    async with Simulator(
        ("ark",),
        time_scale=0.001,
        durations=DurationModel.fixed(queue=1, run=1),
        limits=Limits.unlimited(),
        faults=Faults(task_failure=1.0),
    ) as sim:
        with pytest.raises(GenerationFailed) as caught:
            await generate(
                VideoTask(model=PRO, prompt="doomed"),
                tmp_path / "v.mp4",
                provider="ark",
                config=_configs(sim),
                env=ENV,
                schedule=FAST,
            )
    assert caught.value.status.state is TaskState.FAILED
    assert not (tmp_path / "v.mp4").exists()


async def test_a_deadline_hands_back_the_running_task_and_cancels_nothing(
    frozen: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    """DeadlineExceeded names the remote task, which still runs; the journal picks it up later."""
    configs = _configs(frozen)
    task = VideoTask(model=PRO, prompt="slow")
    journal = tmp_path / "gen.db"
    with pytest.raises(DeadlineExceeded) as caught:
        await generate(
            task,
            tmp_path / "v.mp4",
            provider="ark",
            config=configs,
            env=ENV,
            deadline=0.05,
            journal=journal,
            schedule=FAST,
        )
    handle = caught.value.handle
    assert handle is not None
    assert caught.value.task_id == handle.task_id
    assert caught.value.provider == "ark"
    assert not caught.value.cancelled
    assert caught.value.status.state is TaskState.QUEUED
    assert handle.task_id in str(caught.value)
    assert not [r for r in frozen.requests("ark") if r.op == "delete"]
    clock.advance(100)  # the task finishes meanwhile
    # Same call, same journal: it re-attaches to that task instead of paying again.
    result = await generate(
        task,
        tmp_path / "v.mp4",
        provider="ark",
        config=configs,
        env=ENV,
        journal=journal,
        schedule=FAST,
    )
    assert result.handle == handle
    assert result.path.read_bytes()[4:8] == b"ftyp"
    assert _creates(frozen) == 1
    # And once more: the journal says the file is there, so no request is made at all.
    requests = len(frozen.requests("ark"))
    again = await generate(
        task, tmp_path / "v.mp4", provider="ark", config=configs, env=ENV, journal=journal
    )
    assert again.handle == handle
    assert again.size == result.size
    assert len(frozen.requests("ark")) == requests


async def test_cancel_on_deadline_cancels_a_queued_task(frozen: Simulator, tmp_path: Path) -> None:
    """Asked for, the deadline cancels a task that has not started; calling again with the
    journal then pays for a new one (the cancelled one can give no video)."""
    configs = _configs(frozen)
    task = VideoTask(model=PRO, prompt="cancel me")
    journal = tmp_path / "j.db"
    with pytest.raises(DeadlineExceeded) as caught:
        await generate(
            task,
            tmp_path / "v.mp4",
            provider="ark",
            config=configs,
            env=ENV,
            deadline=0.05,
            cancel_on_deadline=True,
            journal=journal,
            schedule=FAST,
        )
    assert caught.value.cancelled
    assert "cancelled remotely" in str(caught.value)
    assert caught.value.handle is not None
    async with Client(configs.values(), env=ENV) as client:
        assert (await client.status(caught.value.handle)).state is TaskState.CANCELLED
        with pytest.raises(ConfigurationError, match="belong to the client"):
            await generate(task, tmp_path / "v.mp4", client=client, env=ENV)
    with pytest.raises(DeadlineExceeded) as again:
        await generate(
            task,
            tmp_path / "v.mp4",
            provider="ark",
            config=configs,
            env=ENV,
            deadline=0.05,
            journal=journal,
            schedule=FAST,
        )
    assert again.value.handle is not None
    assert again.value.handle != caught.value.handle  # a new task, not the cancelled one
    assert _creates(frozen) == 2


async def test_cancel_on_deadline_of_a_running_ark_task_says_it_cannot(
    frozen: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    """A running Ark task cannot be cancelled: the error says so, and the task goes on."""
    configs = _configs(frozen)
    task = VideoTask(model=PRO, prompt="running")
    async with Client(configs.values(), env=ENV) as client:
        handle = await client.submit(task)
        clock.advance(20)  # running now
        journal = tmp_path / "j.db"
        async with SqliteJournal(journal) as opened:
            await opened.record_intent(task_hash(task), task, "ark", 0, handle.created_at)
            await opened.record_submitted(task_hash(task), handle)
        with pytest.raises(DeadlineExceeded) as caught:
            await generate(
                task,
                tmp_path / "v.mp4",
                client=client,
                deadline=0.05,
                cancel_on_deadline=True,
                journal=journal,
                schedule=FAST,
            )
        assert caught.value.handle == handle  # re-attached from the journal, not resubmitted
        assert not caught.value.cancelled
        assert "cannot cancel a running task" in str(caught.value)
        assert (await client.status(handle)).state is TaskState.RUNNING
    assert _creates(frozen) == 1


async def test_an_interrupted_submit_in_the_journal_is_reconciled_not_resent_blindly(
    tmp_path: Path,
) -> None:
    """An intent sent without a remote id: the provider's list is checked first; it showed
    nothing, so the task is sent (once). A lost submit answer is adopted, not resent."""
    async with Simulator(
        ("ark",),
        time_scale=0.001,
        durations=DurationModel.fixed(queue=1, run=1),
        limits=Limits.unlimited(),
        faults=Faults(drop_after_create=1.0),
    ) as sim:
        task = VideoTask(model=PRO, prompt="interrupted")
        journal = tmp_path / "j.db"
        async with SqliteJournal(journal) as opened:
            await opened.record_intent(task_hash(task), task, "ark", 0, time.time())
            await opened.record_sent(task_hash(task), time.time())
        result = await generate(
            task,
            tmp_path / "v.mp4",
            provider="ark",
            config=_configs(sim),
            env=ENV,
            journal=journal,
            schedule=FAST,
        )
        lists = [r for r in sim.requests("ark") if r.op == "list"]
        assert lists  # looked before sending
        assert [e.task_id for e in sim.ledger("ark")] == [result.handle.task_id]
        async with SqliteJournal(journal) as opened:
            record = await opened.get(task_hash(task))
        assert record is not None
        assert record.result is not None
        assert record.result.outcome == "succeeded"
        assert record.result.video_path == str(tmp_path / "v.mp4")
        assert not sim.duplicates()


async def test_an_intent_never_sent_is_submitted_again_without_listing(tmp_path: Path) -> None:
    """The earlier call stopped before its request left (no send stamp): nothing can exist
    remotely, so the task is sent at once, and the new send is stamped."""
    async with Simulator(
        ("ark",),
        time_scale=0.001,
        durations=DurationModel.fixed(queue=1, run=1),
        limits=Limits.unlimited(),
    ) as sim:
        task = VideoTask(model=PRO, prompt="never left")
        journal = tmp_path / "j.db"
        async with SqliteJournal(journal) as opened:
            await opened.record_intent(task_hash(task), task, "ark", 0, time.time() - 3600)
        result = await generate(
            task,
            tmp_path / "v.mp4",
            provider="ark",
            config=_configs(sim),
            env=ENV,
            journal=journal,
            schedule=FAST,
        )
        assert [r.op for r in sim.requests("ark") if r.op == "list"] == []
        assert [e.task_id for e in sim.ledger("ark")] == [result.handle.task_id]
        async with SqliteJournal(journal) as opened:
            kinds = [e["kind"] for e in await opened.events(task_hash(task))]
        assert kinds[:4] == ["intent", "intent", "sent", "submitted"]
