"""The application-facing Client against the simulator: submit, wait, cancel, download."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from seedance_async import (
    Client,
    ConfigurationError,
    DeadlineExceeded,
    PollSchedule,
    ResultExpired,
    TaskNotFound,
    TaskState,
    VideoTask,
)
from seedance_async.config import parse_provider_config
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Limits,
    ManualClock,
    Simulator,
)
from seedance_async.spec import dump_handle, load_handle

PRO = "doubao-seedance-1-0-pro-250528"
FAST = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    async with Simulator(
        ("ark", "aimlapi"),
        clock=clock,
        time_scale=1.0,
        durations=DurationModel.fixed(queue=10, run=60),
        limits=Limits.unlimited(),
        url_ttl=100,
    ) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    configs = parse_provider_config(sim.provider_config())
    async with Client(configs.values(), env={KEY_ENV: DEFAULT_KEY}) as c:
        yield c


async def test_submit_wait_and_download(client: Client, clock: ManualClock, tmp_path: Path) -> None:
    """A submitted task, once finished, is waited for and downloaded whole."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a cat", return_last_frame=True))
    assert load_handle(dump_handle(handle)) == handle
    assert (await client.status(handle)).state is TaskState.QUEUED
    clock.advance(70)
    status = await client.wait(handle, schedule=FAST)
    assert status.state is TaskState.SUCCEEDED
    video = await client.download(status, tmp_path / "v.mp4", handle=handle)
    frame = await client.download(status, tmp_path / "v.png", last_frame=True, handle=handle)
    assert video.path.read_bytes()[4:8] == b"ftyp"
    assert frame.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert video.size == video.path.stat().st_size


async def test_an_expired_result_url_is_fetched_again(
    client: Client, clock: ManualClock, sim: Simulator, tmp_path: Path
) -> None:
    """When a result URL has expired, download asks the provider for a fresh one once."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a dog"))
    clock.advance(70)
    status = await client.status(handle)
    clock.advance(500)  # the signed URL (ttl 100 s) is now stale
    result = await client.download(status, tmp_path / "v.mp4", handle=handle)
    assert result.path.exists()
    codes = [r.status for r in sim.cdn_requests()]
    assert codes == [403, 206]  # every request asks for a range: 206 names the whole size


async def test_an_expired_url_without_a_way_to_refresh_raises(
    client: Client, clock: ManualClock, tmp_path: Path
) -> None:
    """With no provider to ask again, an expired URL raises ResultExpired and writes nothing."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a bird"))
    clock.advance(70)
    status = await client.status(handle)
    clock.advance(500)
    orphan = type(status)(
        provider="nowhere", task_id=status.task_id, state=status.state, video_url=status.video_url
    )
    with pytest.raises(ResultExpired):
        await client.download(orphan, tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()


async def test_cancel_a_queued_task_and_deadline(client: Client) -> None:
    """A queued Ark task can be cancelled; wait() gives up at its deadline, naming the task."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a fish"))
    with pytest.raises(DeadlineExceeded) as caught:
        await client.wait(handle, deadline=0.01, schedule=FAST)
    assert caught.value.handle == handle
    assert caught.value.task_id == handle.task_id
    assert caught.value.provider == "ark"
    result = await client.cancel(handle)
    assert result
    assert result.outcome == "cancelled"
    assert result.state is TaskState.QUEUED
    assert (await client.status(handle)).state is TaskState.CANCELLED
    aiml = await client.submit(VideoTask(model=PRO, prompt="a fish"), provider="aimlapi")
    unsupported = await client.cancel(aiml)  # AI/ML API has no cancel endpoint
    assert not unsupported
    assert unsupported.outcome == "unsupported"


async def test_cancel_leaves_a_finished_task_alone_unless_delete(
    client: Client, clock: ManualClock, sim: Simulator
) -> None:
    """On Ark the cancel request deletes a finished task's record: it is sent only when asked."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a finished fish"))
    clock.advance(70)
    result = await client.cancel(handle)
    assert not result
    assert result.outcome == "already_final"
    assert result.state is TaskState.SUCCEEDED
    assert not [r for r in sim.requests("ark") if r.op == "delete"]
    status = await client.status(handle)  # the record, and its video URL, are still there
    assert status.succeeded
    assert status.video_url
    deleted = await client.cancel(handle, delete=True)
    assert deleted
    assert deleted.outcome == "deleted"
    with pytest.raises(TaskNotFound):
        await client.status(handle)


async def test_cancel_of_a_running_ark_task_is_a_typed_refusal(
    client: Client, clock: ManualClock, sim: Simulator
) -> None:
    """A running Ark task cannot be cancelled: the answer says so; no request is sent."""
    handle = await client.submit(VideoTask(model=PRO, prompt="a running fish"))
    clock.advance(20)  # queued 10 s, then running for 60 s
    result = await client.cancel(handle)
    assert not result
    assert result.outcome == "not_cancellable"
    assert result.state is TaskState.RUNNING
    assert "cannot cancel a running task" in result.detail
    assert not [r for r in sim.requests("ark") if r.op == "delete"]
    assert (await client.status(handle)).state is TaskState.RUNNING


async def test_unknown_alias_and_closed_client_are_configuration_errors(client: Client) -> None:
    """Asking for an alias the client does not have names the known ones."""
    with pytest.raises(ConfigurationError, match="known"):
        client.provider("nope")
    closed = Client(list(client.configs.values()))
    with pytest.raises(ConfigurationError, match="not open"):
        closed.provider("ark")
