"""What every benchmark shares: result rows, CPU clocks, percentiles, machine facts, tables."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from seedance_async import PollSchedule, VideoTask

__all__ = [
    "MODEL",
    "PEER_DISTRIBUTIONS",
    "REPO_ROOT",
    "ZERO_WAIT",
    "BenchResult",
    "PairedRatio",
    "Row",
    "ark_body",
    "cpu_now",
    "load_average",
    "machine_description",
    "paired_ratio",
    "percentile",
    "ratio_cell",
    "render_markdown",
    "render_text",
    "sample_task",
    "verdict",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL = "doubao-seedance-1-0-pro-250528"

ZERO_WAIT = PollSchedule(first_poll=0.0, min_interval=0.0, max_interval=0.0, growth=0.0, jitter=0.0)
"""Poll every task again as soon as its answer is in: the tracker runs flat out, so its CPU
per poll is measured at the same saturation as the baseline's."""


def sample_task(n: int) -> VideoTask:
    """A distinct, realistic text-to-video spec (about 80 characters of prompt)."""
    return VideoTask(
        model=MODEL,
        prompt=f"a paper boat drifting down a rainy street at dusk, cinematic, shot {n}",
        duration=5,
        seed=n,
    )


def ark_body(task: VideoTask) -> dict[str, Any]:
    """The Ark create body for a text-to-video ``task``, as a user writes it by hand.

    The floors build it from a spec made before the clock starts, as the library's side
    gets its specs: making a ``VideoTask`` runs the spec rules, which is library work.
    """
    return {
        "model": task.model,
        "content": [{"type": "text", "text": task.prompt}],
        "duration": task.duration,
        "seed": task.seed,
    }


def cpu_now() -> float:
    """CPU seconds used so far by this process, every thread included (user + system)."""
    return time.process_time()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the results table.

    Attributes:
        bench: which benchmark (``1 poll CPU``...).
        metric: what is measured, with its unit.
        library: the library's figure.
        baseline: the baseline's figure ("" when there is none).
        ratio: library / baseline, or another comparison ("" when none).
        target: the issue's target for this line ("" when none).
        verdict: ``met``, ``MISSED`` or "" (informational line).
    """

    bench: str
    metric: str
    library: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


@dataclasses.dataclass
class BenchResult:
    """What one benchmark produced: table rows and the raw figures behind them."""

    name: str
    rows: list[Row] = dataclasses.field(default_factory=list)
    figures: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class PairedRatio:
    """Per-round ratios of two sides measured in alternation, and their median and range.

    The median of the per-round ratios (not the ratio of the medians): each round's two
    sides ran back to back, so a neighbour's load that came and went hits both halves of a
    pair alike and cancels in its ratio.
    """

    per_round: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median per-round ratio (NaN without rounds)."""
        return statistics.median(self.per_round) if self.per_round else math.nan

    @property
    def low(self) -> float:
        """The smallest per-round ratio."""
        return min(self.per_round, default=math.nan)

    @property
    def high(self) -> float:
        """The largest per-round ratio."""
        return max(self.per_round, default=math.nan)


def paired_ratio(library: Sequence[float], baseline: Sequence[float]) -> PairedRatio:
    """``library[i] / baseline[i]`` for each round ``i`` (rounds with a zero baseline skipped)."""
    return PairedRatio(
        tuple(lib / base for lib, base in zip(library, baseline, strict=True) if base)
    )


def ratio_cell(ratio: PairedRatio) -> str:
    """``1.23x (1.10-1.31)``: the median per-round ratio and its range over the rounds."""
    if len(ratio.per_round) < 2:
        return f"{ratio.median:.2f}x"
    return f"{ratio.median:.2f}x ({ratio.low:.2f}-{ratio.high:.2f})"


def verdict(ok: bool) -> str:
    """``met`` or ``MISSED``."""
    return "met" if ok else "MISSED"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_description() -> dict[str, str]:
    """The facts a reader needs to compare these figures with their own machine."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpus (nproc)": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "cpu model": _cpu_model(),
        "memory": mem or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "aiohttp": version("aiohttp"),
        "anyio": version("anyio"),
        **{name: _version_or_missing(name) for name in PEER_DISTRIBUTIONS},
        "load average (1, 5, 15 min) at the end": load_average(),
    }


PEER_DISTRIBUTIONS = ("volcengine-ark-runtime", "litellm", "httpx")
"""The peers' distributions (the ``bench`` extra) whose versions a run records."""


def _version_or_missing(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (how busy the machine was), or "unknown"."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _cells(rows: Iterable[Row]) -> list[list[str]]:
    header = ["bench", "metric", "library", "baseline", "ratio", "target", "verdict"]
    return [header] + [
        [r.bench, r.metric, r.library, r.baseline, r.ratio, r.target, r.verdict] for r in rows
    ]


def render_text(rows: Iterable[Row]) -> str:
    """A plain-text table with aligned columns."""
    cells = _cells(rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: Iterable[Row]) -> str:
    """A GitHub-flavoured Markdown table."""
    cells = _cells(rows)
    out = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells[1:]]
    return "\n".join(out)
