"""3. Budget use: how much of a provider's rate limit the tracker uses, and the 429s it causes.

Method. The simulator (own process) enforces a create limit of ``limit`` requests per
sliding 1-second window per key (``Limits(rpm=limit, window=1.0)``), answering Ark's
``RateLimitExceeded`` 429 (no ``Retry-After``) beyond it; polls are not counted (Ark's
documented RPM is on creates). Tasks run 0.3 s, so the tracker both submits and polls. The
public :class:`Tracker` submits ``tasks`` tasks as fast as its :class:`Budget` allows. The
simulator's request log gives every create's arrival time and answer.

The tracker's submit queue is kept full (more tasks than can be created in the run) for a
fixed time, then the tracker is cancelled: no batch tail distorts the rates.

* known limit: the library is configured at the limit (``submit_rpm = 60 * limit``), the
  way a user copies a documented RPM into the config, with the default ``rate_headroom``
  (2 %). Use = accepted creates in the first ``seconds`` seconds / (limit x seconds); every
  429 is self-inflicted (the simulator injects none). The same run with ``rate_headroom =
  0`` shows what the headroom is for.
* unknown limit: the library is configured at ``overshoot`` times the limit and has to find
  it from 429s (AIMD in :class:`Budget`). Reported: the time until the accepted rate stays
  >= 90 % of the limit in every following second, 429s per accepted create, and tasks the
  tracker gave up on (``rejected``: a submit is retried ``RetryPolicy.max_attempts`` times).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import anyio

from benchmarks._common import BenchResult, Row, sample_task, verdict
from benchmarks._simproc import SimServer, SimSpec
from seedance_async import Client, EventKind, PollSchedule, Tracker

__all__ = ["run"]

TARGET_USE = 0.97
TARGET_CONVERGED = 0.90


async def _drive(
    server: SimServer, submit_rate: float, limit: int, seconds: float, **config: Any
) -> tuple[list[dict[str, Any]], Counter[EventKind]]:
    """Keep the tracker's submit queue full for ``seconds``; the creates the simulator saw."""
    cfg = server.config(
        "ark", submit_rpm=submit_rate * 60, poll_rps=1000.0, max_running=10**6, **config
    )
    kinds: Counter[EventKind] = Counter()
    async with Client([cfg]) as client:
        client.events.add_callback(lambda e: kinds.update([e.kind]))
        with anyio.CancelScope() as scope:
            async with Tracker(client, schedule=PollSchedule().scaled(0.05), seed=1) as tracker:
                for n in range(int(limit * seconds * 2)):  # more than can be created in time
                    await tracker.submit(sample_task(n))
                await anyio.sleep(seconds)
                scope.cancel()
    creates = [r for r in await server.admin("ark", "requests") if r["op"] == "create"]
    return creates, kinds


def _per_second(creates: list[dict[str, Any]], seconds: float) -> list[int]:
    """Accepted creates in each second after the first create, over ``seconds`` seconds."""
    if not creates:
        return []
    start = min(r["time"] for r in creates)
    bins = [0] * int(seconds)
    for r in creates:
        i = int(r["time"] - start)
        if r["status"] == 200 and i < len(bins):
            bins[i] += 1
    return bins


def _converged_after(bins: list[int], limit: float, fraction: float) -> float:
    """Seconds until every later second has at least ``fraction * limit`` accepted creates."""
    converged = len(bins)
    for i in range(len(bins) - 1, -1, -1):
        if bins[i] < fraction * limit:
            break
        converged = i
    return float(converged)


async def run(
    *, limit: int = 50, seconds: float = 8.0, unknown_seconds: float = 12.0, overshoot: float = 2.0
) -> BenchResult:
    """Known limit: achieved / limit and 429s; unknown limit: convergence time and 429s."""
    result = BenchResult("budget")
    spec = SimSpec(providers=("ark",), run=(0.3, 0.3), limits={"rpm": limit, "window": 1.0})
    with SimServer(spec) as server:
        known, known_kinds = await _drive(server, float(limit), limit, seconds + 0.5)
    with SimServer(spec) as server:
        bare, _ = await _drive(server, float(limit), limit, seconds + 0.5, rate_headroom=0.0)
    with SimServer(spec) as server:
        unknown, unknown_kinds = await _drive(
            server, limit * overshoot, limit, unknown_seconds + 0.5
        )
    bins = _per_second(known, seconds)
    use = sum(bins) / (limit * len(bins)) if bins else math.nan
    own_429 = sum(1 for r in known if r["status"] == 429)
    bare_bins = _per_second(bare, seconds)
    bare_use = sum(bare_bins) / (limit * len(bare_bins)) if bare_bins else math.nan
    bare_429 = sum(1 for r in bare if r["status"] == 429)
    u_bins = _per_second(unknown, unknown_seconds)
    u_429 = sum(1 for r in unknown if r["status"] == 429)
    u_ok = sum(1 for r in unknown if r["status"] == 200)
    converged = _converged_after(u_bins, limit, TARGET_CONVERGED)
    u_use = sum(u_bins) / (limit * len(u_bins)) if u_bins else math.nan
    f = result.figures
    f.update(
        known_use=use,
        known_429=own_429,
        known_given_up=known_kinds[EventKind.REJECTED],
        no_headroom_use=bare_use,
        no_headroom_429=bare_429,
        unknown_use=u_use,
        unknown_converged_s=converged,
        unknown_429=u_429,
        unknown_429_per_accepted=u_429 / max(u_ok, 1),
        unknown_given_up=unknown_kinds[EventKind.REJECTED],
    )
    b = "3 budget"
    result.notes.append(f"known limit, accepted per second: {bins}")
    result.notes.append(f"known limit without headroom, accepted per second: {bare_bins}")
    result.notes.append(f"unknown limit, accepted per second: {u_bins}")
    result.rows += [
        Row(
            b,
            f"known limit {limit}/s: accepted creates / limit ({seconds:g} s)",
            f"{use:.1%}",
            "",
            "",
            f">= {TARGET_USE:.0%}",
            verdict(use >= TARGET_USE),
        ),
        Row(
            b,
            f"known limit {limit}/s: self-inflicted 429s",
            str(own_429),
            "",
            "",
            "0",
            verdict(own_429 == 0),
        ),
        Row(
            b,
            f"known limit {limit}/s, rate_headroom 0: accepted / limit; 429s",
            f"{bare_use:.1%}; {bare_429}",
            "",
            "",
            "reported",
        ),
        Row(
            b,
            f"unknown limit (configured {overshoot:g}x): time to >= 90 % of limit",
            f"{converged:.0f} s",
            "",
            f"use {u_use:.1%} over {unknown_seconds:g} s",
            "reported",
        ),
        Row(
            b,
            "unknown limit: 429s per accepted create",
            f"{f['unknown_429_per_accepted']:.2f}",
            "",
            f"{u_429} 429s; {unknown_kinds[EventKind.REJECTED]} tasks given up",
        ),
    ]
    return result
