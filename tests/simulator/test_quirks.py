"""Deployment quirks: served models, activation, other words and envelopes, lag, hidden expiry."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from seedance_async.simulator import DurationModel, Faults, ManualClock, Quirks, Simulator
from tests.simulator._helpers import ARK_TASKS, PRO, QUEUE_S, RUN_S, ark_body, call, make_sim

AIML = "/v2/video/generations"
UNIFIED = "/v2/videos/generations"
LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
SEEDANCE_2 = "doubao-seedance-2-0-260128"


async def unified_task(
    http: aiohttp.ClientSession, sim: Simulator, clock: ManualClock, advance: float
) -> Any:
    """Create on the unified gateway, move the clock, return the raw GET answer."""
    url = sim.base_url("unified") + UNIFIED
    status, created, _ = await call(http, "POST", url, json={"prompt": "x", "model": PRO})
    assert status == 200, created
    data = created.get("data", created) if isinstance(created, dict) else created
    task_id = data if isinstance(data, str) else data["task_id"]
    clock.advance(advance)
    _, task, _ = await call(http, "GET", f"{url}/{task_id}")
    return task


# -- which models a surface serves ------------------------------------------------------------


async def test_unified_serves_only_its_models(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Another model gets 400 ``model_not_found``, nothing is created or billed."""
    async with make_sim(clock, quirks={"unified": Quirks(models={PRO})}) as sim:
        url = sim.base_url("unified") + UNIFIED
        status, body, _ = await call(http, "POST", url, json={"prompt": "x", "model": LITE_T2V})
        assert (status, body["error"]) == (400, "model_not_found")
        assert LITE_T2V in body["message"]
        assert sim.ledger() == []
        assert sim.stats("unified")["refused.model"] == 1
        assert (await call(http, "POST", url, json={"prompt": "x", "model": PRO}))[0] == 200
        assert len(sim.ledger("unified")) == 1


@pytest.mark.parametrize(
    ("provider", "path", "body", "status", "code"),
    [
        ("ark", ARK_TASKS, ark_body(), 404, "InvalidEndpointOrModel.NotFound"),
        (
            "chainhub",
            "/volc/v1/contents/generations/tasks",
            ark_body(),
            404,
            "InvalidEndpointOrModel.NotFound",
        ),
        ("gptproto", ARK_TASKS, ark_body(), 404, "InvalidEndpointOrModel.NotFound"),
        ("aimlapi", AIML, {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "x"}, 400, None),
    ],
)
async def test_every_surface_refuses_unserved_models_its_own_way(
    clock: ManualClock,
    http: aiohttp.ClientSession,
    provider: str,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    """A served-model list on any provider: its unknown-model answer, no charge."""
    only = Quirks(models={"doubao-seedance-1-5-pro-251215", "bytedance/seedance-1-5-pro"})
    async with make_sim(clock, quirks={provider: only}) as sim:
        got, answer, _ = await call(http, "POST", sim.base_url(provider) + path, json=body)
        assert got == status
        if code is not None:
            assert answer["error"]["code"] == code
        if provider == "aimlapi":
            assert answer["message"] == "Body validation error!"
            assert answer["errors"][0]["path"] == "model"
            assert "seedance-1-0-pro-t2v" not in answer["errors"][0]["expected"]
        assert sim.ledger() == []


async def test_ark_model_not_activated(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """404 ``ModelNotOpen`` with Ark's wording, for that model only, nothing billed."""
    async with make_sim(clock, quirks={"ark": Quirks(inactive_models={SEEDANCE_2})}) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        status, body, _ = await call(http, "POST", url, json={**ark_body(), "model": SEEDANCE_2})
        assert status == 404
        error = body["error"]
        assert (error["code"], error["type"], error["param"]) == (
            "ModelNotOpen",
            "NotFound",
            "model",
        )
        assert "has not activated the model" in error["message"]
        assert SEEDANCE_2 in error["message"]
        assert sim.ledger() == []
        assert (await call(http, "POST", url, json=ark_body()))[0] == 200


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"frames": 57}, "frames"),
        ({"camera_fixed": False}, "camera_fixed"),
        ({"service_tier": "default"}, "service_tier"),
        ({"seed": 7}, "seed"),
        ({"draft": True}, "draft"),
    ],
)
async def test_unsupported_parameters_on_2x(
    clock: ManualClock, http: aiohttp.ClientSession, extra: dict[str, Any], param: str
) -> None:
    """With the quirk, Ark refuses 1.x-only parameters on 2.x; without it they pass."""
    body = {**ark_body(), "model": SEEDANCE_2, **extra}
    async with make_sim(clock, quirks={"ark": Quirks(reject_unsupported_params=True)}) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        status, answer, _ = await call(http, "POST", url, json=body)
        assert (status, answer["error"]["code"], answer["error"]["param"]) == (
            400,
            "InvalidParameter",
            param,
        )
        assert sim.ledger() == []
        null_body = {**ark_body(), "model": SEEDANCE_2, **dict.fromkeys(extra)}
        assert (await call(http, "POST", url, json=null_body))[0] == 200  # null = not sent
    async with make_sim(clock) as sim:
        assert (await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=body))[0] == 200


async def test_draft_is_allowed_on_2_5(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """2.5 takes ``draft``; the other legacy fields are still refused there."""
    async with make_sim(clock, quirks={"ark": Quirks(reject_unsupported_params=True)}) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        body = {**ark_body(), "model": "doubao-seedance-2-5-260628", "draft": True}
        assert (await call(http, "POST", url, json=body))[0] == 200
        status, answer, _ = await call(http, "POST", url, json={**body, "seed": 1})
        assert (status, answer["error"]["param"]) == (400, "seed")


# -- words and envelopes ----------------------------------------------------------------------


async def test_aimlapi_may_say_succeeded(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """``status_words`` renames words on the wire, here completed → succeeded."""
    words = Quirks(status_words={"completed": "succeeded", "generating": "processing"})
    async with make_sim(clock, quirks={"aimlapi": words}) as sim:
        url = sim.base_url("aimlapi") + AIML
        body = {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "x"}
        _, created, _ = await call(http, "POST", url, json=body)
        seen = [created["status"]]
        for step in (QUEUE_S, RUN_S):
            clock.advance(step)
            _, polled, _ = await call(http, "GET", url, params={"generation_id": created["id"]})
            seen.append(polled["status"])
        assert seen == ["queued", "processing", "succeeded"]
        assert polled["video"]["url"]
    assert words.word("completed") == "succeeded"
    assert words.word("queued") == "queued"


async def test_unified_fail_reason_only(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A moderation failure is text in ``fail_reason``; no code anywhere in the answer."""
    async with make_sim(
        clock,
        faults={"unified": Faults(task_failure=1.0)},
        quirks={"unified": Quirks(fail_reason_only=True)},
    ) as sim:
        task = await unified_task(http, sim, clock, QUEUE_S + RUN_S)
    assert task["status"] == "FAILURE"
    assert "copyright" in task["fail_reason"]
    assert task["data"] is None
    assert "PolicyViolation" not in str(task)


async def test_unified_new_api_shape(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """new-api's task API: the id as a bare string, then ``data.status``/``data.result_url``."""
    async with make_sim(clock, quirks={"unified": Quirks(shape="new_api")}) as sim:
        url = sim.base_url("unified") + UNIFIED
        status, created, _ = await call(http, "POST", url, json={"prompt": "x", "model": PRO})
        assert status == 200
        assert created["code"] == "success"
        assert isinstance(created["data"], str)
        _, running, _ = await call(http, "GET", f"{url}/{created['data']}")
        assert running["data"]["status"] == "NOT_START"
        assert "result_url" not in running["data"]
        clock.advance(QUEUE_S + RUN_S)
        _, done, _ = await call(http, "GET", f"{url}/{created['data']}")
    assert (done["code"], done["message"]) == ("success", "")
    task = done["data"]
    assert (task["task_id"], task["status"], task["progress"]) == (
        created["data"],
        "SUCCESS",
        "100%",
    )
    assert task["result_url"].startswith(sim.cdn_url)
    upstream = task["data"]  # the upstream Ark task, in Ark's words
    assert (upstream["id"], upstream["status"]) == (created["data"], "succeeded")
    assert upstream["content"]["video_url"] == task["result_url"]


async def test_unified_new_api_failure_keeps_the_upstream_error(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """The upstream Ark error rides along in ``data.data`` unless fail_reason_only."""
    async with make_sim(
        clock,
        faults={"unified": Faults(task_failure=1.0, failure_code="Boom")},
        quirks={"unified": Quirks(shape="new_api")},
    ) as sim:
        task = (await unified_task(http, sim, clock, QUEUE_S + RUN_S))["data"]
        assert (task["status"], task["data"]["error"]["code"]) == ("FAILURE", "Boom")
        sim.set_quirks("unified", Quirks(shape="new_api", fail_reason_only=True))
        task = (await unified_task(http, sim, clock, QUEUE_S + RUN_S))["data"]
        assert (task["status"], task["data"]) == ("FAILURE", None)
        assert task["fail_reason"]


async def test_unified_wrapped_flag_is_a_shape(clock: ManualClock) -> None:
    """``unified_wrapped=True`` is ``Quirks(shape="wrapped")`` unless a shape is given."""
    assert make_sim(clock, unified_wrapped=True).quirks("unified").shape == "wrapped"
    sim = make_sim(clock, unified_wrapped=True, quirks={"unified": Quirks(shape="new_api")})
    assert sim.quirks("unified").shape == "new_api"


async def test_gptproto_older_wrapper(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """``{"code": 0, "message": "Success", "data": {task_id, status, video_url, error}}``."""
    async with make_sim(clock, quirks={"gptproto": Quirks(shape="wrapped")}) as sim:
        url = sim.base_url("gptproto") + ARK_TASKS
        _, created, _ = await call(http, "POST", url, json=ark_body())
        seen = []
        for step in (0, QUEUE_S, RUN_S):
            clock.advance(step)
            _, task, _ = await call(http, "GET", f"{url}/{created['id']}")
            seen.append(task["data"]["status"])
    assert seen == ["pending", "pending", "completed"]
    assert (task["code"], task["message"]) == (0, "Success")
    assert task["data"]["task_id"] == created["id"]
    assert task["data"]["video_url"].startswith(sim.cdn_url)
    assert task["data"]["error"] == ""


# -- time -------------------------------------------------------------------------------------


async def test_status_lag(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A gateway that polls upstream every 15 s reports the state of 15 s ago."""
    async with make_sim(clock, quirks={"ark": Quirks(status_lag=15)}) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        start = clock()
        _, created, _ = await call(http, "POST", url, json=ark_body())
        seen = []
        for at in (QUEUE_S, QUEUE_S + 14.9, QUEUE_S + 15, QUEUE_S + RUN_S, QUEUE_S + RUN_S + 15):
            clock.set(start + at)
            _, task, _ = await call(http, "GET", f"{url}/{created['id']}")
            seen.append((task["status"], task["updated_at"] - start))
        _, page, _ = await call(http, "GET", url, params={"filter.status": "succeeded"})
    assert seen == [
        ("queued", 0),
        ("queued", 0),
        ("running", QUEUE_S),
        ("running", QUEUE_S),
        ("succeeded", QUEUE_S + RUN_S),
    ]
    assert page["total"] == 1


async def test_hidden_expiry_looks_like_running_forever(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Expired and cancelled tasks keep reporting the running word."""
    async with make_sim(
        clock,
        durations=DurationModel.fixed(0, 200_000),
        quirks={"unified": Quirks(hide_expiry=True), "ark": Quirks(hide_expiry=True)},
    ) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        _, expiring, _ = await call(http, "POST", url, json=ark_body(execution_expires_after=3600))
        clock.advance(3600)
        _, task, _ = await call(http, "GET", f"{url}/{expiring['id']}")
        assert task["status"] == "running"
        root = sim.base_url("ark").removesuffix("/api/v3")
        _, truth, _ = await call(http, "GET", root + "/_sim/tasks", headers={})
        assert [t["state"] for t in truth] == ["expired"]
        gateway = await unified_task(http, sim, clock, 172_800)  # the default expiry
        assert gateway["status"] == "IN_PROGRESS"
        assert gateway["finish_time"] == 0


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "quirks", "named"),
    [
        ("unified", Quirks(inactive_models={PRO}), "inactive_models"),
        ("aimlapi", Quirks(shape="wrapped"), "shape"),
        ("ark", Quirks(fail_reason_only=True), "fail_reason_only"),
        ("gptproto", Quirks(shape="new_api"), "shape='new_api'"),
        ("unified", Quirks(fastapi_errors=True), "fastapi_errors"),
    ],
)
def test_unsupported_quirks_are_refused(provider: str, quirks: Quirks, named: str) -> None:
    """A quirk a provider cannot show is an error, never silently ignored."""
    with pytest.raises(ValueError, match=named):
        Simulator((provider,), quirks=quirks)


async def test_set_quirks_is_all_or_nothing(clock: ManualClock) -> None:
    """Setting one quirks object on every provider fails whole when one cannot show it."""
    sim = make_sim(clock)
    with pytest.raises(ValueError, match="fail_reason_only"):
        sim.set_quirks(None, Quirks(fail_reason_only=True))
    assert {sim.quirks(p) for p in sim.providers} == {Quirks()}
    sim.set_quirks(None, Quirks(models={PRO}))
    assert {sim.quirks(p).models for p in sim.providers} == {frozenset({PRO})}
    with pytest.raises(ValueError, match="status_lag"):
        Quirks(status_lag=-1)
    assert Quirks(models="a").models == frozenset({"a"})
