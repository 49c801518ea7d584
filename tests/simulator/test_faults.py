"""Fault injection: every fault fires at its configured rate, reproducibly, without crashing."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
from collections import Counter
from typing import Any

import aiohttp
import pytest

from seedance_async.simulator import Faults, ManualClock, Simulator, parse_faults
from seedance_async.simulator._faults import FaultPlan, roll
from tests.simulator._helpers import ARK_TASKS, AUTH, QUEUE_S, RUN_S, ark_body, call, make_sim

N = 500
RATE = 0.2


async def attempt(http: aiohttp.ClientSession, url: str, body: Any) -> str:
    """What the client saw for one create: a status, or the kind of breakage."""
    try:
        async with http.post(url, json=body, headers=AUTH) as response:
            raw = await response.read()
    except aiohttp.ClientPayloadError:
        return "truncated"
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        return "disconnected"
    try:
        json.loads(raw)
    except ValueError:
        return "malformed"
    return str(response.status)


async def seeded_run(faults: Faults, seed: int) -> tuple[list[str], Simulator]:
    """N sequential creates against Ark with ``faults``; returns what the client saw."""
    clock = ManualClock()
    # POSTs only: aiohttp never retries them on a reused connection, so the client sees
    # exactly one answer (or breakage) per dice roll.
    async with (
        make_sim(clock, seed=seed, faults=faults, providers=("ark",)) as sim,
        aiohttp.ClientSession() as http,
    ):
        url = sim.base_url("ark") + ARK_TASKS
        seen = [await attempt(http, url, ark_body(f"task {n}")) for n in range(N)]
    return seen, sim


# fault field → (counter that must fire at RATE, what the client sees when it fires)
CASES = {
    "rate_limit": "429",
    "server_error": "500",
    "reset": "disconnected",
    "drop_after_create": "disconnected",
    "malformed_json": "malformed",
    "truncated": "truncated",
    "slow": "200",
    "task_failure": "200",
}


@pytest.mark.parametrize("fault", sorted(CASES))
async def test_fault_fires_at_its_rate_reproducibly(fault: str) -> None:
    """Over 500 seeded requests a 0.2 fault fires 15-25% of the time, identically per seed."""
    faults = parse_faults(f"{fault}={RATE},slow_seconds=0")
    seen, sim = await seeded_run(faults, seed=11)
    fired = sim.stats("ark").get(f"fault.{fault}", 0)
    assert 0.15 * N <= fired <= 0.25 * N, fired
    assert sim.stats("ark")["requests"] == N
    if CASES[fault] != "200":
        assert Counter(seen)[CASES[fault]] == fired
    again, sim_again = await seeded_run(faults, seed=11)
    assert again == seen
    assert sim_again.stats("ark") == sim.stats("ark")
    other, sim_other = await seeded_run(faults, seed=12)
    assert sim_other.stats("ark") != sim.stats("ark") or other != seen


async def test_only_created_tasks_are_billed() -> None:
    """429, 5xx and resets create nothing; drops, malformed and truncated answers were created."""
    faults = Faults(
        rate_limit=0.1,
        server_error=0.1,
        reset=0.1,
        drop_after_create=0.1,
        malformed_json=0.1,
        truncated=0.1,
    )
    seen, sim = await seeded_run(faults, seed=5)
    outcome = Counter(seen)
    ledger = sim.ledger("ark")
    stats = sim.stats("ark")
    assert (
        len(ledger)
        == outcome["200"]
        + outcome["malformed"]
        + outcome["truncated"]
        + stats["fault.drop_after_create"]
    )
    deliveries = Counter(entry.delivery for entry in ledger)
    assert deliveries == Counter(
        {
            "answered": outcome["200"],
            "dropped": stats["fault.drop_after_create"],
            "malformed": outcome["malformed"],
            "truncated": outcome["truncated"],
        }
    )
    assert all(entry.billed for entry in ledger)
    assert stats["status.0"] == stats["fault.reset"] + stats["fault.drop_after_create"]


async def test_drop_after_create_bills_while_the_client_sees_a_disconnect(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """The paid task exists (and runs) although the client never got its id."""
    sim.set_faults("ark", Faults(drop_after_create=1.0))
    url = sim.base_url("ark") + ARK_TASKS
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await http.post(url, json=ark_body("lost"), headers=AUTH)
    (entry,) = sim.ledger("ark")
    assert entry.delivery == "dropped"
    assert entry.body == ark_body("lost")
    sim.set_faults("ark", Faults())
    clock.advance(QUEUE_S + RUN_S)
    status, page, _ = await call(http, "GET", url)
    assert status == 200
    assert [(i["id"], i["status"]) for i in page["items"]] == [(entry.task_id, "succeeded")]


async def test_rate_limit_retry_after_seconds_and_date(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Injected 429s carry Retry-After as seconds or as an HTTP date, or not at all."""
    url = sim.base_url("ark") + ARK_TASKS
    sim.set_faults("ark", Faults(rate_limit=1.0))
    status, body, headers = await call(http, "POST", url, json=ark_body())
    assert (status, body["error"]["code"]) == (429, "RateLimitExceeded.EndpointRPMExceeded")
    assert body["error"]["type"] == "TooManyRequests"
    assert "Retry-After" not in headers
    sim.set_faults("ark", Faults(rate_limit=1.0, retry_after=2.5))
    assert (await call(http, "GET", url))[2]["Retry-After"] == "2.5"
    sim.set_faults("ark", Faults(rate_limit=1.0, retry_after=30, retry_after_http_date=True))
    when = email.utils.parsedate_to_datetime((await call(http, "GET", url))[2]["Retry-After"])
    assert when.timestamp() == clock() + 30
    assert sim.ledger() == []


async def test_server_error_uses_the_provider_body_and_status(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A 5xx fault answers the configured status with each provider's own error body."""
    sim.set_faults("ark", Faults(server_error=1.0, server_error_status=503))
    status, body, _ = await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body())
    assert (status, body["error"]["code"]) == (503, "InternalServiceError")
    sim.set_faults("aimlapi", Faults(server_error=1.0))
    status, body, _ = await call(
        http,
        "GET",
        sim.base_url("aimlapi") + "/v2/generate/video/bytedance/generation",
        params={"generation_id": "x"},
    )
    assert (status, body["statusCode"]) == (500, "500")


async def test_slow_answer_times_the_client_out_after_creating(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A slow create is made (and billed) before the client gives up waiting."""
    sim.set_faults("ark", Faults(slow=1.0, slow_seconds=30))
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await http.post(
            sim.base_url("ark") + ARK_TASKS, json=ark_body(), headers=AUTH, timeout=timeout
        )
    assert len(sim.ledger()) == 1
    assert sim.stats("ark")["fault.slow"] == 1


async def test_latency_delays_every_answer(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """``latency`` adds a base delay before each answer."""
    sim.set_faults("ark", Faults(latency=0.05))
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _, _ = await call(http, "GET", sim.base_url("ark") + ARK_TASKS)
    assert status == 200
    assert loop.time() - started >= 0.05


async def test_faults_never_break_the_simulator(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """After every kind of fault on every provider, a clean request still gets a clean answer."""
    chaos = Faults(
        reset=0.2,
        rate_limit=0.2,
        server_error=0.2,
        drop_after_create=0.2,
        malformed_json=0.2,
        truncated=0.2,
    )
    sim.set_faults(None, chaos)
    assert {sim.faults(p) for p in sim.providers} == {chaos}
    url = sim.base_url("ark") + ARK_TASKS
    for n in range(40):
        await attempt(http, url, ark_body(f"t{n}"))
    sim.set_faults("ark", Faults())
    status, body, _ = await call(http, "POST", url, json=ark_body("after"))
    assert status == 200, body
    assert sim.faults("ark") == Faults()


def test_parse_faults_reads_cli_specs() -> None:
    """The CLI spec format maps names to typed fields; None and booleans are understood."""
    faults = parse_faults(
        "rate_limit=0.2, retry_after=1,drop_after_create=0.01,retry_after_http_date=true"
    )
    assert faults == Faults(
        rate_limit=0.2, retry_after=1.0, drop_after_create=0.01, retry_after_http_date=True
    )
    assert parse_faults("retry_after=none", Faults(retry_after=3)).retry_after is None
    assert parse_faults("failure_code=Boom,server_error_status=502") == Faults(
        failure_code="Boom", server_error_status=502
    )


@pytest.mark.parametrize(
    "spec",
    [
        "nope=1",
        "rate_limit",
        "rate_limit=2",
        "retry_after_http_date=maybe",
        "server_error_status=404",
    ],
)
def test_parse_faults_rejects_bad_specs(spec: str) -> None:
    """Unknown names, missing values and out-of-range values are errors."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse_faults(spec)


def test_dice_use_a_fixed_number_of_draws() -> None:
    """Rolling consumes the same randomness whatever the probabilities, so faults are independent."""
    quiet, noisy = random.Random(1), random.Random(1)
    for _ in range(10):
        roll(Faults(), quiet)
        roll(Faults(rate_limit=0.5, reset=0.1, task_failure=0.3), noisy)
    assert quiet.random() == noisy.random()


def test_reset_outranks_every_other_fault() -> None:
    """With every probability at 1 only the reset fires."""
    everything = Faults(
        reset=1,
        rate_limit=1,
        server_error=1,
        drop_after_create=1,
        malformed_json=1,
        truncated=1,
        slow=1,
    )
    assert roll(everything, random.Random(0)) == FaultPlan(reset=True)
