"""9. Callbacks + backstop polls against the default schedule and a fixed 5 s poller.

Method. The simulator (own process, Ark, no limits) runs ``tasks`` tasks of ``generation``
provider seconds (30-120 s), arriving at a steady pace over ``arrival_span``, ``time_scale``
times faster than real time; figures are converted back to provider seconds. Ark posts each
status change to the task's callback URL; ``drop`` of the notices are never sent (a final
notice that is dropped is not re-sent either), and ``forge`` of them come with a forged
body next to the real one (a success for a task never created, and a success with the video
on a foreign host).

* library: the :class:`Tracker` with ``callbacks=`` a :class:`CallbackServer` on loopback,
  the backstop schedule and the confirm window scaled by the time scale (and the receiver's
  per-source rate limit divided by it: every callback comes from one address, 1/scale times
  faster than a real provider would send them).
* default: the same tracker without callbacks (its default poll schedule).
* fixed: ``sleep(5 s)`` then ``ProviderClient.status`` until final, per task.

Requests per task = the create, plus every status request asked for the task (a list call
answering k tasks counts 1/k for each). Lag = when the client noticed the end (the
``succeeded`` event) - the end on the simulator's clock. A task is *delivered* when its
``succeeded`` notice reached the receiver (``/_sim/callbacks``), *dropped* otherwise. An
*action on a forged callback* is a task noticed as ended before it ended.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from benchmarks._common import BenchResult, Row, percentile, sample_task, verdict
from benchmarks._simproc import SimServer, SimSpec
from benchmarks.bench_lag import RecordingTransport, _config, _fixed, _library, _paced
from seedance_async import ApiKey, Client, EventKind, PollSchedule, ProviderConfig, Tracker
from seedance_async.callbacks import CallbackServer, ReceiverLimits
from seedance_async.providers import ProviderAdapter
from seedance_async.transport import Transport
from seedance_async.transport._aiohttp import AiohttpTransport

__all__ = ["run"]

TARGET_REQUESTS_PER_TASK = 1.2
TARGET_LAG_P99 = 1.0
CONFIRM_WINDOW = 0.5
BACKSTOP = PollSchedule.backstop()


async def _with_callbacks(
    server: SimServer, tasks: int, gap: float, scale: float, window: float = CONFIRM_WINDOW
) -> tuple[dict[str, float], dict[str, list[int]], dict[str, Any]]:
    """(notice time by id, status requests by id as the ids in each, callback counts)."""
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
    limits = ReceiverLimits(rate=50.0 / scale, burst=int(100 / scale) + 1)
    async with (
        Client([_config(server)], transport_factory=factory) as client,
        CallbackServer(listen="127.0.0.1:0", limits=limits) as receiver,
    ):

        def on_event(event: Any) -> None:
            if event.task_id is not None and event.kind is EventKind.SUCCEEDED:
                noticed[event.task_id] = event.at

        client.events.add_callback(on_event)
        async with Tracker(
            client,
            schedule=PollSchedule().scaled(scale),
            callbacks=receiver,
            backstop=BACKSTOP.scaled(scale),
            confirm_window=window * scale,
            seed=1,
        ) as tracker:

            async def start_one(_: Any, n: int) -> None:
                await tracker.submit(sample_task(n))

            await _paced(tasks, gap, start_one)
        stats = tracker.callback_stats
    polls: dict[str, list[int]] = defaultdict(list)
    for _, ids in recorders[0].log:
        for task_id in ids:
            polls[task_id].append(len(ids))
    counts = (
        {}
        if stats is None
        else {
            "received": stats.received,
            "confirmed": stats.confirmed,
            "rejected": stats.rejected,
            "found_by_backstop": stats.found_by_backstop,
            "rejected_by_reason": stats.rejected_by_reason,
        }
    )
    return noticed, polls, counts


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


async def run(
    *,
    tasks: int = 1000,
    arrival_span: float = 240.0,
    time_scale: float = 0.1,
    generation: tuple[float, float] = (30.0, 120.0),
    drop: float = 0.05,
    forge: float = 0.01,
    wide_window: float | None = 2.0,
) -> BenchResult:
    """Requests per task, detection lag, lost tasks and forged actions, three ways.

    ``wide_window``: also run with this ``confirm_window`` (None: skip), to show what a
    wider window trades: more confirmations per list call, more lag.
    """
    result = BenchResult("callbacks")
    faults = {"drop": drop, "forge_task": forge, "forge_url": forge}
    spec = SimSpec(
        providers=("ark",),
        time_scale=time_scale,
        queue=(0.0, 0.0),
        run=generation,
        seed=8,
        callbacks=faults,
    )
    gap = arrival_span * time_scale / tasks
    started = time.monotonic()
    with SimServer(spec) as server:
        noticed, polls, counts = await _with_callbacks(server, tasks, gap, time_scale)
        times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
        deliveries = await server.admin("ark", "callbacks")
    wide: tuple[dict[str, float], dict[str, list[int]], dict[str, Any]] | None = None
    if wide_window is not None:
        with SimServer(spec) as server:
            wide = await _with_callbacks(server, tasks, gap, time_scale, wide_window)
            w_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
            w_deliveries = await server.admin("ark", "callbacks")
    with SimServer(spec) as server:
        d_noticed, d_polls, _ = await _library(server, tasks, gap, time_scale, PollSchedule())
        d_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
    with SimServer(spec) as server:
        f_noticed, f_polls = await _fixed(server, tasks, gap, time_scale)
        f_times = {t["task_id"]: t for t in await server.admin("ark", "tasks")}
    seconds = time.monotonic() - started

    delivered = {
        d["task_id"]
        for d in deliveries
        if d["status"] == "succeeded" and d["outcome"] == "acked" and not d["fault"]
    }
    forged_sent = sum(1 for d in deliveries if d["fault"] in ("forged_task", "forged_url"))
    created = [i for i, t in times.items() if t["end"]]
    lost = len(created) - sum(1 for i in created if i in noticed)
    early = sum(1 for i, at in noticed.items() if at < times[i]["end"])  # believed a forgery

    def lag(at: float, end: float) -> float:
        return max(0.0, at - end) / time_scale

    lag_delivered = [
        lag(noticed[i], times[i]["end"]) for i in created if i in delivered and i in noticed
    ]
    lag_dropped = [
        lag(noticed[i], times[i]["end"]) for i in created if i not in delivered and i in noticed
    ]
    requests = [1 + sum(1 / k for k in polls.get(i, ())) for i in created]
    d_requests = [
        1 + sum(1 / k for _, k in d_polls.get(i, ())) for i in d_times if d_times[i]["end"]
    ]
    d_lags = [lag(at, d_times[i]["end"]) for i, at in d_noticed.items()]
    f_requests = [1.0 + n for n in f_polls.values()]
    f_lags = [lag(at, f_times[i]["end"]) for i, at in f_noticed.items()]

    # A dropped task is found by the first backstop poll after its end: at most one
    # interval late (jitter included), or, when it ended before the first backstop poll
    # (the longest recent duration x (1 + margin)), at that poll.
    jitter = 1 + BACKSTOP.jitter
    bound = max(
        BACKSTOP.max_interval * jitter,
        BACKSTOP.eta_fraction * jitter * generation[1] - generation[0],
    )
    req, d_req, f_req = _mean(requests), _mean(d_requests), _mean(f_requests)
    p50, p99 = percentile(lag_delivered, 50), percentile(lag_delivered, 99)
    dp50, dp99 = percentile(lag_dropped, 50), percentile(lag_dropped, 99)
    worst_dropped = max(lag_dropped, default=0.0)
    f = result.figures
    f.update(
        tasks=float(len(created)),
        requests_per_task=req,
        default_requests_per_task=d_req,
        fixed_requests_per_task=f_req,
        lag_delivered_p50_s=p50,
        lag_delivered_p99_s=p99,
        lag_dropped_p50_s=dp50,
        lag_dropped_p99_s=dp99,
        lag_dropped_max_s=worst_dropped,
        backstop_bound_s=bound,
        default_lag_p50_s=percentile(d_lags, 50),
        default_lag_p99_s=percentile(d_lags, 99),
        fixed_lag_p50_s=percentile(f_lags, 50),
        fixed_lag_p99_s=percentile(f_lags, 99),
        delivered=float(len(delivered & set(created))),
        dropped=float(len(created) - len(delivered & set(created))),
        lost=float(lost),
        forged_sent=float(forged_sent),
        forged_actions=float(early),
        callbacks_received=float(counts.get("received", 0)),
        callbacks_confirmed=float(counts.get("confirmed", 0)),
        callbacks_rejected=float(counts.get("rejected", 0)),
        found_by_backstop=float(counts.get("found_by_backstop", 0)),
        wall_seconds=seconds,
    )
    b = "9 callbacks"
    result.rows += [
        Row(
            b,
            f"requests per task (create + confirm + backstop), {len(created)} tasks",
            f"{req:.2f}",
            f"default {d_req:.2f}; fixed 5 s {f_req:.1f}",
            f"{req / d_req:.2f}x; {req / f_req:.2f}x",
            f"<= {TARGET_REQUESTS_PER_TASK}",
            verdict(req <= TARGET_REQUESTS_PER_TASK),
        ),
        Row(
            b,
            f"lag p50 / p99, delivered callbacks ({len(lag_delivered)} tasks), provider s",
            f"{p50:.2f} / {p99:.2f}",
            f"default {percentile(d_lags, 50):.1f} / {percentile(d_lags, 99):.1f};"
            f" fixed {percentile(f_lags, 50):.1f} / {percentile(f_lags, 99):.1f}",
            "",
            f"p99 < {TARGET_LAG_P99:g} s",
            verdict(p99 < TARGET_LAG_P99),
        ),
        Row(
            b,
            f"lag p50 / p99 / max, dropped callbacks ({len(lag_dropped)} tasks), provider s",
            f"{dp50:.1f} / {dp99:.1f} / {worst_dropped:.1f}",
            "",
            "",
            f"<= backstop bound {bound:.0f} s",
            verdict(worst_dropped <= bound),
        ),
        Row(
            b,
            "tasks lost; actions on forged callbacks (forged bodies sent)",
            f"{lost}; {early} ({forged_sent})",
            "",
            "",
            "0; 0",
            verdict(lost == 0 and early == 0),
        ),
    ]
    if wide is not None and wide_window is not None:
        w_noticed, w_polls, _ = wide
        w_created = [i for i, t in w_times.items() if t["end"]]
        w_delivered = {
            d["task_id"]
            for d in w_deliveries
            if d["status"] == "succeeded" and d["outcome"] == "acked" and not d["fault"]
        }
        w_req = _mean([1 + sum(1 / k for k in w_polls.get(i, ())) for i in w_created])
        w_lags = [
            lag(w_noticed[i], w_times[i]["end"])
            for i in w_created
            if i in w_delivered and i in w_noticed
        ]
        w50, w99 = percentile(w_lags, 50), percentile(w_lags, 99)
        f.update(wide_requests_per_task=w_req, wide_lag_p50_s=w50, wide_lag_p99_s=w99)
        result.rows.append(
            Row(
                b,
                f"confirm_window {wide_window:g} s: requests per task; lag p50 / p99 delivered",
                f"{w_req:.2f}; {w50:.2f} / {w99:.2f} s",
                f"window {CONFIRM_WINDOW:g} s: {req:.2f}; {p50:.2f} / {p99:.2f} s",
            )
        )
    result.rows += [
        Row(
            b,
            "callbacks received / confirmed / rejected; found by the backstop",
            f"{counts.get('received', 0)} / {counts.get('confirmed', 0)} /"
            f" {counts.get('rejected', 0)}; {counts.get('found_by_backstop', 0)}",
        ),
    ]
    return result
