"""The library's own adapters against the simulator: build → send → parse, until succeeded."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from seedance_async.core._errors import (
    AuthenticationFailed,
    PermissionDenied,
    RateLimited,
    TaskNotFound,
)
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, create_adapter
from seedance_async.simulator import Faults, Limits, ManualClock, Simulator
from seedance_async.spec._status import TaskState
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image
from tests.simulator._helpers import KEY, QUEUE_S, RUN_S, make_sim

PRO = "doubao-seedance-1-0-pro-250528"


async def send(
    http: aiohttp.ClientSession,
    adapter: ProviderAdapter,
    base_url: str,
    request: HttpRequest,
    key: str = KEY,
) -> HttpResponse:
    """What a transport does: base URL + path, the adapter's auth headers, JSON body."""
    headers = {**request.headers, **adapter.auth_headers(key)}
    if request.json is not None:
        headers["Content-Type"] = "application/json"
    async with http.request(
        request.method,
        base_url + request.path,
        params=list(request.query),
        data=request.body_bytes(),
        headers=headers,
    ) as response:
        return HttpResponse(
            status=response.status, body=await response.read(), headers=dict(response.headers)
        )


def adapter_for(sim: Simulator, provider: str, **extra: Any) -> tuple[ProviderAdapter, str]:
    """The adapter the simulator's generated provider config asks for."""
    config = sim.provider_config()["providers"][provider]
    return create_adapter(config["adapter"], **{**config["options"], **extra}), config["base_url"]


TASKS = {
    "ark": VideoTask(model=PRO, prompt="a cat", duration=5, return_last_frame=True),
    "chainhub": VideoTask(model=PRO, prompt="a cat", frames=57),
    "gateway000": VideoTask(model=PRO, prompt="a cat"),
    "aimlapi": VideoTask(
        model=PRO,
        prompt="a cat",
        images=(Image.from_url("https://e.com/a.png"),),
        duration=10,
        camera_fixed=True,
    ),
    "unified": VideoTask(
        model=PRO,
        prompt="a cat",
        images=(
            Image.from_url("https://e.com/a.png"),
            Image.from_url("https://e.com/b.png", role="last_frame"),
        ),
        duration=5,
    ),
    "gptproto": VideoTask(
        model="doubao-seedance-1-5-pro-251215", prompt="a cat", duration=6, seed=16108
    ),
}


@pytest.mark.parametrize("provider", sorted(TASKS))
async def test_adapter_drives_the_simulator_to_success(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, provider: str
) -> None:
    """Submit, then poll with the fake clock: queued → running → succeeded with a fetchable video."""
    adapter, base = adapter_for(sim, provider)
    accepted = adapter.parse_submit(
        await send(http, adapter, base, adapter.build_submit(TASKS[provider]))
    )
    states = []
    for step in (0, QUEUE_S, RUN_S):
        clock.advance(step)
        response = await send(http, adapter, base, adapter.build_status(accepted.task_id))
        status = adapter.parse_status(response, accepted.task_id)
        states.append(status.state)
    assert states == [TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED]
    assert status.task_id == accepted.task_id
    assert status.video_url is not None
    assert status.video_url.startswith(sim.cdn_url)
    async with http.get(status.video_url) as video:
        assert video.status == 200
        assert (await video.read())[4:8] == b"ftyp"
    assert all("authorization" not in {h.lower() for h in r.headers} for r in sim.cdn_requests())
    assert len(sim.ledger(provider)) == 1


async def test_ark_adapter_list_and_cancel(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The Ark adapter's list finds its task and its cancel turns a queued task cancelled."""
    adapter, base = adapter_for(sim, "ark")
    accepted = adapter.parse_submit(
        await send(http, adapter, base, adapter.build_submit(TASKS["ark"]))
    )
    list_request = adapter.build_list(ListQuery(task_ids=(accepted.task_id,)))
    assert list_request is not None
    page = adapter.parse_list(await send(http, adapter, base, list_request))
    assert [s.task_id for s in page.items] == [accepted.task_id]
    cancel = adapter.build_cancel(accepted.task_id)
    assert cancel is not None
    adapter.parse_cancel(await send(http, adapter, base, cancel), accepted.task_id)
    status = adapter.parse_status(
        await send(http, adapter, base, adapter.build_status(accepted.task_id)), accepted.task_id
    )
    assert status.state is TaskState.CANCELLED


async def test_gptproto_adapter_raw_auth(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """GPTProto's bare-key auth scheme is accepted too."""
    adapter, base = adapter_for(sim, "gptproto", auth_scheme="raw")
    accepted = adapter.parse_submit(
        await send(http, adapter, base, adapter.build_submit(TASKS["gptproto"]))
    )
    assert accepted.task_id.startswith("cgt-")


@pytest.mark.parametrize("provider", sorted(TASKS))
async def test_adapters_classify_simulated_errors(
    clock: ManualClock, http: aiohttp.ClientSession, provider: str
) -> None:
    """Each provider's error bodies map to the library's error classes."""
    async with make_sim(clock, limits=Limits(credits=1)) as sim:
        adapter, base = adapter_for(sim, provider)
        submit = adapter.build_submit(TASKS[provider])
        wrong_key = await send(http, adapter, base, submit, key="sk-wrong")
        assert isinstance(adapter.classify_error(wrong_key), AuthenticationFailed)
        broke = await send(http, adapter, base, submit)
        assert isinstance(adapter.classify_error(broke), PermissionDenied | RateLimited)
        missing = await send(http, adapter, base, adapter.build_status("no-such-task"))
        assert isinstance(adapter.classify_error(missing), TaskNotFound)
        sim.set_faults(provider, Faults(rate_limit=1.0, retry_after=3))
        limited = adapter.classify_error(await send(http, adapter, base, submit))
        assert isinstance(limited, RateLimited)
        assert limited.retry_after == 3
