"""7. Peers side by side: the same job through bare aiohttp, this library and its peers.

Method. The simulator (own process, Ark flavour at ``/api/v3``, no limits, tasks running for
good) takes the same job from each side: ``tasks`` creates of distinct text-to-video specs,
then one status GET per created task, with ``concurrency`` requests in flight, once at each
of ``concurrencies`` (64, the issue's job, and 8). Client CPU is ``time.process_time()`` of this process (every thread: litellm runs
part of each call in a worker thread) over each phase; requests are the creates and GETs
the simulator counted in that phase, so a client that retried or sent extra requests is
charged per request it made the simulator serve. The sides run in turn for ``rounds``
rounds, the order rotated every round; each side first makes one create and one status
call that are not measured (imports, schema building, connection set-up). Reported: each
side's median CPU per request over the whole job and the median of its per-round ratios to
bare aiohttp with their range; the notes split it into creates and GETs.

Sides:

* bare aiohttp (the floor): ``session.post(url, json=body)`` with the Ark body built by
  hand, then ``session.get(url)`` → ``resp.json()``.
* seedance-async: ``Client.submit(spec)``, then ``Client.status(handle)``.
* the official Ark SDK (``volcengine-ark-runtime``, the ``ark`` part of
  ``volcengine-python-sdk``): ``AsyncArk(base_url=..., api_key=...)`` with
  ``content_generation.tasks.create(model=..., content=[...], duration=..., seed=...)`` and
  ``content_generation.tasks.get(task_id=...)``.
* litellm: ``litellm.avideo_generation(model="volcengine/<model>", prompt=..., seconds=...,
  api_base=..., api_key=...)`` and ``litellm.avideo_status(video_id=...,
  custom_llm_provider="volcengine", ...)``, its video API's Volcengine (Ark) route.

The two peers are optional (the ``bench`` extra); a side that is not installed gets a "not
installed" row and the rest runs. They are imported here only, with litellm's remote
look-ups (model cost map and other JSON it otherwise fetches at import) switched to the
copies it ships, so the run stays on loopback.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
import os
import statistics
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

import aiohttp
import anyio

from benchmarks._common import (
    MODEL,
    BenchResult,
    Row,
    ark_body,
    cpu_now,
    paired_ratio,
    ratio_cell,
    sample_task,
)
from benchmarks._simproc import SimServer, SimSpec
from seedance_async import Client, TaskHandle, VideoTask
from seedance_async.simulator import DEFAULT_KEY

__all__ = ["SIDES", "run"]

_ARK = "ark"
_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
_UNLIMITED: dict[str, Any] = {"submit_rpm": 1e9, "poll_rps": 1e9, "max_running": 10**7}

# litellm fetches these JSON files from the network at import unless told to use the copies
# in its wheel; the benchmark must not leave loopback.
_LITELLM_LOCAL = (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS",
    "LITELLM_LOCAL_BLOG_POSTS",
    "LITELLM_LOCAL_POLICY_TEMPLATES",
)

SIDES = ("aiohttp", "seedance-async", "ark-sdk", "litellm")
"""Every side, floor first."""

_LABELS = {
    "aiohttp": "bare aiohttp",
    "seedance-async": "seedance-async Client.submit + Client.status",
    "ark-sdk": "official Ark SDK (AsyncArk, volcengine-ark-runtime)",
    "litellm": "litellm video API (avideo_generation + avideo_status, volcengine route)",
}
_DISTRIBUTIONS = {
    "aiohttp": "aiohttp",
    "seedance-async": "seedance-async",
    "ark-sdk": "volcengine-ark-runtime",
    "litellm": "litellm",
}
_MODULES = {"ark-sdk": "volcenginesdkarkruntime", "litellm": "litellm"}


class _PeerClient:
    """One side's client: ``create(n)`` makes a task and returns what ``status`` takes."""

    async def create(self, task: VideoTask) -> Any:  # pragma: no cover - interface
        """Create ``task``; returns what ``status`` takes."""
        raise NotImplementedError

    async def status(self, ref: Any) -> str:  # pragma: no cover - interface
        """The task's status string."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class _Phase:
    """One measured phase of one side in one round."""

    cpu: float
    requests: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class _Job:
    """One side's job in one round: the create phase and the status phase."""

    create: _Phase
    status: _Phase

    @property
    def cpu_us(self) -> float:
        """Client CPU per request over the whole job, microseconds."""
        requests = self.create.requests + self.status.requests
        return (self.create.cpu + self.status.cpu) / requests * 1e6 if requests else math.nan

    @property
    def rate(self) -> float:
        """Requests per second over the whole job."""
        seconds = self.create.seconds + self.status.seconds
        return (self.create.requests + self.status.requests) / seconds if seconds else math.nan


class _Bare(_PeerClient):
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url
        self.headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}

    async def create(self, task: VideoTask) -> Any:
        async with self.session.post(self.url, json=ark_body(task), headers=self.headers) as resp:
            resp.raise_for_status()
            return (await resp.json())["id"]

    async def status(self, ref: Any) -> str:
        async with self.session.get(f"{self.url}/{ref}", headers=self.headers) as resp:
            resp.raise_for_status()
            return str((await resp.json())["status"])


class _Library(_PeerClient):
    def __init__(self, client: Client) -> None:
        self.client = client

    async def create(self, task: VideoTask) -> Any:
        return await self.client.submit(task)

    async def status(self, ref: Any) -> str:
        assert isinstance(ref, TaskHandle)
        return (await self.client.status(ref)).provider_status


class _ArkSdk(_PeerClient):
    def __init__(self, ark: Any) -> None:
        self.tasks = ark.content_generation.tasks

    async def create(self, task: VideoTask) -> Any:
        created = await self.tasks.create(
            model=MODEL,
            content=[{"type": "text", "text": task.prompt}],
            duration=task.duration,
            seed=task.seed,
        )
        return created.id

    async def status(self, ref: Any) -> str:
        return str((await self.tasks.get(task_id=ref)).status)


class _Litellm(_PeerClient):
    def __init__(self, litellm: Any, api_base: str) -> None:
        self.litellm, self.api_base = litellm, api_base

    async def create(self, task: VideoTask) -> Any:
        video = await self.litellm.avideo_generation(
            model=f"volcengine/{MODEL}",
            prompt=task.prompt,
            seconds=str(task.duration),
            api_base=self.api_base,
            api_key=DEFAULT_KEY,
            extra_body={"seed": task.seed},
        )
        return video.id

    async def status(self, ref: Any) -> str:
        video = await self.litellm.avideo_status(
            video_id=ref,
            custom_llm_provider="volcengine",
            api_base=self.api_base,
            api_key=DEFAULT_KEY,
        )
        return str(video.status)


@contextmanager
def _quiet() -> Iterator[None]:
    """Third-party warnings (pydantic schema notes in litellm) are not the benchmark's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import(side: str) -> ModuleType | None:
    """The peer's module, or None when it is not installed."""
    name = _MODULES[side]
    if side == "litellm":
        for var in _LITELLM_LOCAL:
            os.environ.setdefault(var, "True")
    try:
        with _quiet():
            module = importlib.import_module(name)
    except ImportError:
        return None
    if side == "litellm":
        vars(module)["suppress_debug_info"] = True  # no "Give Feedback" banners on stdout
    return module


def _version(side: str) -> str:
    try:
        return version(_DISTRIBUTIONS[side])
    except PackageNotFoundError:
        return "not installed"


def _opener(side: str, module: ModuleType | None) -> Callable[[SimServer], Any]:
    """An async context manager factory that opens the side's client against the simulator."""

    @asynccontextmanager
    async def bare(server: SimServer) -> AsyncIterator[_PeerClient]:
        cfg = server.config(_ARK)
        async with aiohttp.ClientSession() as session:
            yield _Bare(session, cfg.base_url + cfg.options["tasks_path"])

    @asynccontextmanager
    async def library(server: SimServer) -> AsyncIterator[_PeerClient]:
        async with Client([server.config(_ARK, **_UNLIMITED)]) as client:
            yield _Library(client)

    @asynccontextmanager
    async def ark_sdk(server: SimServer) -> AsyncIterator[_PeerClient]:
        assert module is not None
        ark = module.AsyncArk(base_url=server.config(_ARK).base_url, api_key=DEFAULT_KEY)
        try:
            yield _ArkSdk(ark)
        finally:
            await ark.close()

    @asynccontextmanager
    async def litellm(server: SimServer) -> AsyncIterator[_PeerClient]:
        with _quiet():
            yield _Litellm(module, server.config(_ARK).base_url)

    return {"aiohttp": bare, "seedance-async": library, "ark-sdk": ark_sdk, "litellm": litellm}[
        side
    ]


async def _stats(server: SimServer) -> tuple[int, int]:
    stats = await server.admin(_ARK, "stats")
    return int(stats.get("op.create", 0)), int(stats.get("op.get", 0))


async def _phase(
    server: SimServer,
    count: int,
    concurrency: int,
    call: Callable[[int], Awaitable[None]],
    op: int,
) -> _Phase:
    """Run ``call(0..count-1)`` with ``concurrency`` in flight; CPU, served requests, wall."""
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            await call(i)

    before = (await _stats(server))[op]
    cpu, wall = cpu_now(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    cpu, wall = cpu_now() - cpu, time.perf_counter() - wall
    return _Phase(cpu, (await _stats(server))[op] - before, wall)


async def _job(
    server: SimServer, side: _PeerClient, first: int, tasks: int, concurrency: int
) -> _Job:
    refs: list[Any] = [None] * tasks
    specs = [sample_task(first + i) for i in range(tasks)]  # before the clock, for every side

    async def create(i: int) -> None:
        refs[i] = await side.create(specs[i])

    async def status(i: int) -> None:
        if await side.status(refs[i]) in _TERMINAL:
            raise RuntimeError("a benchmark task finished")

    created = await _phase(server, tasks, concurrency, create, 0)
    polled = await _phase(server, tasks, concurrency, status, 1)
    return _Job(created, polled)


async def run(
    *,
    tasks: int = 1000,
    concurrencies: tuple[int, ...] = (64, 8),
    rounds: int = 3,
    sides: tuple[str, ...] = SIDES,
) -> BenchResult:
    """The same create-then-poll job through each side; client CPU per request.

    The job runs at each of ``concurrencies`` (requests in flight): the official SDK's cost
    per request grows with it (httpx's pool scans every connection per request), so one
    figure alone would misrepresent it.
    """
    result = BenchResult("peers")
    openers: dict[str, Callable[[SimServer], Any]] = {}
    missing: list[str] = []
    for side in sides:
        module = _import(side) if side in _MODULES else None
        if side in _MODULES and module is None:
            missing.append(side)
            continue
        openers[side] = _opener(side, module)
    jobs: dict[tuple[str, int], list[_Job]] = {}
    first = itertools.count(10**6, tasks + 1)
    with SimServer(SimSpec(providers=(_ARK,))) as server:
        for opener in openers.values():  # warm-up: imports, schemas, connections
            async with opener(server) as client:
                ref = await client.create(sample_task(next(first)))
                await client.status(ref)
        order = list(openers)
        for concurrency in concurrencies:
            for round_no in range(rounds):
                turn = order[round_no % len(order) :] + order[: round_no % len(order)]
                for side in turn:
                    async with openers[side](server) as client:
                        job = await _job(server, client, next(first), tasks, concurrency)
                    jobs.setdefault((side, concurrency), []).append(job)
    for side in missing:
        result.rows.append(
            Row("7 peers", f"client CPU per request, {_LABELS[side]}", "not installed")
        )
        result.notes.append(f"peers, {side}: not installed (pip install -e '.[bench]')")
    for concurrency in concurrencies:
        _report(result, jobs, [s for s in sides if s in openers], tasks, concurrency)
    result.notes.append(
        "peers, versions: "
        + ", ".join(f"{_DISTRIBUTIONS[s]} {_version(s)}" for s in sides if s in openers)
    )
    return result


def _report(
    result: BenchResult,
    jobs: dict[tuple[str, int], list[_Job]],
    sides: list[str],
    tasks: int,
    concurrency: int,
) -> None:
    """Rows, figures and notes for the job at one concurrency."""
    f = result.figures
    floor = [j.cpu_us for j in jobs.get(("aiohttp", concurrency), [])]
    where = f"{concurrency} in flight"
    for side in sides:
        runs = jobs[side, concurrency]
        mine = [j.cpu_us for j in runs]
        median = statistics.median(mine)
        create_us = statistics.median(
            j.create.cpu / j.create.requests * 1e6 for j in runs if j.create.requests
        )
        status_us = statistics.median(
            j.status.cpu / j.status.requests * 1e6 for j in runs if j.status.requests
        )
        rate = statistics.median(j.rate for j in runs)
        key = f"{side.replace('-', '_')}_c{concurrency}"
        f.update(
            {
                f"{key}_cpu_us": median,
                f"{key}_create_cpu_us": create_us,
                f"{key}_status_cpu_us": status_us,
                f"{key}_requests_per_s": rate,
            }
        )
        served = sorted({j.create.requests + j.status.requests for j in runs})
        result.notes.append(
            f"peers, {side}, {where}: create {create_us:.0f} us, status {status_us:.0f} us "
            f"of client CPU per request; {rate:.0f} requests/s; the simulator served "
            f"{'/'.join(map(str, served))} requests per job of {2 * tasks}"
        )
        metric = f"client CPU per request, {where}, {_LABELS[side]}"
        if side == "aiohttp":
            job = f"{tasks} creates, then {tasks} GETs"
            result.rows.append(Row("7 peers", f"{metric} ({job})", f"{median:.0f} us"))
            continue
        ratio = paired_ratio(mine, floor) if floor else paired_ratio([], [])
        f[f"{key}_ratio"] = ratio.median
        result.rows.append(
            Row(
                "7 peers",
                metric,
                f"{median:.0f} us",
                f"{statistics.median(floor):.0f} us" if floor else "",
                ratio_cell(ratio) if floor else "",
                "reported",
            )
        )
