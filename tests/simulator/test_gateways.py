"""AI/ML API, the unified gateways and GPTProto on the wire."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from seedance_async.simulator import Faults, Limits, ManualClock, Simulator
from tests.simulator._helpers import ARK_TASKS, KEY, PRO, QUEUE_S, RUN_S, ark_body, call, make_sim

AIML = "/v2/generate/video/bytedance/generation"
UNIFIED = "/v2/videos/generations"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# -- AI/ML API ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AIML, "/v2/video/generations"])
async def test_aimlapi_round_trip(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, path: str
) -> None:
    """Create answers the poll schema; polls go queued → generating → completed with a video."""
    url = sim.base_url("aimlapi") + path
    body = {
        "model": "bytedance/seedance-1-0-pro-i2v",
        "prompt": "x",
        "image_url": "https://e.com/a.png",
        "duration": 10,
    }
    status, created, _ = await call(http, "POST", url, json=body)
    assert status == 200
    assert UUID.match(created["id"])
    assert (created["status"], created["video"], created["error"]) == ("queued", None, None)
    seen = []
    for step in (0, QUEUE_S, RUN_S):
        clock.advance(step)
        _, polled, _ = await call(http, "GET", url, params={"generation_id": created["id"]})
        seen.append(polled["status"])
    assert seen == ["queued", "generating", "completed"]
    assert polled["video"]["url"].startswith(sim.cdn_url)
    assert polled["video"]["duration"] == 10
    assert polled["meta"]["usage"]["credits_used"] > 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "bytedance/seedance-1-0-lite-t2v"}, "prompt"),
        ({"model": "bytedance/seedance-1-0-lite-i2v", "prompt": "x"}, "image_url"),
        ({"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "x", "duration": 7}, "duration"),
        (
            {"model": "bytedance/seedance-1-0-lite-t2v", "prompt": "x", "aspect_ratio": "adaptive"},
            "aspect_ratio",
        ),
        ({"model": PRO, "prompt": "x"}, "model"),
        (
            {"model": "bytedance/seedance-1-5-pro", "prompt": "x", "camera_fixed": "yes"},
            "camera_fixed",
        ),
    ],
)
async def test_aimlapi_body_validation(
    sim: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    """Schema violations answer 400 "Body validation error!" naming the field."""
    status, answer, _ = await call(http, "POST", sim.base_url("aimlapi") + AIML, json=body)
    assert status == 400
    assert answer["message"] == "Body validation error!"
    assert answer["statusCode"] == "400"
    assert answer["path"] == AIML
    assert set(answer) >= {"message", "path", "requestId", "statusCode", "timestamp"}
    assert answer["errors"][0]["path"] == field


async def test_aimlapi_accepts_both_camera_spellings(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """``camerafixed`` and ``camera_fixed`` are both read (the docs changed spelling)."""
    url = sim.base_url("aimlapi") + AIML
    for key in ("camerafixed", "camera_fixed"):
        body = {"model": "bytedance/seedance-1-0-lite-t2v", "prompt": "x", key: True}
        assert (await call(http, "POST", url, json=body))[0] == 200


async def test_aimlapi_errors(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """401 bad key, 404 unknown id, 400 missing id, 403 out of credits, 429 rate limit."""
    async with make_sim(clock, limits={"aimlapi": Limits(credits=1)}) as sim:
        url = sim.base_url("aimlapi") + AIML
        body = {"model": "bytedance/seedance-1-0-lite-t2v", "prompt": "x"}
        status, answer, _ = await call(
            http, "POST", url, json=body, headers={"Authorization": "Bearer bad"}
        )
        assert (status, answer["statusCode"]) == (401, "401")
        status, answer, _ = await call(http, "GET", url, params={"generation_id": "nope"})
        assert (status, answer["statusCode"]) == (404, "404")
        assert (await call(http, "GET", url))[0] == 400
        status, answer, _ = await call(http, "POST", url, json=body)
        assert (status, answer["statusCode"]) == (403, "403")
        sim.set_faults("aimlapi", Faults(rate_limit=1.0))
        status, answer, _ = await call(http, "POST", url, json=body)
        assert (status, answer["message"]) == (429, "Too Many Requests")


async def test_aimlapi_failed_generation(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A failed task polls as ``error`` with ``{"name", "message"}``."""
    async with make_sim(clock, faults=Faults(task_failure=1.0, failure_code="Boom")) as sim:
        url = sim.base_url("aimlapi") + AIML
        _, created, _ = await call(
            http, "POST", url, json={"model": "bytedance/seedance-1-5-pro", "prompt": "x"}
        )
        clock.advance(QUEUE_S + RUN_S)
        _, polled, _ = await call(http, "GET", url, params={"generation_id": created["id"]})
        assert polled["status"] == "error"
        assert polled["error"]["name"] == "Boom"
        assert polled["video"] is None


# -- unified --------------------------------------------------------------------------------


async def test_unified_round_trip(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """``{"task_id"}``, then NOT_START/SUBMITTED/QUEUED, IN_PROGRESS with progress, SUCCESS with data."""
    url = sim.base_url("unified") + UNIFIED
    body = {"prompt": "x" * 900, "model": PRO, "images": ["https://e.com/a.png"], "duration": 5}
    status, created, _ = await call(http, "POST", url, json=body)
    assert status == 200
    assert set(created) == {"task_id"}
    seen, progress = [], []
    for step in (0, QUEUE_S / 2, QUEUE_S * 0.4, QUEUE_S * 0.1, RUN_S / 2, RUN_S / 2):
        clock.advance(step)
        _, task, _ = await call(http, "GET", f"{url}/{created['task_id']}")
        seen.append(task["status"])
        progress.append(task["progress"])
    assert seen == ["NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "IN_PROGRESS", "SUCCESS"]
    assert progress == ["0%", "0%", "0%", "0%", "50%", "100%"]
    assert task["data"]["output"] == task["data"]["outputs"][0]
    assert task["finish_time"] - task["submit_time"] == QUEUE_S + RUN_S
    assert task["fail_reason"] == ""
    (entry,) = sim.ledger("unified")
    assert entry.body["prompt"] == "x" * 900  # the ledger keeps what was sent


async def test_unified_wrapped_variant(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """With ``unified_wrapped`` answers come inside ``{"code": "success", "message": "", "data"}``."""
    async with make_sim(clock, unified_wrapped=True) as sim:
        url = sim.base_url("unified") + UNIFIED
        _, created, _ = await call(http, "POST", url, json={"prompt": "x", "model": PRO})
        assert created["code"] == "success"
        task_id = created["data"]["task_id"]
        _, task, _ = await call(http, "GET", f"{url}/{task_id}")
        assert (task["code"], task["message"]) == ("success", "")
        assert task["data"]["task_id"] == task_id


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": PRO}, 400, "invalid_request"),
        ({"prompt": "x", "model": PRO, "duration": 7}, 400, "invalid_request"),
        ({"prompt": "x", "model": PRO, "seed": -1}, 400, "invalid_request"),
        (
            {
                "prompt": "x",
                "model": "doubao-seedance-1-0-lite-t2v-250428",
                "images": ["https://e.com/a.png"],
            },
            400,
            "invalid_request",
        ),
        ({"prompt": "x", "model": "nope"}, 400, "model_not_found"),
    ],
)
async def test_unified_validation(
    sim: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], status: int, code: str
) -> None:
    """Bad bodies answer ``{"message", "error"}``."""
    got, answer, _ = await call(http, "POST", sim.base_url("unified") + UNIFIED, json=body)
    assert (got, answer["error"]) == (status, code)
    assert answer["message"]


async def test_unified_auth_and_failure(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """401 is ``unauthorized``; a failed task is FAILURE with fail_reason and the upstream error."""
    async with make_sim(clock, faults={"unified": Faults(task_failure=1.0)}) as sim:
        url = sim.base_url("unified") + UNIFIED
        status, answer, _ = await call(
            http, "POST", url, json={"prompt": "x", "model": PRO}, headers={}
        )
        assert (status, answer["error"]) == (401, "unauthorized")
        _, created, _ = await call(http, "POST", url, json={"prompt": "x", "model": PRO})
        clock.advance(QUEUE_S + RUN_S)
        _, task, _ = await call(http, "GET", f"{url}/{created['task_id']}")
        assert task["status"] == "FAILURE"
        assert task["fail_reason"]
        assert (
            task["data"]["error"]["code"] == "OutputVideoSensitiveContentDetected.PolicyViolation"
        )


# -- GPTProto -------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [f"Bearer {KEY}", KEY])
async def test_gptproto_round_trip_with_string_numbers(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, authorization: str
) -> None:
    """Bearer or bare key; GET answers carry seed, created_at, updated_at as strings."""
    headers = {"Authorization": authorization}
    base = sim.base_url("gptproto")
    assert base.endswith("/api/v3")
    status, created, _ = await call(
        http, "POST", base + ARK_TASKS, json=ark_body(seed=16108), headers=headers
    )
    assert status == 200
    assert set(created) == {"id"}
    clock.advance(QUEUE_S + RUN_S)
    _, task, headers_out = await call(
        http, "GET", f"{base}{ARK_TASKS}/{created['id']}", headers=headers
    )
    assert task["status"] == "succeeded"
    assert task["seed"] == "16108"
    assert isinstance(task["created_at"], str)
    assert int(task["updated_at"]) - int(task["created_at"]) == QUEUE_S + RUN_S
    assert isinstance(task["duration"], int)
    assert "X-Request-Id" not in headers_out


async def test_gptproto_openai_style_errors(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """invalid_api_key, rate_limit_exceeded and Ark validation codes in ``{"error": {...}}``."""
    url = sim.base_url("gptproto") + ARK_TASKS
    status, body, _ = await call(
        http, "POST", url, json=ark_body(), headers={"Authorization": "Bearer bad"}
    )
    assert (status, body["error"]["code"], body["error"]["type"]) == (
        401,
        "invalid_api_key",
        "invalid_request_error",
    )
    status, body, _ = await call(http, "POST", url, json={"model": PRO})
    assert (status, body["error"]["code"]) == (400, "MissingParameter")
    sim.set_faults("gptproto", Faults(rate_limit=1.0))
    status, body, _ = await call(http, "POST", url, json=ark_body())
    assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")
    sim.set_faults("gptproto", Faults())
    async with http.get(url) as response:  # no list endpoint
        assert response.status in (404, 405)
