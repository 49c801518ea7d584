"""5. The submit path: client CPU per submit, with validation and journaling.

Method. The simulator (own process, Ark, no limits) accepts every create; tasks then stay
running and the tracker's first poll is pushed past the run, so only submits are measured.
Each side sends ``tasks`` creates of distinct, realistic text-to-video specs with
``concurrency`` in flight; client CPU (all threads: SQLite works in worker threads) and wall
time run from the first submit to the last accepted answer.

* floor: ``session.post(url, json=body)`` with the Ark body built by hand, ``concurrency``
  loops; no validation, no journal.
* Tracker + NullJournal: ``Tracker.submit`` (spec checks per provider, key = spec hash,
  budget, body build and 64 MB check, correlation nonce, at-most-once bookkeeping).
* Tracker + SqliteJournal: the same, with the intent made durable (``synchronous=FULL``)
  before the submit is sent and the handle after it, as the library does by default: the
  price of never paying twice after a crash.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from benchmarks._common import BenchResult, Row, ark_body, cpu_now, sample_task
from benchmarks._simproc import SimServer, SimSpec
from seedance_async import Client, EventKind, PollSchedule, SqliteJournal, Tracker
from seedance_async.journal import Journal, NullJournal
from seedance_async.simulator import DEFAULT_KEY

__all__ = ["run"]

_NO_POLLS = PollSchedule(first_poll=1e6)


async def _floor(server: SimServer, tasks: int, concurrency: int) -> tuple[float, float]:
    cfg = server.config("ark")
    url = cfg.base_url + cfg.options["tasks_path"]
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    # Specs are made before the clock starts, as for the tracker: making a VideoTask runs
    # the spec rules, which is library work the floor must not be charged for.
    specs = iter([sample_task(n) for n in range(tasks)])
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for task in specs:
                async with session.post(url, json=ark_body(task), headers=headers) as resp:
                    resp.raise_for_status()
                    await resp.json()

        cpu, wall = cpu_now(), time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        return cpu_now() - cpu, time.perf_counter() - wall


async def _tracker(
    server: SimServer, tasks: int, concurrency: int, journal: Journal
) -> tuple[float, float]:
    cfg = server.config("ark", submit_rpm=1e9, poll_rps=1e6, max_running=10**6)
    submitted = 0
    all_in = anyio.Event()

    def on_event(event: Any) -> None:
        nonlocal submitted
        if event.kind is EventKind.SUBMITTED:
            submitted += 1
            if submitted >= tasks:
                all_in.set()

    specs = [sample_task(n) for n in range(tasks)]
    async with Client([cfg]) as client:
        client.events.add_callback(on_event)
        with anyio.CancelScope() as scope:
            async with Tracker(
                client, journal=journal, schedule=_NO_POLLS, submit_workers=concurrency
            ) as tracker:
                cpu, wall = cpu_now(), time.perf_counter()
                for spec in specs:
                    await tracker.submit(spec)
                await all_in.wait()
                cpu, wall = cpu_now() - cpu, time.perf_counter() - wall
                scope.cancel()
    return cpu, wall


async def run(*, tasks: int = 1000, concurrency: int = 64) -> BenchResult:
    """CPU per submit: bare POST, Tracker with NullJournal, Tracker with SqliteJournal."""
    result = BenchResult("submit")
    spec = SimSpec(providers=("ark",))
    with SimServer(spec) as server:
        floor = await _floor(server, tasks, concurrency)
    with SimServer(spec) as server:
        null = await _tracker(server, tasks, concurrency, NullJournal())
    with tempfile.TemporaryDirectory(prefix="seedance-bench-") as tmp, SimServer(spec) as server:
        async with SqliteJournal(Path(tmp) / "journal.sqlite") as journal:
            sqlite = await _tracker(server, tasks, concurrency, journal)

    def us(pair: tuple[float, float]) -> float:
        return pair[0] / tasks * 1e6

    def rate(pair: tuple[float, float]) -> float:
        return tasks / pair[1]

    f = result.figures
    f.update(
        floor_cpu_us=us(floor),
        null_cpu_us=us(null),
        sqlite_cpu_us=us(sqlite),
        floor_per_s=rate(floor),
        null_per_s=rate(null),
        sqlite_per_s=rate(sqlite),
    )
    b = "5 submit"
    result.rows += [
        Row(
            b,
            "client CPU per submit, Tracker + NullJournal",
            f"{us(null):.0f} us",
            f"{us(floor):.0f} us",
            f"{us(null) / us(floor):.2f}x",
            "reported",
        ),
        Row(
            b,
            "client CPU per submit, Tracker + SqliteJournal",
            f"{us(sqlite):.0f} us",
            f"{us(floor):.0f} us",
            f"{us(sqlite) / us(floor):.2f}x",
            "reported",
        ),
        Row(
            b,
            f"submits/s ({concurrency} in flight): NullJournal / SqliteJournal",
            f"{rate(null):.0f} / {rate(sqlite):.0f}",
            f"{rate(floor):.0f}",
        ),
    ]
    return result
