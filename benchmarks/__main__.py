"""``python -m benchmarks``: run every benchmark and print one table.

Usage::

    python -m benchmarks                       # the whole set (about 8 minutes)
    python -m benchmarks --only poll_cpu,lag   # some of them
    python -m benchmarks --quick               # tiny sizes: proves the harness, no figures
    python -m benchmarks --json out.json       # also write every raw figure
    python -m benchmarks --update-readme       # rewrite the table in benchmarks/README.md
    python -m benchmarks --profile poll_cpu    # run one under pyinstrument (bench extra)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from benchmarks import (
    bench_budget,
    bench_callbacks,
    bench_lag,
    bench_paths,
    bench_peers,
    bench_poll_cpu,
    bench_scale,
    bench_submit,
    bench_workers,
)
from benchmarks._common import (
    BenchResult,
    load_average,
    machine_description,
    render_markdown,
    render_text,
)

__all__ = ["BENCHMARKS", "QUICK", "main", "run_all"]

BENCHMARKS: Mapping[str, Callable[..., Awaitable[BenchResult]]] = {
    "poll_cpu": bench_poll_cpu.run,
    "scale": bench_scale.run,
    "budget": bench_budget.run,
    "lag": bench_lag.run,
    "submit": bench_submit.run,
    "paths": bench_paths.run,
    "peers": bench_peers.run,
    "workers": bench_workers.run,
    "callbacks": bench_callbacks.run,
}
"""Every benchmark, in the order of the issue."""

QUICK: Mapping[str, Mapping[str, Any]] = {
    "poll_cpu": {
        "n_tasks": 40,
        "interval": 0.1,
        "warmup": 0.1,
        "seconds": 0.2,
        "rounds": 1,
    },
    "scale": {"sizes": (300,), "polls_per_task": 1},
    "budget": {"limit": 20, "seconds": 1.0, "unknown_seconds": 1.0},
    "lag": {"tasks": 12, "arrival_span": 40.0, "time_scale": 0.005},
    "submit": {"tasks": 30, "concurrency": 8},
    "paths": {
        "n_tasks": 40,
        "tasks": 20,
        "concurrency": 8,
        "interval": 0.1,
        "list_batch": 10,
        "warmup": 0.1,
        "seconds": 0.2,
        "rounds": 1,
    },
    "peers": {"tasks": 10, "concurrencies": (4,), "rounds": 1},
    "workers": {
        "unbound_limit": 500,
        "bound_limit": 20,
        "counts": (1, 2),
        "tasks": 40,
        "bound_tasks": 30,
        "run_s": 1.0,
    },
    "callbacks": {"tasks": 12, "arrival_span": 40.0, "time_scale": 0.005},
}
"""Tiny sizes that run each benchmark in seconds (the smoke test uses them)."""

README = Path(__file__).resolve().parent / "README.md"


async def run_all(names: list[str], *, quick: bool = False) -> list[BenchResult]:
    """Run the named benchmarks one after the other (each starts its own simulator)."""
    results = []
    for name in names:
        kwargs = dict(QUICK[name]) if quick else {}
        print(f"running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = await BENCHMARKS[name](**kwargs)
        result.seconds = time.perf_counter() - start
        print(f"  {name}: {result.seconds:.0f} s", file=sys.stderr, flush=True)
        results.append(result)
    return results


def _machine_markdown(total: float, load_at_start: str) -> str:
    lines = [f"- {k}: {v}" for k, v in machine_description().items()]
    lines.append(f"- load average (1, 5, 15 min) at the start: {load_at_start}")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"- run: {when}, {total:.0f} s in all")
    return "\n".join(lines)


def _keeping_markers(body: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + body + match.group(2)

    return replace


def update_readme(
    results: list[BenchResult], total: float, path: Path = README, *, load_at_start: str = ""
) -> None:
    """Replace the generated blocks of ``benchmarks/README.md`` (between marker comments)."""
    text = path.read_text(encoding="utf-8")
    blocks = {
        "table": render_markdown(row for r in results for row in r.rows),
        "machine": _machine_markdown(total, load_at_start or "unknown"),
        "notes": "\n".join(f"- {n}" for r in results for n in r.notes) or "- (none)",
    }
    for name, body in blocks.items():
        pattern = re.compile(
            rf"(<!-- bench:{name}:start -->\n).*?(<!-- bench:{name}:end -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"{path}: no <!-- bench:{name}:start/end --> markers")
        text = pattern.sub(_keeping_markers(body + "\n"), text)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (harness check)")
    parser.add_argument("--json", metavar="FILE", help="write raw figures as JSON")
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the table in benchmarks/README.md"
    )
    parser.add_argument(
        "--profile", metavar="NAME", help="run one benchmark under pyinstrument and print it"
    )
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if not args.only else args.only.split(",")
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown} (known: {', '.join(BENCHMARKS)})")
    if args.profile:
        return _profile(args.profile, quick=args.quick)
    load_at_start = load_average()
    start = time.perf_counter()
    results = anyio.run(lambda: run_all(names, quick=args.quick))
    total = time.perf_counter() - start
    print(render_text(row for r in results for row in r.rows))
    for result in results:
        for note in result.notes:
            print(f"note ({result.name}): {note}")
    machine = {**machine_description(), "load average at the start": load_at_start}
    print(f"\n{total:.0f} s in all; machine: {json.dumps(machine)}")
    if args.json:
        payload = {r.name: {"figures": r.figures, "seconds": r.seconds} for r in results}
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if args.update_readme:
        if args.quick or args.only:
            parser.error("--update-readme needs the full set at full size")
        update_readme(results, total, load_at_start=load_at_start)
    return 0


def _profile(name: str, *, quick: bool) -> int:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}", file=sys.stderr)
        return 2
    profiler = Profiler(async_mode="disabled")
    profiler.start()
    anyio.run(lambda: run_all([name], quick=quick))
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
