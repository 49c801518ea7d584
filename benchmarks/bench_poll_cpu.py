"""1. CPU per poll: the tracker's polling machinery against a bare aiohttp loop (the floor).

Method. The simulator (own process) holds ``n_tasks`` tasks that stay ``running`` for good,
created beforehand with plain POSTs (not measured), so every poll is the same small GET.
The provider is the simulator's ``gateway000`` Ark gateway, which has no list endpoint: the library
then sends exactly one GET per task poll, like the floor, so both sides send the same
requests. Each side runs ``concurrency`` requests at a time, flat out, through one aiohttp
session; after a warm-up, client CPU (``time.process_time``, all threads) is read over a
fixed window, and the number of GETs served in that window is read from the simulator's
own counters. The sides alternate for ``rounds`` rounds; medians are reported.

* floor: ``session.get(url)`` → ``await resp.json()`` → check ``status``, in ``concurrency``
  loops; what a user would write by hand.
* ProviderClient.status: the library's request cycle alone (budget, adapter, transport,
  parser), in ``concurrency`` loops.
* Tracker: the public :class:`Tracker` following the tasks (``resume`` with their handles)
  with a zero-wait :class:`PollSchedule` and ``poll_workers=concurrency``: the heap
  scheduler, poll workers, status handling and the request cycle. This is the figure the
  issue's target is about.
* Tracker with Ark list batching (informational): the same on the Ark flavour, where one
  list call answers up to 50 tasks; CPU is per task status observed.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import anyio

from benchmarks._common import (
    MODEL,
    ZERO_WAIT,
    BenchResult,
    Row,
    cpu_now,
    sample_task,
    verdict,
)
from benchmarks._simproc import SimServer, SimSpec
from seedance_async import (
    ApiKey,
    Client,
    PollSchedule,
    ProviderConfig,
    TaskHandle,
    Timeouts,
    Tracker,
)
from seedance_async.core import HttpRequest, HttpResponse
from seedance_async.journal import JournalEntry
from seedance_async.providers import ProviderAdapter
from seedance_async.simulator import DEFAULT_KEY
from seedance_async.transport import Transport
from seedance_async.transport._aiohttp import AiohttpTransport

__all__ = ["run"]

_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})
_GATEWAY = "gateway000"
_ARK = "ark"
TARGET_RATIO = 1.2


async def create_tasks(
    base_url: str, tasks_path: str, n: int, *, concurrency: int = 32
) -> list[str]:
    """Create ``n`` tasks with plain POSTs; returns their ids (setup, never measured)."""
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    counter = itertools.count()
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while (i := next(counter)) < n:
                body = {"model": MODEL, "content": [{"type": "text", "text": f"poll bench {i}"}]}
                async with session.post(base_url + tasks_path, json=body, headers=headers) as r:
                    r.raise_for_status()
                    ids.append((await r.json())["id"])

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
    return ids


def entries_for(alias: str, ids: list[str]) -> list[JournalEntry]:
    """Journal entries that make a tracker follow existing remote tasks (``Tracker.resume``)."""
    task = sample_task(0)
    now = time.time()
    return [
        JournalEntry(
            key=f"k{i}",
            task=task,
            provider=alias,
            handle=TaskHandle(
                provider=alias,
                adapter="ark",
                model=MODEL,
                task_id=task_id,
                created_at=now,
                spec_hash="0" * 64,
            ),
        )
        for i, task_id in enumerate(ids)
    ]


class _Window:
    """Reads client CPU and the simulator's served-request counters over one window."""

    def __init__(
        self, server: SimServer, provider: str, op: str, warmup: float, seconds: float
    ) -> None:
        self.server, self.provider, self.op = server, provider, op
        self.warmup, self.seconds = warmup, seconds

    async def measure(self, count: Callable[[], int] | None = None) -> Sample:
        """Client CPU, requests (or observations) and server CPU over the window."""
        await anyio.sleep(self.warmup)
        before = (await self.server.admin(self.provider, "stats")).get(self.op, 0)
        seen = count() if count else 0
        server_cpu, cpu = self.server.cpu_seconds(), cpu_now()
        await anyio.sleep(self.seconds)
        cpu, server_cpu = cpu_now() - cpu, self.server.cpu_seconds() - server_cpu
        if count is not None:
            return Sample(cpu, count() - seen, server_cpu, self.seconds)
        after = (await self.server.admin(self.provider, "stats")).get(self.op, 0)
        return Sample(cpu, after - before, server_cpu, self.seconds)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One measurement window."""

    cpu: float
    polls: int
    server_cpu: float
    seconds: float

    @property
    def cpu_per_k(self) -> float:
        """Client CPU seconds per 1,000 polls."""
        return self.cpu / self.polls * 1000 if self.polls else math.nan

    @property
    def rate(self) -> float:
        """Polls per second."""
        return self.polls / self.seconds


async def _bare_loop(
    base: str, path: str, ids: list[str], concurrency: int, interval: float | None, window: _Window
) -> Sample:
    """The floor: flat out in ``concurrency`` loops, or one sleeping loop per task."""
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = base + path
    async with aiohttp.ClientSession() as session:

        async def get(task_id: str) -> None:
            async with session.get(f"{url}/{task_id}", headers=headers) as resp:
                data = await resp.json()
            if data["status"] in _TERMINAL:
                raise RuntimeError("a benchmark task finished")

        return await _drive(get, ids, concurrency, interval, window)


async def _drive(
    get: Callable[[str], Awaitable[None]],
    ids: list[str],
    concurrency: int,
    interval: float | None,
    window: _Window,
) -> Sample:
    """Run ``get`` flat out in ``concurrency`` loops, or one paced loop per task, and measure.

    Both sides of the comparison use this driver, so only their ``get`` differs.
    """

    async def flat_out(cycle: Iterator[str]) -> None:
        while True:
            await get(next(cycle))

    async def paced(task_id: str, offset: float, every: float) -> None:
        await anyio.sleep(offset)
        while True:
            await get(task_id)
            await anyio.sleep(every)

    async with anyio.create_task_group() as tg:
        if interval is None:
            cycle = itertools.cycle(ids)
            for _ in range(concurrency):
                tg.start_soon(flat_out, cycle)
        else:
            for n, task_id in enumerate(ids):
                tg.start_soon(paced, task_id, interval * n / len(ids), interval)
        result = await window.measure()
        tg.cancel_scope.cancel()
    return result


async def _provider_client_loop(
    cfg: ProviderConfig, ids: list[str], concurrency: int, interval: float | None, window: _Window
) -> Sample:
    """``ProviderClient.status``, driven like the floor."""
    async with Client([cfg]) as client:
        provider = client.provider(cfg.alias)

        async def get(task_id: str) -> None:
            if (await provider.status(task_id)).is_terminal:
                raise RuntimeError("a benchmark task finished")

        return await _drive(get, ids, concurrency, interval, window)


class CountingTransport:
    """Wraps a transport and counts the task ids each request asks about (list or get)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.observed = 0

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """Count, then send through the wrapped transport."""
        ids = sum(1 for name, _ in request.query if name == "filter.task_ids")
        self.observed += ids or 1
        return await self.inner.send(request, timeouts=timeouts)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


async def _tracker_loop(
    cfg: ProviderConfig,
    ids: list[str],
    concurrency: int,
    interval: float | None,
    window: _Window,
    *,
    count_observations: bool = False,
) -> Sample:
    """The public Tracker following the tasks: flat out, or every ``interval`` seconds."""
    counting: list[CountingTransport] = []

    def factory(config: ProviderConfig, adapter: ProviderAdapter, key: ApiKey) -> Transport:
        inner = AiohttpTransport(
            config.base_url,
            provider=config.alias,
            auth_headers=adapter.auth_headers(key.reveal()),
            timeouts=config.timeouts,
        )
        if not count_observations:
            return inner
        counting.append(CountingTransport(inner))
        return counting[-1]

    schedule = ZERO_WAIT
    if interval is not None:
        # Every ``interval`` seconds, like the floor. The scheduler takes polls due within
        # min_interval / 2 together: a small min_interval keeps them at most 5 % early, so
        # both sides send the same number of GETs.
        schedule = PollSchedule(
            first_poll=0.0,
            min_interval=interval / 10,
            max_interval=interval,
            growth=1e9,
            jitter=0.0,
        )
    result = Sample(0.0, 0, 0.0, 1.0)
    async with Client([cfg], transport_factory=factory) as client:
        with anyio.CancelScope() as scope:
            async with Tracker(
                client,
                schedule=schedule,
                poll_workers=concurrency,
                submit_workers=1,
                download_workers=1,
            ) as tracker:
                await tracker.resume(entries_for(cfg.alias, ids))
                count = (lambda: counting[0].observed) if count_observations else None
                result = await window.measure(count)
                scope.cancel()
    return result


async def run(
    *,
    n_tasks: int = 1000,
    interval: float = 0.5,
    concurrency: int = 16,
    warmup: float = 1.0,
    seconds: float = 3.0,
    rounds: int = 5,
    saturated: bool = True,
    batching: bool = True,
) -> BenchResult:
    """Client CPU per poll: floor, ProviderClient.status and Tracker, paced and flat out.

    Paced: every task is polled every ``interval`` seconds (``n_tasks / interval`` polls/s
    on each side); this is the figure the target applies to. Flat out: ``concurrency``
    requests in flight, as fast as they go (throughput, informational).
    """
    result = BenchResult("poll_cpu")
    providers = (_GATEWAY, _ARK) if batching else (_GATEWAY,)
    with SimServer(SimSpec(providers=providers)) as server:
        unlimited = {"poll_rps": 1e9, "max_running": max(n_tasks, 1)}
        gw = server.config(_GATEWAY, **unlimited)
        path = gw.options["tasks_path"]
        ids = await create_tasks(gw.base_url, path, n_tasks)
        window = _Window(server, _GATEWAY, "op.get", warmup, seconds)
        Runner = Callable[[float | None], Awaitable[Sample]]
        runners: dict[str, Runner] = {
            "floor": lambda every: _bare_loop(gw.base_url, path, ids, concurrency, every, window),
            "pc": lambda every: _provider_client_loop(gw, ids, concurrency, every, window),
            "tracker": lambda every: _tracker_loop(gw, ids, concurrency, every, window),
        }
        paced: dict[str, list[Sample]] = {name: [] for name in runners}
        flat: dict[str, list[Sample]] = {name: [] for name in runners}
        for _ in range(rounds):  # alternate, so a noisy neighbour hits every side alike
            for name, runner in runners.items():
                paced[name].append(await runner(interval))
        if saturated:
            for _ in range(max(1, rounds // 2)):
                for name, runner in runners.items():
                    flat[name].append(await runner(None))
        batched: Sample | None = None
        if batching:
            ark = server.config(_ARK, **unlimited)
            ark_ids = await create_tasks(ark.base_url, ark.options["tasks_path"], n_tasks)
            ark_window = _Window(server, _ARK, "op.list", warmup, seconds)
            batched = await _tracker_loop(
                ark, ark_ids, concurrency, interval, ark_window, count_observations=True
            )

    def med(samples: list[Sample], what: Callable[[Sample], float]) -> float:
        return statistics.median(what(s) for s in samples) if samples else math.nan

    per_k: Callable[[Sample], float] = lambda s: s.cpu_per_k  # noqa: E731
    rate: Callable[[Sample], float] = lambda s: s.rate  # noqa: E731
    floor, pc, tracker = (med(paced[n], per_k) for n in ("floor", "pc", "tracker"))
    f = result.figures
    f.update(
        paced_polls_per_s=med(paced["tracker"], rate),
        paced_floor_polls_per_s=med(paced["floor"], rate),
        floor_cpu_s_per_1k=floor,
        provider_client_cpu_s_per_1k=pc,
        tracker_cpu_s_per_1k=tracker,
        tracker_ratio=tracker / floor,
        provider_client_ratio=pc / floor,
        server_cpu_s_per_1k=med(paced["floor"], lambda s: s.server_cpu / s.polls * 1000),
    )
    paired = [
        t.cpu_per_k / fl.cpu_per_k for t, fl in zip(paced["tracker"], paced["floor"], strict=True)
    ]
    result.notes.append(
        "poll CPU, Tracker / floor per paced round: " + ", ".join(f"{r:.2f}x" for r in paired)
    )
    if saturated:
        paired = [
            t.cpu_per_k / fl.cpu_per_k for t, fl in zip(flat["tracker"], flat["floor"], strict=True)
        ]
        result.notes.append(
            "poll CPU, Tracker / floor per flat-out round: "
            + ", ".join(f"{r:.2f}x" for r in paired)
        )
    b = "1 poll CPU"
    rate_note = f"{n_tasks} tasks every {interval:g} s"
    result.rows += [
        Row(
            b,
            f"client CPU-s / 1k polls, Tracker ({rate_note})",
            f"{tracker:.3f}",
            f"{floor:.3f}",
            f"{tracker / floor:.2f}x",
            f"<= {TARGET_RATIO}x floor",
            verdict(tracker / floor <= TARGET_RATIO),
        ),
        Row(
            b,
            "client CPU-s / 1k polls, ProviderClient.status (same pace)",
            f"{pc:.3f}",
            f"{floor:.3f}",
            f"{pc / floor:.2f}x",
        ),
        Row(
            b,
            "polls/s achieved at that pace",
            f"{f['paced_polls_per_s']:.0f}",
            f"{f['paced_floor_polls_per_s']:.0f}",
        ),
    ]
    if saturated:
        ft, ff = med(flat["tracker"], per_k), med(flat["floor"], per_k)
        rt, rf = med(flat["tracker"], rate), med(flat["floor"], rate)
        f.update(
            flat_tracker_cpu_s_per_1k=ft,
            flat_floor_cpu_s_per_1k=ff,
            flat_tracker_polls_per_s=rt,
            flat_floor_polls_per_s=rf,
            flat_provider_client_polls_per_s=med(flat["pc"], rate),
        )
        result.rows += [
            Row(
                b,
                f"client CPU-s / 1k polls, flat out ({concurrency} in flight)",
                f"{ft:.3f}",
                f"{ff:.3f}",
                f"{ft / ff:.2f}x",
            ),
            Row(
                b,
                f"max polls/s, flat out ({concurrency} in flight)",
                f"{rt:.0f}",
                f"{rf:.0f}",
                f"{rt / rf:.2f}x",
            ),
        ]
    if batched is not None:
        f["tracker_batched_cpu_s_per_1k_statuses"] = batched.cpu_per_k
        result.rows.append(
            Row(
                b,
                "client CPU-s / 1k task statuses, Tracker on Ark list (<=50 per call)",
                f"{batched.cpu_per_k:.3f}",
                f"{floor:.3f}",
                f"{batched.cpu_per_k / floor:.2f}x",
            )
        )
    return result
