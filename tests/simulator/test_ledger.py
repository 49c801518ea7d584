"""The billing ledger, duplicate detection, request log and admin routes."""

from __future__ import annotations

import json

import aiohttp

from seedance_async.simulator import (
    LedgerEntry,
    ManualClock,
    Simulator,
    find_duplicates,
    key_fingerprint,
    max_in_window,
)
from tests.simulator._helpers import ARK_TASKS, KEY, ark_body, call


async def test_ledger_records_creates_with_fingerprints(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Each created task is recorded with its body, id, time and the key's fingerprint only."""
    status, body, _ = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body("one")
    )
    assert status == 200
    (entry,) = sim.ledger()
    assert entry.provider == "ark"
    assert entry.task_id == body["id"]
    assert entry.body == ark_body("one")
    assert entry.key == key_fingerprint(KEY)
    assert KEY not in entry.key
    assert entry.billed
    assert entry.delivery == "answered"


async def test_duplicates_are_identical_bodies(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Two creates with the same body form a duplicate group; different bodies do not."""
    url = sim.base_url("ark") + ARK_TASKS
    for text in ("same", "same", "other"):
        await call(http, "POST", url, json=ark_body(text))
    await call(
        http,
        "POST",
        sim.base_url("chainhub") + "/volc/v1/contents/generations/tasks",
        json=ark_body("same"),
    )
    (group,) = sim.duplicates()
    assert [e.body for e in group] == [ark_body("same")] * 2
    assert {e.provider for e in group} == {"ark"}
    assert sim.duplicates("chainhub") == []


def test_find_duplicates_separates_keys() -> None:
    """The same body sent with two keys is two customers, not a duplicate."""
    entries = [
        LedgerEntry(provider="ark", key=k, task_id=f"t{n}", body={}, digest="d", created_at=0.0)
        for n, k in enumerate(("a", "b", "a"))
    ]
    (group,) = find_duplicates(entries)
    assert [e.task_id for e in group] == ["t0", "t2"]


async def test_admin_routes_serve_books_without_the_key(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """/_sim/ledger, /_sim/stats and /_sim/requests answer JSON without auth and never show the key."""
    url = sim.base_url("ark") + ARK_TASKS
    for n in range(3):
        await call(http, "POST", url, json=ark_body(f"t{n}"))
        clock.advance(10)
    await call(http, "GET", url, headers={})
    root = sim.base_url("ark").removesuffix("/api/v3")
    status, ledger, _ = await call(http, "GET", root + "/_sim/ledger", headers={})
    assert status == 200
    assert [e["task_id"] for e in ledger] == [e.task_id for e in sim.ledger("ark")]
    _, stats, _ = await call(http, "GET", root + "/_sim/stats", headers={})
    assert stats["op.create"] == 3
    assert stats["status.401"] == 1
    _, requests, _ = await call(http, "GET", root + "/_sim/requests", headers={})
    assert [r["op"] for r in requests] == ["create", "create", "create", "list"]
    assert max_in_window((r["time"] for r in requests), 60.0) == 4
    assert max_in_window((r["time"] for r in requests), 15.0) == 2
    dumped = json.dumps([ledger, stats, requests])
    assert KEY not in dumped


def test_max_in_window_counts_half_open_windows() -> None:
    """Timestamps exactly one window apart are never in the same window."""
    assert max_in_window([], 60) == 0
    assert max_in_window([0, 60, 120], 60) == 1
    assert max_in_window([0, 59.9, 60, 61], 60) == 3
