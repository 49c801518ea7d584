"""An API-key canary: the key never shows up anywhere but the API host's Authorization header."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import attrs
import pytest

from seedance_async import Client, Event, PollSchedule, SqliteJournal, Timeouts, Tracker
from seedance_async.cli._demo import demo_tasks
from seedance_async.config import parse_provider_config
from seedance_async.simulator import Faults, Limits, Simulator
from seedance_async.spec import dump_result

CANARY = "sk-CANARY-7f3a9e"
TIME_SCALE = 0.001


async def test_key_never_leaks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Logs, reprs, errors, events, journal, results and CDN requests never contain the key."""
    caplog.set_level(logging.DEBUG)
    faults = Faults(
        rate_limit=0.2,
        retry_after=0.05,
        server_error=0.1,
        reset=0.05,
        drop_after_create=0.05,
        task_failure=0.1,
    )
    events: list[Event] = []
    async with Simulator(
        ("ark", "aimlapi"),
        api_key=CANARY,
        seed=5,
        time_scale=TIME_SCALE,
        faults=faults,
        limits=Limits.unlimited(),
    ) as sim:
        configs = [
            attrs.evolve(
                c,
                submit_rpm=6000,
                poll_rps=500,
                max_running=50,
                reconcile_settle=0.2,
                timeouts=Timeouts(connect=1, read=1, total=3),
            )
            for c in parse_provider_config(sim.provider_config()).values()
        ]
        async with (
            Client(configs, env={"SEEDANCE_SIM_KEY": CANARY}) as client,
            SqliteJournal(tmp_path / "j.db") as journal,
        ):
            client.events.add_callback(events.append)
            async with Tracker(
                client,
                journal=journal,
                download_dir=tmp_path / "v",
                schedule=PollSchedule().scaled(TIME_SCALE),
            ) as tracker:
                handles = [await tracker.submit(t) for t in demo_tasks(60, seed=5)]
            results = [await h.result() for h in handles]
            seen = [repr(client), *(repr(p) for p in (client.provider(a) for a in client.aliases))]
            seen += [repr(client.provider(a).transport) for a in client.aliases]
        cdn = sim.cdn_requests()
        api_auth = list(sim.requests("ark"))

    assert any(r.ok for r in results)
    assert cdn, "nothing was downloaded"
    for request in cdn:
        assert all(CANARY not in v for v in request.headers.values())
        assert "authorization" not in {k.lower() for k in request.headers}
    assert api_auth  # the API host did get requests (with the key, by design)
    texts = [
        *seen,
        *(repr(e) for e in events),
        *(json.dumps(dump_result(r)) for r in results),
        *(repr(r) for r in results),
        *(r.getMessage() for r in caplog.records),
        *(str(r.exc_info) for r in caplog.records if r.exc_info),
    ]
    for text in texts:
        assert CANARY not in text
    assert not _files_containing(tmp_path, CANARY.encode())


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]
