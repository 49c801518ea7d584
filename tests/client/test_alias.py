"""ProviderClient's submit path: what counts as "not created" and what stays unknown."""

from __future__ import annotations

import re
import time

import pytest

from seedance_async import (
    ApiKey,
    Client,
    OutcomeUnknown,
    ProviderConfig,
    ProviderUnavailable,
    RetryPolicy,
    VideoTask,
)
from seedance_async.client import SubmitOutcomeUnknown
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers import ProviderAdapter
from seedance_async.spec import task_hash
from seedance_async.testing import FunctionTransport

MODEL = "doubao-seedance-1-0-pro-250528"


def _config() -> ProviderConfig:
    return ProviderConfig(
        alias="a",
        adapter="ark",
        base_url="https://a.example/api/v3",
        api_key=ApiKey("sk-test"),
        submit_rpm=6000,
        poll_rps=1000,
        reconcile_settle=0.01,  # the code's own settle wait, kept tiny (real clock)
    )


async def _submit(handler: object, retry: RetryPolicy | None = None) -> object:
    def factory(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(handler)  # type: ignore[arg-type]

    async with Client([_config()], transport_factory=factory, retry=retry) as client:
        provider = client.provider("a")
        task = VideoTask(model=MODEL, prompt="a cat")
        return await provider.submit(task, spec_hash=task_hash(task))


async def test_a_listing_that_stops_short_of_the_send_time_is_not_proof_of_absence() -> None:
    """Ten full pages of newer tasks do not prove a lost submit created nothing: unknown."""
    posts = 0

    def handler(request: HttpRequest) -> HttpResponse:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            raise OutcomeUnknown("reset", provider="a")
        page = dict(request.query)["page_num"]
        items = [
            {
                "id": f"cgt-{page}-{n}",
                "model": MODEL,
                "status": "queued",
                "created_at": int(time.time()) + 10,
            }
            for n in range(100)
        ]
        # Every listed task carries another expiry, so none matches our nonce.
        for item in items:
            item["execution_expires_after"] = 3600
        return HttpResponse.from_json(200, {"total": 5000, "items": items})

    with pytest.raises(SubmitOutcomeUnknown) as info:
        await _submit(handler)
    assert not info.value.not_found
    assert "did not reach back" in info.value.reason
    assert re.search(r"sent at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", str(info.value))
    assert posts == 1


async def test_not_created_after_every_retry_is_a_refusal_not_an_unknown() -> None:
    """When listing shows each lost submit created nothing, exhausting retries is a refusal."""
    posts = 0

    def handler(request: HttpRequest) -> HttpResponse:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            raise OutcomeUnknown("reset", provider="a")
        return HttpResponse.from_json(200, {"total": 0, "items": []})

    with pytest.raises(ProviderUnavailable) as info:
        await _submit(handler, retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01))
    assert not isinstance(info.value, SubmitOutcomeUnknown)
    assert posts == 2


async def test_relative_result_urls_are_made_absolute_against_the_base_url() -> None:
    """A gateway that names the result relative to itself still gives a downloadable URL."""

    def handler(request: HttpRequest) -> HttpResponse:
        task = {
            "id": "cgt-1",
            "status": "succeeded",
            "content": {"video_url": "/files/cgt-1.mp4", "last_frame_url": "frames/cgt-1.png"},
        }
        if request.path.endswith("/cgt-1"):
            return HttpResponse.from_json(200, task)
        other = {"id": "cgt-2", "status": "succeeded", "content": {"video_url": "https://c/v.mp4"}}
        return HttpResponse.from_json(200, {"total": 2, "items": [task, other]})

    def factory(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(handler)

    async with Client([_config()], transport_factory=factory) as client:
        provider = client.provider("a")
        one = await provider.status("cgt-1")
        many = await provider.statuses(["cgt-1", "cgt-2"])
    assert one.video_url == "https://a.example/files/cgt-1.mp4"
    assert one.last_frame_url == "https://a.example/api/v3/frames/cgt-1.png"
    assert many["cgt-1"] == one
    assert many["cgt-2"].video_url == "https://c/v.mp4"
