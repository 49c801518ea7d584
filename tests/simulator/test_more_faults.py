"""The later request faults: monthly quota, input moderation, unknown status words, 429 codes,
FastAPI-style validation errors; and that adding them left the older dice untouched."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import aiohttp
import pytest

from seedance_async.simulator import Faults, ManualClock, Quirks, Simulator, parse_faults
from seedance_async.simulator._faults import FaultPlan, roll
from tests.simulator._helpers import ARK_TASKS, PRO, QUEUE_S, RUN_S, ark_body, call, make_sim

AIML = "/v2/video/generations"
UNIFIED = "/v2/videos/generations"


# -- AccountQuotaExceeded -----------------------------------------------------------------


async def test_account_quota_is_not_the_short_rate_limit(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """429 ``AccountQuotaExceeded`` naming the reset date (next month, Beijing time)."""
    url = sim.base_url("ark") + ARK_TASKS
    sim.set_faults("ark", Faults(account_quota=1.0))
    status, body, _ = await call(http, "POST", url, json=ark_body())
    error = body["error"]
    assert (status, error["code"], error["type"]) == (
        429,
        "AccountQuotaExceeded",
        "TooManyRequests",
    )
    # The clock starts at 2026-01-01T00:00Z, which is 08:00 on 1 January in Beijing.
    assert "monthly usage quota" in error["message"]
    assert "It will reset at 2026-02-01 00:00:00 +0800 CST." in error["message"]
    assert sim.ledger() == []
    assert sim.stats("ark")["fault.account_quota"] == 1
    assert sim.requests("ark")[-1].fault == "account_quota"
    sim.set_faults("ark", Faults(rate_limit=1.0))
    _, body, _ = await call(http, "POST", url, json=ark_body())
    assert body["error"]["code"] == "RateLimitExceeded.EndpointRPMExceeded"


async def test_account_quota_reset_date_is_configurable(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """``account_quota_reset`` (Unix time) is what the message names, in UTC+8."""
    reset = datetime(2026, 3, 15, 16, 0, tzinfo=UTC).timestamp()
    sim.set_faults("ark", Faults(account_quota=1.0, account_quota_reset=reset))
    _, body, _ = await call(http, "GET", sim.base_url("ark") + ARK_TASKS)
    assert (
        "It will reset at 2026-03-16 00:00:00 +0800 CST. Request id: " in body["error"]["message"]
    )


async def test_account_quota_in_december_resets_in_january(
    http: aiohttp.ClientSession,
) -> None:
    """The default reset rolls over the year."""
    clock = ManualClock(datetime(2026, 12, 20, tzinfo=UTC).timestamp())
    async with make_sim(clock, faults=Faults(account_quota=1.0)) as sim:
        _, body, _ = await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body())
    assert "reset at 2027-01-01 00:00:00 +0800 CST" in body["error"]["message"]


@pytest.mark.parametrize(
    ("provider", "path", "status", "marker"),
    [
        ("gptproto", ARK_TASKS, 429, "AccountQuotaExceeded"),
        ("unified", UNIFIED, 429, "AccountQuotaExceeded"),
        ("aimlapi", AIML, 403, "run out of credits"),
        ("chainhub", "/volc/v1/contents/generations/tasks", 429, "AccountQuotaExceeded"),
    ],
)
async def test_account_quota_on_other_providers(
    sim: Simulator, http: aiohttp.ClientSession, provider: str, path: str, status: int, marker: str
) -> None:
    """Gateways relay Ark's code; AI/ML API answers its documented 403 out of credits."""
    sim.set_faults(provider, Faults(account_quota=1.0))
    got, body, _ = await call(http, "POST", sim.base_url(provider) + path, json=ark_body())
    assert got == status
    assert marker in str(body)
    assert sim.ledger() == []


# -- input moderation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "path", "body", "code"),
    [
        ("ark", ARK_TASKS, ark_body(), "InputTextSensitiveContentDetected"),
        ("gptproto", ARK_TASKS, ark_body(), "content_policy_violation"),
        ("unified", UNIFIED, {"prompt": "x", "model": PRO}, "InputTextSensitiveContentDetected"),
        ("aimlapi", AIML, {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "x"}, None),
    ],
)
async def test_input_moderation_refuses_a_valid_create(
    sim: Simulator,
    http: aiohttp.ClientSession,
    provider: str,
    path: str,
    body: dict[str, object],
    code: str | None,
) -> None:
    """A synchronous 400, nothing created; invalid bodies still get their validation error."""
    sim.set_faults(provider, Faults(input_moderation=1.0))
    url = sim.base_url(provider) + path
    status, answer, _ = await call(http, "POST", url, json=body)
    assert status == 400
    if code is not None:
        assert code in str(answer)
    else:
        assert "moderation" in answer["message"]
    assert sim.ledger() == []
    assert sim.stats(provider)["fault.input_moderation"] == 1
    status, _, _ = await call(http, "POST", url, json={"model": PRO})
    assert status == 400
    assert sim.stats(provider)["fault.input_moderation"] == 1  # validation came first


# -- unknown status words -----------------------------------------------------------------


async def test_unknown_status_word_on_gets_and_lists(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Polls report the configured word instead of the status; creates are untouched."""
    url = sim.base_url("ark") + ARK_TASKS
    sim.set_faults("ark", Faults(unknown_status=1.0, unknown_status_word="paused"))
    _, created, _ = await call(http, "POST", url, json=ark_body())
    assert "status" not in created
    _, task, _ = await call(http, "GET", f"{url}/{created['id']}")
    assert task["status"] == "paused"
    _, page, _ = await call(http, "GET", url)
    assert [item["status"] for item in page["items"]] == ["paused"]
    sim.set_faults("ark", Faults())
    clock.advance(QUEUE_S + RUN_S)
    _, task, _ = await call(http, "GET", f"{url}/{created['id']}")
    assert task["status"] == "succeeded"
    assert sim.stats("ark")["fault.unknown_status"] == 2


@pytest.mark.parametrize(("provider", "path"), [("unified", UNIFIED), ("aimlapi", AIML)])
async def test_unknown_status_word_on_gateways(
    clock: ManualClock, http: aiohttp.ClientSession, provider: str, path: str
) -> None:
    """The default word is ``unknown``, wherever the provider keeps its status."""
    async with make_sim(clock, faults={provider: Faults(unknown_status=1.0)}) as sim:
        url = sim.base_url(provider) + path
        body = {
            "prompt": "x",
            "model": PRO if provider == "unified" else "bytedance/seedance-1-5-pro",
        }
        _, created, _ = await call(http, "POST", url, json=body)
        if provider == "unified":
            _, task, _ = await call(http, "GET", f"{url}/{created['task_id']}")
        else:
            assert created["status"] == "queued"
            _, task, _ = await call(http, "GET", url, params={"generation_id": created["id"]})
    assert task["status"] == "unknown"


async def test_unknown_status_in_a_wrapper(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """In new-api's envelope the gateway's word changes, the upstream Ark task's does not."""
    async with make_sim(
        clock,
        faults={"unified": Faults(unknown_status=1.0)},
        quirks={"unified": Quirks(shape="new_api")},
    ) as sim:
        url = sim.base_url("unified") + UNIFIED
        _, created, _ = await call(http, "POST", url, json={"prompt": "x", "model": PRO})
        _, task, _ = await call(http, "GET", f"{url}/{created['data']}")
    assert task["data"]["status"] == "unknown"
    assert task["data"]["data"]["status"] == "queued"


async def test_unknown_status_fires_at_its_rate(clock: ManualClock) -> None:
    """About 30 % of 300 polls, reproducibly for the seed."""

    async def run(seed: int) -> list[str]:
        async with (
            make_sim(ManualClock(), seed=seed, faults=Faults(unknown_status=0.3)) as sim,
            aiohttp.ClientSession() as http,
        ):
            url = sim.base_url("ark") + ARK_TASKS
            _, created, _ = await call(http, "POST", url, json=ark_body())
            words = []
            for _ in range(300):
                _, task, _ = await call(http, "GET", f"{url}/{created['id']}")
                words.append(task["status"])
            return words

    words = await run(2)
    assert 60 <= Counter(words)["unknown"] <= 120
    assert set(words) == {"queued", "unknown"}
    assert await run(2) == words


# -- Ark's other 429 codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "marker"),
    [
        ("SetLimitExceeded", "spending limit"),
        ("QuotaExceeded", "free quota"),
        ("ServerOverloaded", "overloaded"),
        ("RequestBurstTooFast", "too fast"),
        ("SomethingNew", "SomethingNew"),
    ],
)
async def test_rate_limit_code(
    sim: Simulator, http: aiohttp.ClientSession, code: str, marker: str
) -> None:
    """Injected 429s carry the chosen code (Ark family); the RPM window keeps its own."""
    sim.set_faults(None, Faults(rate_limit=1.0, rate_limit_code=code, retry_after=3))
    status, body, headers = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body()
    )
    assert (status, body["error"]["code"], body["error"]["type"]) == (429, code, "TooManyRequests")
    assert marker in body["error"]["message"]
    assert headers["Retry-After"] == "3"
    status, body, _ = await call(
        http, "POST", sim.base_url("gptproto") + ARK_TASKS, json=ark_body()
    )
    assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")


# -- AI/ML API validation errors, FastAPI style ---------------------------------------------


async def test_aimlapi_fastapi_validation_errors(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """422 with ``detail`` as a list of ``{loc, msg, type}``; other errors keep their shape."""
    async with make_sim(clock, quirks={"aimlapi": Quirks(fastapi_errors=True)}) as sim:
        url = sim.base_url("aimlapi") + AIML
        status, body, _ = await call(
            http, "POST", url, json={"model": "bytedance/seedance-1-0-lite-i2v", "prompt": "x"}
        )
        assert status == 422
        (detail,) = body["detail"]
        assert detail["loc"] == ["body", "image_url"]
        assert (detail["type"], detail["msg"]) == ("missing", "Expected string, received undefined")
        status, body, _ = await call(
            http,
            "POST",
            url,
            json={"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "x", "duration": 7},
        )
        assert (status, body["detail"][0]["type"]) == (422, "value_error")
        assert sim.ledger() == []
        status, body, _ = await call(http, "GET", url, params={"generation_id": "nope"})
        assert (status, body["statusCode"]) == (404, "404")


# -- the dice -------------------------------------------------------------------------------


def test_new_faults_leave_the_old_dice_alone() -> None:
    """The later faults roll from a second generator: the first one's draws, and so every
    seeded run from before, are the same whatever their probabilities."""
    base, more = random.Random(9), random.Random(10)
    twin, twin_more = random.Random(9), random.Random(10)
    plain = Faults(rate_limit=0.3, server_error=0.2)
    extended = Faults(
        rate_limit=0.3,
        server_error=0.2,
        account_quota=0.5,
        input_moderation=0.5,
        unknown_status=0.5,
    )
    for _ in range(50):
        roll(plain, base, more)
        roll(extended, twin, twin_more)
    assert base.random() == twin.random()
    assert more.random() == twin_more.random()
    assert roll(Faults(account_quota=1.0), random.Random(0)) == FaultPlan()  # no second die


def test_account_quota_ranks_between_rate_limit_and_server_error() -> None:
    """reset > rate_limit > account_quota > server_error."""
    both = Faults(account_quota=1.0, server_error=1.0)
    assert roll(both, random.Random(0), random.Random(0)) == FaultPlan(account_quota=True)
    with_429 = Faults(account_quota=1.0, rate_limit=1.0)
    assert roll(with_429, random.Random(0), random.Random(0)) == FaultPlan(rate_limit=True)


def test_new_fault_fields_parse() -> None:
    """The CLI spec format knows the new fields."""
    faults = parse_faults(
        "account_quota=0.1,account_quota_reset=1800000000,input_moderation=0.2,"
        "unknown_status=0.3,unknown_status_word=PAUSED,rate_limit_code=SetLimitExceeded"
    )
    assert faults == Faults(
        account_quota=0.1,
        account_quota_reset=1_800_000_000.0,
        input_moderation=0.2,
        unknown_status=0.3,
        unknown_status_word="PAUSED",
        rate_limit_code="SetLimitExceeded",
    )
