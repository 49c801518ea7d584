"""The blocking façade: the async core on a private loop thread, usable inside a running loop.

The simulator runs on a loop of its own (another thread), as a real provider would be
elsewhere: the calls under test block their thread, so nothing they wait for may run on it.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import anyio
import attrs
import pytest
from anyio.from_thread import start_blocking_portal

from seedance_async import (
    ConfigurationError,
    DeadlineExceeded,
    PollSchedule,
    ProviderConfig,
    TaskState,
    VideoTask,
    sync,
)
from seedance_async.client import Generation
from seedance_async.config import parse_provider_config
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Limits,
    ManualClock,
    Simulator,
)
from seedance_async.sync import SyncClient
from seedance_async.sync._portal import _wait

PRO = "doubao-seedance-1-0-pro-250528"
FAST = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)
ENV = {KEY_ENV: DEFAULT_KEY}


def _serve(simulator: Simulator) -> Iterator[Simulator]:
    with (
        start_blocking_portal(name="simulator") as portal,
        portal.wrap_async_context_manager(simulator) as running,
    ):
        yield running


@pytest.fixture
def quick() -> Iterator[Simulator]:
    """Tasks that end within milliseconds, served from another thread."""
    yield from _serve(
        Simulator(
            ("ark",),
            time_scale=0.001,
            durations=DurationModel.fixed(queue=1, run=5),
            limits=Limits.unlimited(),
        )
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def frozen(clock: ManualClock) -> Iterator[Simulator]:
    """Tasks that move only when the test advances the clock (queued 10 s, then 60 s)."""
    yield from _serve(
        Simulator(
            ("ark",),
            clock=clock,
            time_scale=1.0,
            durations=DurationModel.fixed(queue=10, run=60),
            limits=Limits.unlimited(),
        )
    )


def _configs(sim: Simulator) -> dict[str, ProviderConfig]:
    return {
        alias: attrs.evolve(c, submit_rpm=60_000.0, poll_rps=10_000.0)
        for alias, c in parse_provider_config(sim.provider_config()).items()
    }


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "seedance-async-loop"]


def test_generate_without_an_event_loop(quick: Simulator, tmp_path: Path) -> None:
    """A script: one blocking call, the video on disk, the loop thread gone afterwards."""
    result = sync.generate(
        VideoTask(model=PRO, prompt="a script"),
        tmp_path / "out" / "v.mp4",
        provider="ark",
        config=_configs(quick),
        env=ENV,
        schedule=FAST,
    )
    assert result.path.read_bytes()[4:8] == b"ftyp"
    assert [e.task_id for e in quick.ledger("ark")] == [result.handle.task_id]
    assert _loop_threads() == []


def test_generate_inside_a_running_event_loop(quick: Simulator, tmp_path: Path) -> None:
    """As in a notebook cell: a plain function called where an asyncio loop is running."""
    configs = _configs(quick)

    def cell() -> Generation:  # what the user writes: no await
        return sync.generate(
            VideoTask(model=PRO, prompt="a notebook"),
            tmp_path / "v.mp4",
            provider="ark",
            config=configs,
            env=ENV,
            schedule=FAST,
        )

    async def notebook() -> Generation:
        asyncio.get_running_loop()  # a loop runs in this thread, as Jupyter's does
        return cell()

    result = asyncio.run(notebook())
    assert result.status.state is TaskState.SUCCEEDED
    assert result.path.stat().st_size == result.size


def test_sync_client_submit_status_wait_download(quick: Simulator, tmp_path: Path) -> None:
    """Client's calls, blocking, on one loop thread for the client's life."""
    with SyncClient(_configs(quick).values(), env=ENV) as client:
        assert client.aliases == ["ark"]
        handle = client.submit(VideoTask(model=PRO, prompt="step by step"))
        assert client.status(handle).task_id == handle.task_id
        status = client.wait(handle, schedule=FAST)
        assert status.succeeded
        saved = client.download(status, tmp_path / "v.mp4", handle=handle)
        assert saved.path.read_bytes()[4:8] == b"ftyp"
        done = client.cancel(handle)  # finished: left alone, not deleted
        assert done.outcome == "already_final"
        again = client.generate(
            VideoTask(model=PRO, prompt="and in one"), tmp_path / "w.mp4", schedule=FAST
        )
        assert again.handle.provider == "ark"
        assert len(_loop_threads()) == 1
    assert _loop_threads() == []
    assert len(quick.ledger("ark")) == 2


def test_sync_client_deadline_and_cancel(
    frozen: Simulator, clock: ManualClock, tmp_path: Path
) -> None:
    """wait's deadline hands the task back; cancel of a queued task works; generate's too."""
    client = SyncClient(_configs(frozen).values(), env=ENV).open()  # notebook style
    try:
        handle = client.submit(VideoTask(model=PRO, prompt="queued"))
        with pytest.raises(DeadlineExceeded) as caught:
            client.wait(handle, deadline=0.02, schedule=FAST)
        assert caught.value.handle == handle
        assert client.cancel(handle).outcome == "cancelled"
        with pytest.raises(DeadlineExceeded) as late:
            sync.generate(
                VideoTask(model=PRO, prompt="late"),
                tmp_path / "v.mp4",
                client=client,
                deadline=0.02,
                schedule=FAST,
            )
        assert late.value.handle is not None
        assert not late.value.cancelled
        clock.advance(100)
        assert client.wait(late.value.handle, schedule=FAST).succeeded
    finally:
        client.close()
    client.close()  # idempotent


def test_unopened_client_and_wrong_arguments_are_configuration_errors() -> None:
    """Calls need an open client; aliases are checked when the client is built."""
    client = SyncClient(["ark"])
    assert "closed" in repr(client)
    with pytest.raises(ConfigurationError, match="not open"):
        client.status(mock.sentinel.handle)
    with pytest.raises(ConfigurationError, match="unknown provider alias 'nope'"):
        SyncClient(["nope"])
    with pytest.raises(ConfigurationError, match="config and env belong to the SyncClient"):
        sync.generate(VideoTask(model=PRO, prompt="x"), "v.mp4", client=client, env=ENV)


def test_a_client_never_closed_is_closed_when_collected(quick: Simulator) -> None:
    """A notebook that forgets close() does not leave a loop thread behind."""
    client = SyncClient(_configs(quick).values(), env=ENV).open()
    assert len(_loop_threads()) == 1
    del client
    gc.collect()
    assert _loop_threads() == []


def test_an_interrupted_wait_cancels_the_call_in_the_loop_thread() -> None:
    """Ctrl-C in the calling thread also stops the coroutine it was waiting for."""
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    with start_blocking_portal() as portal:
        future = portal.start_task_soon(forever)
        assert started.wait(10)
        with (
            mock.patch.object(future, "result", side_effect=KeyboardInterrupt),
            pytest.raises(KeyboardInterrupt),
        ):
            _wait(future)
        assert cancelled.wait(10)
