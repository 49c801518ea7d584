"""What a routine poll costs the tracker: memory kept per task and work done per poll.

The benchmarks (``benchmarks/README.md``) measure these costs; these tests pin the behaviour
that keeps them low, on a fake clock and an in-memory provider.
"""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from seedance_async import (
    ApiKey,
    Client,
    Outcome,
    PollSchedule,
    ProviderConfig,
    TaskState,
    Tracker,
    VideoTask,
)
from seedance_async.core import HttpRequest, HttpResponse
from seedance_async.policy._poll_schedule import EtaEstimator
from seedance_async.testing import FakeClock, FunctionTransport
from tests.fakes import FakeArk

MODEL = "doubao-seedance-1-0-pro-250528"


async def test_routine_polls_keep_one_stored_status_without_the_raw_answer() -> None:
    """Polls that see nothing new keep the stored status object; it holds no raw answer and
    shares the handle's task id; the final status is stored as received."""
    clock = FakeClock()
    ark = FakeArk(clock.now, queue_time=0.0, run_time=60.0)

    def like_ark(request: HttpRequest) -> HttpResponse:
        # Ark's ``updated_at`` is the time of the last transition, not of the answer.
        response = ark(request)
        if request.method != "GET" or response.status != 200:
            return response
        body = json.loads(response.body)
        body["updated_at"] = body["created_at"]
        return HttpResponse.from_json(200, body)

    config = ProviderConfig(
        alias="a",
        adapter="ark",
        base_url="https://a.example/api/v3",
        api_key=ApiKey("sk-test"),
        options={"can_list": False},
        submit_rpm=6000,
        poll_rps=1000,
    )
    schedule = PollSchedule(first_poll=5, min_interval=5, max_interval=5, jitter=0)
    async with (
        Client(
            [config], clock=clock, transport_factory=lambda *_: FunctionTransport(like_ark)
        ) as c,
        Tracker(c, schedule=schedule, seed=1) as tracker,
    ):
        tracked = await tracker.submit(VideoTask(model=MODEL, prompt="a heron"))
        await clock.run_for(6)
        first = tracked.status
        assert first is not None
        assert first.state is TaskState.RUNNING
        assert first.raw == {}
        assert tracked.handle is not None
        assert first.task_id is tracked.handle.task_id
        gets = ark.calls["GET"]
        await clock.run_for(20)
        assert ark.calls["GET"] >= gets + 3
        assert tracked.status is first
        await clock.run_for(60)
        result = await tracked.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert result.status is not None
    assert result.status.state is TaskState.SUCCEEDED
    assert result.status.raw  # the final answer is kept whole


def test_eta_is_the_median_of_the_recent_window() -> None:
    """The ETA is the median of the last ``window`` durations per (provider, model)."""
    eta = EtaEstimator(window=3)
    assert eta.eta("a", MODEL) is None
    for seconds in (10.0, 30.0, 20.0):
        eta.observe("a", MODEL, seconds)
    assert eta.eta("a", MODEL) == 20.0
    eta.observe("a", MODEL, 100.0)  # 10 leaves the window: 20, 30, 100
    assert eta.eta("a", MODEL) == 30.0
    eta.observe("a", MODEL, 0.0)  # not a duration
    assert eta.eta("a", MODEL) == 30.0
    assert eta.eta("b", MODEL) is None


def test_specs_without_metadata_share_one_read_only_mapping() -> None:
    """Empty metadata costs nothing per spec and still cannot be changed."""
    one, two = VideoTask(model=MODEL, prompt="a"), VideoTask(model=MODEL, prompt="b")
    assert one.metadata is two.metadata
    assert isinstance(one.metadata, MappingProxyType)
    with pytest.raises(TypeError):
        one.metadata["x"] = 1  # type: ignore[index]
    given = {"row": 1}
    three = VideoTask(model=MODEL, prompt="c", metadata=given)
    given["row"] = 2
    assert three.metadata == {"row": 1}
