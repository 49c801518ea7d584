"""The ``/_sim/tasks`` admin route: every task's timeline, for out-of-process measurements."""

from __future__ import annotations

import aiohttp
import pytest

from seedance_async.simulator import ManualClock, Simulator
from tests.simulator._helpers import ARK_TASKS, KEY, QUEUE_S, RUN_S, ark_body, call


async def test_tasks_route_reports_created_start_and_end_times(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Each task's created/start/end clock times and state, in creation order, without auth."""
    url = sim.base_url("ark") + ARK_TASKS
    _, first, _ = await call(http, "POST", url, json=ark_body("first"))
    first_at = clock()
    clock.advance(30)
    _, second, _ = await call(http, "POST", url, json=ark_body("second"))
    second_at = clock()
    root = sim.base_url("ark").removesuffix("/api/v3")

    status, tasks, _ = await call(http, "GET", root + "/_sim/tasks", headers={})
    assert status == 200
    assert [t["task_id"] for t in tasks] == [first["id"], second["id"]]
    assert [t["state"] for t in tasks] == ["running", "queued"]
    assert tasks[0]["created"] == pytest.approx(first_at)
    assert tasks[0]["start"] == pytest.approx(first_at + QUEUE_S)
    assert tasks[0]["end"] == pytest.approx(first_at + QUEUE_S + RUN_S)
    assert tasks[1]["start"] is None
    assert tasks[1]["end"] is None

    clock.advance(45)  # the first task is done, the second one runs
    _, tasks, _ = await call(http, "GET", root + "/_sim/tasks", headers={})
    assert [t["state"] for t in tasks] == ["succeeded", "running"]
    assert tasks[1]["end"] == pytest.approx(second_at + QUEUE_S + RUN_S)
    assert KEY not in str(tasks)
