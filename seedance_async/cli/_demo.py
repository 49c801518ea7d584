"""The offline demo: a mixed batch across every simulated provider, with faults and failover.

``make demo`` (or ``seedance-async demo``) starts the embedded simulator in this process,
runs a batch of text, first-frame, first+last-frame and reference-image tasks across all six
simulated providers with rate limits, server errors, connection resets, lost submit answers
and failed generations switched on, plus Seedance 2.x tasks: 2.0 multimodal (reference
images, a video and an audio track the simulator serves on its CDN and reads back), 2.0
fast, 2.0 with web search, and 1.5 pro drafts that are then turned into final videos. It
downloads every video, writes a results JSONL and ends with a summary per provider that
includes what the simulator's billing ledger says, and a line on the 2.x tasks.
No key, no network beyond loopback.

With ``--callbacks`` the simulated Ark and its gateways also post status-change callbacks
(5 % dropped, some duplicated, reordered and forged) to a receiver the tracker runs on
loopback; tasks there are polled only as the backstop, and the summary counts callbacks and
status requests per task.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs

from seedance_async.callbacks._server import CallbackServer
from seedance_async.client._client import Client
from seedance_async.client._finalize import final_spec
from seedance_async.config._provider import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    parse_provider_config,
)
from seedance_async.config._timeouts import Timeouts
from seedance_async.core._events import Event, EventKind
from seedance_async.policy._failover import FailoverPolicy
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    Callbacks,
    Faults,
    Simulator,
    reference_audio,
    reference_video,
)
from seedance_async.spec._codec import dump_result, dump_task
from seedance_async.spec._handle import Outcome, TaskResult
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, ImageRole, Ratio, Resolution, Video
from seedance_async.tracker._tracker import Tracker

__all__ = ["DEMO_FAULTS", "demo_2x_tasks", "demo_tasks", "main", "run_demo"]

LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
PRO_FAST = "doubao-seedance-1-0-pro-fast-251015"
PRO_15 = "doubao-seedance-1-5-pro-251215"
SEEDANCE_2 = "doubao-seedance-2-0-260128"
SEEDANCE_2_FAST = "doubao-seedance-2-0-fast-260128"
_IMG = "https://example.com/demo/{name}.png"

DEMO_FAULTS: dict[str, Faults] = {
    # Retry-After on Ark's 429s, lost answers and resets: reconciliation at work.
    "ark": Faults(
        rate_limit=0.10, retry_after=0.2, server_error=0.03, reset=0.01, drop_after_create=0.02
    ),
    # 429s without Retry-After (adaptive rate) and generations that fail (failover after).
    "chainhub": Faults(
        rate_limit=0.08,
        task_failure=0.08,
        failure_code="InternalServiceError",
        failure_message="internal error while generating",
    ),
    # A flaky gateway with no list endpoint: a lost answer cannot be checked, so it is
    # reported unknown, never resent blindly.
    "gateway000": Faults(server_error=0.08, reset=0.02),
    "aimlapi": Faults(rate_limit=0.12, retry_after=0.1, task_failure=0.03),
    "unified": Faults(rate_limit=0.05, task_failure=0.05, malformed_json=0.01),
    "gptproto": Faults(server_error=0.05, drop_after_create=0.01),
}
"""Faults switched on per simulated provider in the demo."""

DEMO_CALLBACKS = Callbacks(drop=0.05, duplicate=0.05, reorder=0.05, forge_task=0.02, forge_url=0.02)
"""How the simulated providers post callbacks in ``demo --callbacks``: unreliably."""


def demo_tasks(count: int = 240, *, seed: int = 7) -> list[VideoTask]:
    """A reproducible mixed batch: every scenario, every model that supports it."""
    rng = random.Random(seed)
    subjects = [
        "a corgi surfing",
        "a paper boat in rain",
        "a fox in snow",
        "neon city at night",
        "a robot painting",
    ]
    out: list[VideoTask] = []
    for n in range(count):
        subject = f"{rng.choice(subjects)}, shot {n}"
        kind = n % 4
        common: dict[str, Any] = {
            "duration": 5,
            "metadata": {"row": n},
            "seed": rng.randrange(0, 2**31 - 1),
        }
        if kind == 0:
            model = rng.choice([LITE_T2V, PRO, PRO_FAST, PRO_15])
            task = VideoTask(
                model=model, prompt=subject, resolution=Resolution.P720, ratio=Ratio.R16_9, **common
            )
        elif kind == 1:
            model = rng.choice([LITE_I2V, PRO, PRO_FAST, PRO_15])
            first = Image.from_url(_IMG.format(name=f"first-{n}"))
            task = VideoTask(
                model=model, prompt=subject, images=(first,), resolution=Resolution.P480, **common
            )
        elif kind == 2:
            model = rng.choice([LITE_I2V, PRO, PRO_15])
            images = (
                Image.from_url(_IMG.format(name=f"first-{n}")),
                Image.from_url(_IMG.format(name=f"last-{n}"), ImageRole.LAST_FRAME),
            )
            task = VideoTask(
                model=model, prompt=subject, images=images, return_last_frame=n % 3 == 0, **common
            )
        else:
            refs = tuple(
                Image.from_url(_IMG.format(name=f"ref-{n}-{i}"), ImageRole.REFERENCE_IMAGE)
                for i in range(1 + n % 4)
            )
            names = " and ".join(f"[Image{i + 1}]" for i in range(len(refs)))
            task = VideoTask(
                model=LITE_I2V,
                prompt=f"{names} {subject}",
                images=refs,
                ratio=Ratio.R16_9,
                **common,
            )
        out.append(task)
    return out


def demo_2x_tasks(count: int, *, video_url: str, audio_url: str) -> list[VideoTask]:
    """Seedance 2.x tasks in turn: 2.0 multimodal (reference images, ``video_url``,
    ``audio_url``), 2.0 fast, 2.0 with web search, and 1.5 pro drafts."""
    out: list[VideoTask] = []
    for n in range(count):
        kind = n % 4
        meta = {"row": f"2x-{n}"}
        if kind == 0:
            refs = tuple(
                Image.from_url(_IMG.format(name=f"ref2-{n}-{i}"), ImageRole.REFERENCE_IMAGE)
                for i in range(2)
            )
            task = VideoTask(
                model=SEEDANCE_2,
                prompt=f"Image 1 and Image 2 dance to Audio 1, moving like Video 1 (take {n})",
                images=refs,
                videos=(Video.from_url(video_url),),
                audios=(Audio.from_url(audio_url),),
                duration=-1,
                metadata=meta,
            )
        elif kind == 1:
            task = VideoTask(
                model=SEEDANCE_2_FAST,
                prompt=f"a kite over dunes, take {n}",
                resolution=Resolution.P720,
                metadata=meta,
            )
        elif kind == 2:
            task = VideoTask(
                model=SEEDANCE_2,
                prompt=f"this week's weather in Lisbon as a weather report, take {n}",
                tools=("web_search",),
                metadata=meta,
            )
        else:
            task = VideoTask(
                model=PRO_15, prompt=f"a lantern festival, draft {n}", draft=True, metadata=meta
            )
        out.append(task)
    return out


@attrs.define
class _Stats:
    submitted: Counter[str] = attrs.Factory(Counter)
    retried: Counter[str] = attrs.Factory(Counter)
    rate_limited: Counter[str] = attrs.Factory(Counter)
    failed_over: Counter[str] = attrs.Factory(Counter)
    reconciled: Counter[str] = attrs.Factory(Counter)

    def on_event(self, event: Event) -> None:
        counters = {
            EventKind.SUBMITTED: self.submitted,
            EventKind.RETRIED: self.retried,
            EventKind.RATE_LIMITED: self.rate_limited,
            EventKind.RECONCILED: self.reconciled,
        }
        if event.kind in counters:
            counters[event.kind][event.provider] += 1
        elif event.kind is EventKind.FAILED_OVER and event.detail and "circuit" not in event.detail:
            self.failed_over[event.provider] += 1


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_rows(results: list[TaskResult], stats: _Stats, sim: Simulator) -> list[dict[str, Any]]:
    """One row per provider: what the client saw next to what the simulator billed."""
    by_provider: dict[str, list[TaskResult]] = defaultdict(list)
    for r in results:
        final = r.handle.provider if r.handle else (r.attempts[-1].provider if r.attempts else "-")
        by_provider[final].append(r)
    rows = []
    for provider in sim.providers:
        mine = by_provider.get(provider, [])
        ok = [r for r in mine if r.ok]
        latencies = [r.finished_at - r.submitted_at for r in ok if r.finished_at and r.submitted_at]
        p50, p95 = _percentile(latencies, 0.5), _percentile(latencies, 0.95)
        rows.append(
            {
                "provider": provider,
                "sent": stats.submitted[provider],
                "ok": len(ok),
                "not ok": len(mine) - len(ok),
                "retries": stats.retried[provider],
                "429s": sim.stats(provider).get("status.429", 0),
                "moved on": stats.failed_over[provider],
                "adopted": stats.reconciled[provider],
                "p50 s": None if p50 is None else round(p50, 2),
                "p95 s": None if p95 is None else round(p95, 2),
                "billed": len(sim.ledger(provider)),
            }
        )
    return rows


_LEGEND = (
    "sent: creates this client saw the provider accept. billed: creates the simulator's"
    " ledger charged, counted by the provider; it is higher than sent when a submit's answer"
    " was lost on the way back (those tasks are found again by listing: adopted). ok / not"
    " ok: how the tasks that ended there ended; retries and 429s seen; moved on: tasks failed"
    " over to another provider. 'billed twice' below must be 0."
)


def _print_table(rows: list[dict[str, Any]], title: str) -> None:
    headers = list(rows[0])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
        print(title)
        print(_LEGEND)
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        for r in rows:
            print("  ".join(str(r[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))
        return
    table = Table(title=title, caption=_LEGEND)
    for h in headers:
        table.add_column(h, justify="left" if h == "provider" else "right")
    for r in rows:
        table.add_row(*("-" if r[h] is None else str(r[h]) for h in headers))
    Console().print(table)


def _client_configs(sim: Simulator, time_scale: float) -> list[ProviderConfig]:
    configs = parse_provider_config(sim.provider_config(), where="simulator")
    out = []
    for config in configs.values():
        if config.alias == "aimlapi":
            # AI/ML API serves Seedance 2.x on its universal path only.
            universal = {
                "submit_path": "/v2/video/generations",
                "status_path": "/v2/video/generations",
            }
            config = attrs.evolve(config, options={**config.options, **universal})
        # Ark's documented budgets (600 creates/min, 10 running) on every alias; short
        # timeouts so that slow answers surface quickly at the demo's time scale.
        out.append(
            attrs.evolve(
                config,
                submit_rpm=600,
                poll_rps=50,
                max_running=10,
                timeouts=Timeouts(connect=2.0, read=2.0, total=4.0),
            )
        )
    return out


def _summary_2x(results: list[TaskResult], finals: list[TaskResult], sim: Simulator) -> str:
    """One line on the Seedance 2.x tasks: how each kind ended and what drafts cost."""
    kinds: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    searches = 0
    for r in results:
        task = r.task
        if task.model not in (SEEDANCE_2, SEEDANCE_2_FAST) and not task.draft:
            continue
        kind = (
            "drafts"
            if task.draft
            else "multimodal"
            if task.videos
            else "web search"
            if task.tools
            else "2.0 fast"
        )
        kinds[kind] += 1
        ok[kind] += r.ok
        usage = r.status.usage if r.status is not None else None
        if usage is not None:
            searches += dict(usage.tool_usage).get("web_search", 0)
    ledger = sim.ledger()
    drafts = [e.tokens for e in ledger if e.charge == "draft"]
    made = [e.tokens for e in ledger if e.charge == "final"]
    parts = [
        f"{k} {ok[k]}/{kinds[k]} ok" for k in ("multimodal", "2.0 fast", "web search", "drafts")
    ]
    line = "Seedance 2.x: " + ", ".join(parts) + f" ({searches} web searches)"
    line += f"; finals {sum(r.ok for r in finals)}/{len(finals)} ok"
    if drafts and made:
        line += (
            f"; the ledger billed {len(drafts)} draft(s) at {sum(drafts) // len(drafts):,}"
            f" tokens each and {len(made)} final(s) at {sum(made) // len(made):,}"
        )
    return line


async def run_demo(
    *,
    count: int = 240,
    out_dir: Path = Path("demo-output"),
    seed: int = 7,
    time_scale: float = 0.004,
    quiet: bool = False,
    callbacks: bool = False,
    seedance_2: int | None = None,
) -> int:
    """Run the demo batch; returns 0 when every task ended and nothing was billed twice.

    ``callbacks``: providers post callbacks (with faults) to a receiver on loopback.
    ``seedance_2`` Seedance 2.x tasks (default: a tenth of ``count``, at least 4) join the
    batch; the drafts among them are then turned into final videos.
    """
    from seedance_async.cli._progress import ProgressReporter

    extra = max(4, count // 10) if seedance_2 is None else seedance_2
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    stats = _Stats()
    started = time.monotonic()
    server = CallbackServer(listen="127.0.0.1:0") if callbacks else None
    async with Simulator(
        seed=seed,
        time_scale=time_scale,
        faults=DEMO_FAULTS,
        callbacks=DEMO_CALLBACKS if callbacks else Callbacks(enabled=False),
    ) as sim:
        # References for the multimodal tasks, on the simulator's CDN: its providers fetch
        # them and read their headers, as the real ones do.
        clip = sim.host_media("dance.mp4", reference_video(seconds=4, width=1280, height=720))
        track = sim.host_media("beat.wav", reference_audio(seconds=4))
        tasks = demo_tasks(count, seed=seed) + demo_2x_tasks(extra, video_url=clip, audio_url=track)
        (out_dir / "tasks.jsonl").write_text(
            "".join(json.dumps(dump_task(t)) + "\n" for t in tasks)
        )
        configs = _client_configs(sim, time_scale)
        aliases = [c.alias for c in configs]
        results: list[TaskResult] = []
        finals: list[TaskResult] = []
        async with Client(configs, env={KEY_ENV: DEFAULT_KEY}, seed=seed) as client:
            client.events.add_callback(stats.on_event)
            policy = FailoverPolicy(
                providers=tuple(aliases), weights=dict.fromkeys(aliases, 1.0), max_extra_attempts=1
            )
            progress = ProgressReporter(total=len(tasks), providers=aliases, quiet=quiet)
            client.events.add_callback(progress.on_event)
            tracking: dict[str, Any] = {
                "providers": policy,
                "schedule": PollSchedule().scaled(time_scale),
                "download_dir": videos,
                "deadline": 600 * time_scale * 10,
                "seed": seed,
                "callbacks": server,
                "backstop": PollSchedule.backstop().scaled(time_scale),
                "confirm_window": 0.5 * time_scale,
            }
            with progress, (out_dir / "results.jsonl").open("w") as sink:
                async with Tracker(client, **tracking) as tracker:
                    for task in tasks:
                        await tracker.submit(task)
                    async for result in tracker.as_completed():
                        results.append(result)
                        sink.write(json.dumps(dump_result(result)) + "\n")
                callback_stats = tracker.callback_stats
                # Stage two of the drafts: each succeeded one becomes a final, where it ran
                # (polled: the callback receiver belonged to the first stage's tracker).
                async with Tracker(client, **{**tracking, "callbacks": None}) as tracker:
                    for r in results:
                        if r.task.draft and r.ok and r.handle is not None:
                            link = {
                                "row": f"{r.task.metadata.get('row')} final",
                                "draft_key": r.key,
                                "draft_task_id": r.handle.task_id,
                            }
                            options = {"resolution": Resolution.P720, "metadata": link}
                            final = final_spec(r.handle, options)
                            await tracker.submit(final, provider=r.handle.provider)
                    async for result in tracker.as_completed():
                        finals.append(result)
                        sink.write(json.dumps(dump_result(result)) + "\n")
        rows = summary_rows(results + finals, stats, sim)
        duplicates = sim.duplicates()
        asked = sum(1 for p in sim.providers for r in sim.requests(p) if r.op in ("get", "list"))
        line_2x = _summary_2x(results, finals, sim)
    elapsed = time.monotonic() - started
    everything = results + finals
    outcomes = Counter(r.outcome.value for r in everything)
    _print_table(rows, f"seedance-async demo: {len(everything)} tasks in {elapsed:.1f} s")
    print("outcomes:", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(line_2x)
    print(f"billed twice: {len(duplicates)} (from the simulator's ledger)")
    print(f"status requests per task: {asked / max(1, len(results)):.2f} (gets and lists)")
    if callback_stats is not None:
        print(callback_stats.describe())
    if outcomes.get("unknown"):
        print(
            "unknown: a submit's answer was lost where the provider has no list endpoint to check"
            " whether it created the task; such tasks are reported, never sent again blindly."
        )
    print(
        f"videos: {videos}/   results: {out_dir / 'results.jsonl'}   batch: {out_dir / 'tasks.jsonl'}"
    )
    # The demo batch must not be what a user first sends to a real provider: every line is
    # a paid generation and its image URLs are placeholders no provider can fetch.
    advice = (
        "Before you run a batch against a real provider, write your own tasks file:"
        f" {out_dir / 'tasks.jsonl'} holds {len(tasks)} tasks, each a paid generation there,"
        f" and its images are placeholders ({_IMG.split('{')[0]}...) that no provider can"
        " fetch. Put your own prompts and image URLs or paths in it, one task per line, only"
        " as many as you mean to pay for. Then:"
    )
    print(
        "\n"
        + textwrap.fill(advice, width=92, break_on_hyphens=False, break_long_words=False)
        + "\n"
        f"  export {BUILTIN_PROVIDERS['ark'].key_env}=...   # the key in the environment, never"
        " on the command line\n"
        "  seedance-async run my-tasks.jsonl --provider ark --dry-run   # checks, sends nothing\n"
        "  seedance-async run my-tasks.jsonl --provider ark --out results.jsonl --download videos/\n"
    )
    unfinished = sum(1 for r in everything if r.outcome not in set(Outcome))
    return 0 if not duplicates and not unfinished and len(results) == len(tasks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``seedance-async demo`` / ``python -m seedance_async.cli._demo``."""
    parser = argparse.ArgumentParser(prog="seedance-async demo", description=__doc__)
    parser.add_argument("--count", type=int, default=240, help="tasks in the batch (default 240)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--time-scale", type=float, default=0.004, help="simulated seconds per real second"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--callbacks",
        action="store_true",
        help="providers post status-change callbacks (some dropped, duplicated, reordered,"
        " forged) to a receiver on loopback; polls become the backstop",
    )
    parser.add_argument(
        "--seedance-2",
        type=int,
        default=None,
        help="Seedance 2.x tasks added to the batch (default: a tenth of --count, at least 4)",
    )
    args = parser.parse_args(argv)
    return anyio.run(
        lambda: run_demo(
            count=args.count,
            out_dir=args.out,
            seed=args.seed,
            time_scale=args.time_scale,
            quiet=args.quiet,
            callbacks=args.callbacks,
            seedance_2=args.seedance_2,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
