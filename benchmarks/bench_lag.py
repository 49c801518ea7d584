"""4. Detection lag and polls per task: the tracker's schedule against a fixed 5 s poller.

Method. The simulator (own process, Ark, no limits) draws each task's queue time from
``queue`` and generation time from ``run`` provider seconds (about 40-120 s in all, like real
5 s clips) and runs ``time_scale`` times faster than real time; every figure below is
converted back to provider seconds. ``tasks`` tasks arrive at a steady pace over
``arrival_span`` provider seconds, so the tracker sees both a cold start (no ETA learned yet)
and a warm steady state. The simulator's ``/_sim/tasks`` route gives each task's server-side
completion time (``end``); lag = the moment the client noticed (the tracker's ``succeeded``
event, or the poll that saw it for the baseline) - ``end``. Both processes share the wall
clock of one machine.

* library: the public :class:`Tracker` with its default :class:`PollSchedule` scaled by the
  time scale, polling through Ark's list endpoint (its default); every request is recorded
  by a wrapping transport to count polls (task statuses fetched) and requests per task
  (a list call answering k tasks counts 1/k for each), and the interval the scheduler
  chose before the poll that noticed the end (``lag / interval`` <= 1 means the task was
  noticed at the first poll after it ended).
* lag-targeted: the same with ``PollSchedule.for_lag(5)`` (the lag of the baseline).
* baseline: for each task, ``sleep(5 s)`` then ``ProviderClient.status`` until final.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Any

import anyio

from benchmarks._common import BenchResult, Row, percentile, sample_task, verdict
from benchmarks._simproc import SimServer, SimSpec
from seedance_async import (
    ApiKey,
    Client,
    EventKind,
    PollSchedule,
    ProviderConfig,
    Timeouts,
    Tracker,
)
from seedance_async.core import HttpRequest, HttpResponse
from seedance_async.providers import ProviderAdapter
from seedance_async.transport import Transport
from seedance_async.transport._aiohttp import AiohttpTransport

__all__ = ["run"]

TARGET_LAG_OVER_INTERVAL = 1.2
TARGET_POLL_SHARE = 0.5
FIXED_INTERVAL = 5.0
TUNED = PollSchedule.for_lag(FIXED_INTERVAL)
"""The schedule for "no more lag than a 5 s poller": first poll at the shortest recent
duration plus 5 s, then at most 5 s apart (every 5 s from submit before anything is learned)."""


class RecordingTransport:
    """Wraps a transport and records, per request, the send time and the task ids asked."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.log: list[tuple[float, tuple[str, ...]]] = []

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """Record, then send through the wrapped transport."""
        if request.method == "GET":
            ids = tuple(v for k, v in request.query if k == "filter.task_ids")
            if not ids and not request.query:
                ids = (request.path.rsplit("/", 1)[1],)
            self.log.append((time.time(), ids))
        return await self.inner.send(request, timeouts=timeouts)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def _config(server: SimServer) -> ProviderConfig:
    return server.config("ark", submit_rpm=1e7, poll_rps=1e6, max_running=10**6)


async def _paced(tasks: int, gap: float, start_one: Any) -> None:
    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        for n in range(tasks):
            await anyio.sleep(max(0.0, start + n * gap - time.monotonic()))
            await start_one(tg, n)


async def _library(
    server: SimServer, tasks: int, gap: float, scale: float, schedule: PollSchedule
) -> tuple[dict[str, float], dict[str, list[tuple[float, int]]], dict[str, float]]:
    """(notice time by id, polls by id as (time, ids in request), submit time by id)."""
    recorders: list[RecordingTransport] = []

    def factory(config: ProviderConfig, adapter: ProviderAdapter, key: ApiKey) -> Transport:
        inner = AiohttpTransport(
            config.base_url,
            provider=config.alias,
            auth_headers=adapter.auth_headers(key.reveal()),
            timeouts=config.timeouts,
        )
        recorders.append(RecordingTransport(inner))
        return recorders[-1]

    noticed: dict[str, float] = {}
    submitted: dict[str, float] = {}
    async with Client([_config(server)], transport_factory=factory) as client:

        def on_event(event: Any) -> None:
            if event.task_id is None:
                return
            if event.kind is EventKind.SUCCEEDED:
                noticed[event.task_id] = event.at

        client.events.add_callback(on_event)
        async with Tracker(client, schedule=schedule.scaled(scale), seed=1) as tracker:

            async def start_one(_: Any, n: int) -> None:
                await tracker.submit(sample_task(n))

            await _paced(tasks, gap, start_one)
        for tracked in tracker.tasks.values():
            if tracked.handle is not None:
                submitted[tracked.handle.task_id] = tracked.handle.created_at
    polls: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for at, ids in recorders[0].log:
        for task_id in ids:
            polls[task_id].append((at, len(ids)))
    return noticed, polls, submitted


async def _fixed(
    server: SimServer, tasks: int, gap: float, scale: float
) -> tuple[dict[str, float], dict[str, int]]:
    """(notice time by id, polls by id) of the fixed-interval poller."""
    noticed: dict[str, float] = {}
    polls: dict[str, int] = {}
    cfg = _config(server)
    async with Client([cfg]) as client:
        provider = client.provider(cfg.alias)

        async def follow(n: int) -> None:
            handle = await client.submit(sample_task(n))
            count = 0
            while True:
                await anyio.sleep(FIXED_INTERVAL * scale)
                status = await provider.status(handle.task_id)
                count += 1
                if status.is_terminal:
                    noticed[handle.task_id] = time.time()
                    polls[handle.task_id] = count
                    return

        async def start_one(tg: Any, n: int) -> None:
            tg.start_soon(follow, n)

        await _paced(tasks, gap, start_one)
    return noticed, polls


def _library_figures(
    run: tuple[dict[str, float], dict[str, list[tuple[float, int]]], dict[str, float]],
    times: dict[str, dict[str, Any]],
    scale: float,
) -> tuple[list[float], list[float], list[int], list[float]]:
    """(lags, lag / interval, polls per task, requests per task) of a library run."""
    noticed, polls, submitted = run
    lags, ratios, per_task, requests = [], [], [], []
    for task_id, at in noticed.items():
        observed = sorted(t for t, _ in polls[task_id])
        lag = (at - times[task_id]["end"]) / scale
        previous = observed[-2] if len(observed) > 1 else submitted[task_id]
        interval = (observed[-1] - previous) / scale
        lags.append(lag)
        ratios.append(lag / interval if interval > 0 else 0.0)
        per_task.append(len(observed))
        requests.append(sum(1 / k for _, k in polls[task_id]))
    return lags, ratios, per_task, requests


async def run(
    *,
    tasks: int = 300,
    arrival_span: float = 240.0,
    time_scale: float = 0.05,
    queue: tuple[float, float] = (0.0, 2.0),
    generation: tuple[float, float] = (40.0, 118.0),
    tuned: PollSchedule | None = TUNED,
) -> BenchResult:
    """Lag p50/p99, lag over the chosen interval, and polls per task, library vs fixed 5 s.

    ``tuned``: also run the tracker with this schedule (None: skip), to show what the
    public :class:`PollSchedule` knobs reach.
    """
    result = BenchResult("lag")
    spec = SimSpec(providers=("ark",), time_scale=time_scale, queue=queue, run=generation)
    gap = arrival_span * time_scale / tasks
    with SimServer(spec) as server:
        run_default = await _library(server, tasks, gap, time_scale, PollSchedule())
        lib_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
    with SimServer(spec) as server:
        fixed_noticed, fixed_polls = await _fixed(server, tasks, gap, time_scale)
        fixed_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
    lags, ratios, per_task, requests = _library_figures(run_default, lib_times, time_scale)
    fixed_lags = [
        (at - fixed_times[task_id]["end"]) / time_scale for task_id, at in fixed_noticed.items()
    ]
    fixed_per_task = list(fixed_polls.values())

    def mean(xs: list[float] | list[int]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    f50, f99 = percentile(fixed_lags, 50), percentile(fixed_lags, 99)
    ratio99 = percentile(ratios, 99)
    polls_mean, fixed_mean = mean(per_task), mean(fixed_per_task)
    share = polls_mean / fixed_mean
    f = result.figures
    f.update(
        tasks_noticed=len(lags),
        lag_p50_s=p50,
        lag_p99_s=p99,
        fixed_lag_p50_s=f50,
        fixed_lag_p99_s=f99,
        lag_over_interval_p99=ratio99,
        polls_per_task=polls_mean,
        requests_per_task=mean(requests),
        fixed_polls_per_task=fixed_mean,
        poll_share=share,
    )
    b = "4 lag"
    result.rows += [
        Row(
            b,
            "lag p50 / p99, provider s",
            f"{p50:.1f} / {p99:.1f}",
            f"{f50:.1f} / {f99:.1f}",
            f"p99 {p99 / f99:.2f}x",
            "p99 <= fixed 5 s",
            verdict(p99 <= f99),
        ),
        Row(
            b,
            "lag / interval chosen before the noticing poll, p99",
            f"{ratio99:.2f}",
            "",
            "",
            f"<= {TARGET_LAG_OVER_INTERVAL}",
            verdict(ratio99 <= TARGET_LAG_OVER_INTERVAL),
        ),
        Row(
            b,
            "polls (task statuses fetched) per task",
            f"{polls_mean:.1f}",
            f"{fixed_mean:.1f}",
            f"{share:.2f}x",
            f"<= {TARGET_POLL_SHARE}x at p99 lag <= fixed",
            verdict(share <= TARGET_POLL_SHARE and p99 <= f99),
        ),
        Row(
            b,
            "HTTP requests per task (Ark list answers many)",
            f"{mean(requests):.2f}",
            f"{fixed_mean:.1f}",
            f"{mean(requests) / fixed_mean:.2f}x",
        ),
    ]
    # The fewest polls any schedule can make with every lag <= the baseline's p99 when it
    # knows the distribution of generation times but not each task's: poll first at the
    # shortest time plus f99, then every f99 seconds (a task of duration d needs
    # ceil((d - shortest) / f99) polls, at least one).
    durations = [(t["end"] - t["created"]) / time_scale for t in lib_times.values() if t["end"]]
    shortest = min(durations, default=0.0)
    bound = mean([max(1, math.ceil((d - shortest) / f99)) for d in durations])
    f.update(bound_polls_per_task=bound, bound_poll_share=bound / fixed_mean)
    result.rows.append(
        Row(
            b,
            "lower bound on polls/task of any schedule at lag <= fixed p99",
            f"{bound:.1f}",
            f"{fixed_mean:.1f}",
            f"{bound / fixed_mean:.2f}x",
        )
    )
    if tuned is not None:
        with SimServer(spec) as server:
            run_tuned = await _library(server, tasks, gap, time_scale, tuned)
            tuned_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
        t_lags, _, t_polls, _ = _library_figures(run_tuned, tuned_times, time_scale)
        t99, t_mean = percentile(t_lags, 99), mean(t_polls)
        f.update(
            tuned_lag_p99_s=t99, tuned_polls_per_task=t_mean, tuned_poll_share=t_mean / fixed_mean
        )
        result.rows.append(
            Row(
                b,
                "PollSchedule.for_lag(5): lag p99; polls/task",
                f"{t99:.1f} s; {t_mean:.1f}",
                f"{f99:.1f} s; {fixed_mean:.1f}",
                f"{t99 / f99:.2f}x; {t_mean / fixed_mean:.2f}x",
                f"<= {TARGET_POLL_SHARE}x at p99 lag <= fixed",
                verdict(t_mean / fixed_mean <= TARGET_POLL_SHARE and t99 <= f99),
            )
        )
    return result
