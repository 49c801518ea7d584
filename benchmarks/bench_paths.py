"""6. Every request path against bare aiohttp: client CPU per request, in one run.

Method. Two simulators run in their own processes: one for the creates (Ark flavour, no
limits), one holding ``n_tasks`` tasks that stay ``running`` for good on the simulator's
``gateway000`` Ark gateway (no list endpoint, so the library sends one ``GET /{id}`` per
status, like the floor) and ``n_tasks`` more on the Ark flavour (list endpoint, up to 50
ids per call).
Each path is a pair, floor and library, run back to back; the pairs run in turn for
``rounds`` rounds and the order inside each pair flips every round, so a neighbour's load
hits both sides alike. Client CPU is ``time.process_time()`` of this process (every thread);
the simulator's CPU is its own. Reported: each side's median CPU per request, and the median
of the per-round ratios with their range.

* ``Client.submit``: ``tasks`` distinct text-to-video specs, ``concurrency`` in flight,
  against ``session.post(url, json=body)`` with the same Ark body built by hand. CPU from the
  first submit to the last answer, per create the simulator accepted.
* ``Client.status``: ``concurrency`` loops polling the tasks round-robin as fast as they go,
  against ``session.get(url)`` → ``resp.json()`` in as many loops. CPU over a ``seconds``
  window after ``warmup``, per GET the simulator served in that window.
* Tracker polls, paced: the public :class:`Tracker` following the tasks (``resume``) with
  every task due every ``interval`` seconds, against one sleeping loop per task.
* Tracker polls, flat out: the same with a zero-wait schedule and ``concurrency`` poll
  workers, against ``concurrency`` loops as fast as they go.
* Ark batched list polls: the tracker on the Ark flavour, where one list call answers up to
  ``list_batch`` tasks, paced as above, against one sleeping loop per ``list_batch`` ids
  that sends the same ``GET {tasks}?page_num=1&page_size=N&filter.task_ids=...`` and reads
  every item's status. CPU per task status received (both sides count them client-side).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio

from benchmarks._common import (
    BenchResult,
    Row,
    ark_body,
    cpu_now,
    paired_ratio,
    ratio_cell,
    sample_task,
    verdict,
)
from benchmarks._simproc import SimServer, SimSpec
from benchmarks.bench_poll_cpu import (
    Sample,
    _bare_loop,
    _drive,
    _tracker_loop,
    _Window,
    create_tasks,
    entries_for,
)
from seedance_async import Client, ProviderConfig, TaskHandle
from seedance_async.simulator import DEFAULT_KEY

__all__ = ["PATHS", "run"]

TARGET_RATIO = 1.2
_GATEWAY = "gateway000"
_ARK = "ark"
_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
_UNLIMITED: dict[str, Any] = {"submit_rpm": 1e9, "poll_rps": 1e9, "max_running": 10**7}

PATHS = ("submit", "status", "tracker_paced", "tracker_flat", "ark_list")
"""The request paths, in table order."""

_Side = Callable[[], Awaitable[Sample]]


@dataclasses.dataclass(frozen=True)
class _Path:
    """One path: how to run each side, and how to say it in the table."""

    name: str
    metric: str
    floor: _Side
    library: _Side


class _ListWindow(_Window):
    """A window that also counts the list calls the simulator served in it."""

    def __init__(self, server: SimServer, warmup: float, seconds: float) -> None:
        super().__init__(server, _ARK, "op.list", warmup, seconds)
        self.calls: list[int] = []

    async def measure(self, count: Callable[[], int] | None = None) -> Sample:
        """Client CPU and task statuses (``count``) over the window; list calls on the side."""
        assert count is not None
        await anyio.sleep(self.warmup)
        calls = (await self.server.admin(self.provider, "stats")).get(self.op, 0)
        seen, server_cpu, cpu = count(), self.server.cpu_seconds(), cpu_now()
        await anyio.sleep(self.seconds)
        cpu, server_cpu = cpu_now() - cpu, self.server.cpu_seconds() - server_cpu
        seen = count() - seen
        self.calls.append((await self.server.admin(self.provider, "stats")).get(self.op, 0) - calls)
        return Sample(cpu, seen, server_cpu, self.seconds)


async def _creates(server: SimServer) -> int:
    stats = await server.admin(_ARK, "stats")
    return int(stats.get("op.create", 0))


async def _floor_submit(server: SimServer, first: int, tasks: int, concurrency: int) -> Sample:
    cfg = server.config(_ARK)
    url = cfg.base_url + cfg.options["tasks_path"]
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    specs = iter([sample_task(n) for n in range(first, first + tasks)])
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for spec in specs:
                async with session.post(url, json=ark_body(spec), headers=headers) as resp:
                    resp.raise_for_status()
                    await resp.json()

        before = await _creates(server)
        cpu, wall, server_cpu = cpu_now(), time.perf_counter(), server.cpu_seconds()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        cpu, wall = cpu_now() - cpu, time.perf_counter() - wall
        server_cpu = server.cpu_seconds() - server_cpu
    return Sample(cpu, await _creates(server) - before, server_cpu, wall)


async def _client_submit(server: SimServer, first: int, tasks: int, concurrency: int) -> Sample:
    specs = [sample_task(n) for n in range(first, first + tasks)]
    queue = iter(specs)
    async with Client([server.config(_ARK, **_UNLIMITED)]) as client:

        async def worker() -> None:
            for spec in queue:
                await client.submit(spec)

        before = await _creates(server)
        cpu, wall, server_cpu = cpu_now(), time.perf_counter(), server.cpu_seconds()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        cpu, wall = cpu_now() - cpu, time.perf_counter() - wall
        server_cpu = server.cpu_seconds() - server_cpu
    return Sample(cpu, await _creates(server) - before, server_cpu, wall)


async def _client_status(
    cfg: ProviderConfig, ids: list[str], concurrency: int, window: _Window
) -> Sample:
    handles: dict[str, TaskHandle] = {}
    for entry in entries_for(cfg.alias, ids):
        assert entry.handle is not None
        handles[entry.handle.task_id] = entry.handle
    async with Client([cfg]) as client:

        async def get(task_id: str) -> None:
            if (await client.status(handles[task_id])).is_terminal:
                raise RuntimeError("a benchmark task finished")

        return await _drive(get, ids, concurrency, None, window)


async def _bare_list_loop(
    base: str, path: str, ids: list[str], batch: int, interval: float, window: _Window
) -> Sample:
    """The list floor: one sleeping loop per ``batch`` ids, each a bare list GET."""
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = base + path
    chunks = {str(n): ids[i : i + batch] for n, i in enumerate(range(0, len(ids), batch))}
    observed = 0
    async with aiohttp.ClientSession() as session:

        async def get(chunk: str) -> None:
            nonlocal observed
            members = chunks[chunk]
            params = [("page_num", "1"), ("page_size", str(len(members)))]
            params += [("filter.task_ids", task_id) for task_id in members]
            async with session.get(url, params=params, headers=headers) as resp:
                data = await resp.json()
            items = data["items"]
            if any(item["status"] in _TERMINAL for item in items):
                raise RuntimeError("a benchmark task finished")
            observed += len(items)

        async def measure() -> Sample:
            return await window.measure(lambda: observed)

        return await _drive_paced(get, list(chunks), interval, measure)


async def _drive_paced(
    get: Callable[[str], Awaitable[None]],
    keys: list[str],
    interval: float,
    measure: Callable[[], Awaitable[Sample]],
) -> Sample:
    """One loop per key, each calling ``get`` every ``interval`` s, offsets spread evenly."""

    async def paced(key: str, offset: float) -> None:
        await anyio.sleep(offset)
        while True:
            await get(key)
            await anyio.sleep(interval)

    async with anyio.create_task_group() as tg:
        for n, key in enumerate(keys):
            tg.start_soon(paced, key, interval * n / len(keys))
        result = await measure()
        tg.cancel_scope.cancel()
    return result


async def run(
    *,
    n_tasks: int = 1000,
    tasks: int = 1000,
    concurrency: int = 64,
    interval: float = 1.0,
    list_batch: int = 50,
    warmup: float = 1.0,
    seconds: float = 2.0,
    rounds: int = 5,
) -> BenchResult:
    """Client CPU per request of every request path, library against bare aiohttp."""
    result = BenchResult("paths")
    pollers = SimSpec(providers=(_GATEWAY, _ARK))
    with SimServer(SimSpec(providers=(_ARK,))) as creator, SimServer(pollers) as server:
        gw = server.config(_GATEWAY, **_UNLIMITED)
        ark = server.config(_ARK, **_UNLIMITED)
        gw_path, ark_path = gw.options["tasks_path"], ark.options["tasks_path"]
        ids = await create_tasks(gw.base_url, gw_path, n_tasks)
        ark_ids = await create_tasks(ark.base_url, ark_path, n_tasks)
        window = _Window(server, _GATEWAY, "op.get", warmup, seconds)
        list_floor_window = _ListWindow(server, warmup, seconds)
        list_window = _ListWindow(server, warmup, seconds)
        first = itertools.count(0, tasks)
        paths = [
            _Path(
                "submit",
                f"Client.submit, {concurrency} in flight (per create)",
                lambda: _floor_submit(creator, next(first), tasks, concurrency),
                lambda: _client_submit(creator, next(first), tasks, concurrency),
            ),
            _Path(
                "status",
                f"Client.status, flat out, {concurrency} in flight (per GET)",
                lambda: _bare_loop(gw.base_url, gw_path, ids, concurrency, None, window),
                lambda: _client_status(gw, ids, concurrency, window),
            ),
            _Path(
                "tracker_paced",
                f"Tracker polls, paced: {n_tasks} tasks every {interval:g} s (per GET)",
                lambda: _bare_loop(gw.base_url, gw_path, ids, concurrency, interval, window),
                lambda: _tracker_loop(gw, ids, concurrency, interval, window),
            ),
            _Path(
                "tracker_flat",
                f"Tracker polls, flat out, {concurrency} in flight (per GET)",
                lambda: _bare_loop(gw.base_url, gw_path, ids, concurrency, None, window),
                lambda: _tracker_loop(gw, ids, concurrency, None, window),
            ),
            _Path(
                "ark_list",
                f"Tracker on Ark list, <= {list_batch} ids per call, paced (per task status)",
                lambda: _bare_list_loop(
                    ark.base_url, ark_path, ark_ids, list_batch, interval, list_floor_window
                ),
                lambda: _tracker_loop(
                    ark, ark_ids, concurrency, interval, list_window, count_observations=True
                ),
            ),
        ]
        samples: dict[tuple[str, str], list[Sample]] = {
            (p.name, side): [] for p in paths for side in ("floor", "library")
        }
        for round_no in range(rounds):
            for p in paths:
                sides = [("floor", p.floor), ("library", p.library)]
                if round_no % 2:  # flip the order every round
                    sides.reverse()
                for side, runner in sides:
                    samples[p.name, side].append(await runner())

    b = "6 paths"
    f = result.figures
    for p in paths:
        floor = [s.cpu / s.polls * 1e6 if s.polls else math.nan for s in samples[p.name, "floor"]]
        lib = [s.cpu / s.polls * 1e6 if s.polls else math.nan for s in samples[p.name, "library"]]
        ratio = paired_ratio(lib, floor)
        lib_med, floor_med = statistics.median(lib), statistics.median(floor)
        rate_lib = statistics.median(s.rate for s in samples[p.name, "library"])
        rate_floor = statistics.median(s.rate for s in samples[p.name, "floor"])
        f.update(
            {
                f"{p.name}_library_cpu_us": lib_med,
                f"{p.name}_floor_cpu_us": floor_med,
                f"{p.name}_ratio": ratio.median,
                f"{p.name}_ratio_low": ratio.low,
                f"{p.name}_ratio_high": ratio.high,
                f"{p.name}_library_per_s": rate_lib,
                f"{p.name}_floor_per_s": rate_floor,
            }
        )
        result.rows.append(
            Row(
                b,
                f"client CPU per request, {p.metric}",
                f"{lib_med:.0f} us",
                f"{floor_med:.0f} us",
                ratio_cell(ratio),
                f"<= {TARGET_RATIO}x floor",
                verdict(ratio.median <= TARGET_RATIO),
            )
        )
        result.notes.append(
            f"paths, {p.name}: library / floor per round "
            + ", ".join(f"{r:.2f}x" for r in ratio.per_round)
            + f"; requests (statuses) per s, library {rate_lib:.0f}, floor {rate_floor:.0f}"
        )
    per_call = {
        side: sum(s.polls for s in samples["ark_list", side]) / max(1, sum(w.calls))
        for side, w in (("library", list_window), ("floor", list_floor_window))
    }
    f.update(ark_list_library_ids_per_call=per_call["library"])
    result.notes.append(
        "paths, ark_list: task statuses per list call, library "
        f"{per_call['library']:.1f}, floor {per_call['floor']:.1f}"
    )
    return result
