"""Batch progress for the command line: live bars on a terminal, plain log lines elsewhere.

A :class:`ProgressReporter` is fed by tracker events (:meth:`ProgressReporter.on_event`, an
:class:`EventHub` callback) and keeps counters only; drawing happens on a timer
(:meth:`ProgressReporter.run`), so a burst of thousands of events costs a few dict updates,
not thousands of redraws.

Two renderers: with rich installed and stdout a terminal, one bar for the batch and one per
provider (queued, running, done, failed, rate-limited) above which notable outcomes scroll;
otherwise (CI, a file, a pipe) one ``key=value`` line every ``interval`` seconds while
something changed, which is easy to grep and never contains escape sequences.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TextIO

import anyio

from seedance_async.core._events import FINAL_KINDS, Event, EventKind

__all__ = ["ProgressReporter", "rich_available"]

_WAITING, _QUEUED, _RUNNING = "waiting", "queued", "running"
_SUCCEEDED = "succeeded"
_UNASSIGNED = ""  # provider of a task not sent anywhere yet (or rejected by all)
_ACTIVE = (_WAITING, _QUEUED, _RUNNING)
_UNKNOWN = "unknown"
_CAPPED = "capped"


def rich_available() -> bool:
    """True when the optional ``rich`` package can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class _Renderer(Protocol):
    def start(self, reporter: ProgressReporter) -> None: ...
    def draw(self, reporter: ProgressReporter, final: bool) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class ProgressReporter:
    """Counts tasks by provider and state from tracker events, and shows them.

    Use it as a context manager (or call :meth:`start` / :meth:`stop`) and register
    :meth:`on_event` as an :class:`EventHub` callback. It redraws at most every ``interval``
    seconds when events arrive; :meth:`run` also redraws in quiet periods.

    Args:
        total: tasks expected; those not seen in any event yet count as waiting.
        providers: the provider aliases to show, in order (others are added when seen).
        quiet: show nothing at all.
        mode: ``auto`` (bars when ``stream`` is a terminal and rich is installed, plain lines
            otherwise), ``bars`` (rich, falling back to plain without it) or ``plain``.
        interval: seconds between redraws (default 0.25 for bars, 10 for plain lines).
        stream: where to draw (default stdout).
    """

    def __init__(
        self,
        *,
        total: int = 0,
        providers: Iterable[str] = (),
        quiet: bool = False,
        mode: str = "auto",
        interval: float | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.providers = list(providers)
        self.expected = total
        self._renderer, default = _pick_renderer(quiet, mode, stream or sys.stdout)
        self.interval = interval or default
        self._where: dict[str, tuple[str, str]] = {}  # key -> (provider, state or outcome)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.started = time.monotonic()
        self.finished_now = 0  # tasks that ended during this run (not preloaded ones)
        self._version = 0
        self._drawn = -1
        self._drawn_at = 0.0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- feeding ----------------------------------------------------------------------------

    def preload(self, key: str, provider: str | None, state: str) -> None:
        """Count a task known before this run (finished, resumed or never sent)."""
        self._move(key, provider or _UNASSIGNED, state)

    def _move(self, key: str, provider: str, state: str) -> None:
        old = self._where.get(key)
        if old is not None:
            self.counts[old] -= 1
        if provider not in self.providers and provider != _UNASSIGNED:
            self.providers.append(provider)
        self._where[key] = (provider, state)
        self.counts[(provider, state)] += 1
        self._version += 1

    def on_event(self, event: Event) -> None:
        """Update the counters from one tracker event (an :class:`EventHub` callback)."""
        kind, key = event.kind, event.key
        if kind is EventKind.RATE_LIMITED:
            self.rate_limited[event.provider] += 1
            self._version += 1
            return
        if not key:
            return
        old = self._where.get(key)
        if kind is EventKind.SUBMITTED:
            # A resumed task that was running before keeps its state until a poll says more.
            if old != (event.provider, _RUNNING):
                self._move(key, event.provider, _QUEUED)
        elif kind is EventKind.RUNNING:
            self._move(key, event.provider, _RUNNING)
        elif kind is EventKind.FAILED_OVER:
            self._move(key, _UNASSIGNED, _WAITING)
        elif kind in FINAL_KINDS:
            if old is None or old[1] in _ACTIVE:
                self.finished_now += 1
            self._move(key, event.provider, kind.value)
            if kind is EventKind.CAPPED:
                # One note, not one per line of a large batch: the run's summary counts them.
                if self.counts[(event.provider, kind.value)] == 1:
                    self.note(f"capped    {key[:12]}: {event.detail or ''}; later tasks may be too")
            elif kind is not EventKind.SUCCEEDED:
                where = f" on {event.provider}" if event.provider else ""
                self.note(f"{kind.value:<9} {key[:12]}{where}: {event.detail or ''}".rstrip(": "))
        if time.monotonic() - self._drawn_at >= self.interval:
            self.refresh()

    def note(self, text: str) -> None:
        """Show one message (a failure, an interruption) without breaking the display."""
        self._renderer.note(text)

    # -- reading ----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Every task expected or seen."""
        return max(self.expected, len(self._where))

    def tally(self, provider: str | None = None) -> dict[str, int]:
        """``{state or outcome: n}`` for one provider, or for all when None."""
        out: Counter[str] = Counter()
        for (alias, state), n in self.counts.items():
            if n and (provider is None or alias == provider):
                out[state] += n
        if provider is None and self.expected > len(self._where):
            out[_WAITING] += self.expected - len(self._where)  # not seen in any event yet
        return dict(out)

    @staticmethod
    def split(tally: Mapping[str, int]) -> dict[str, int]:
        """Group a tally into ``waiting, queued, running, done, failed, unknown, capped, finished``.

        ``failed`` counts tasks that ended without a video for a known reason, except the
        ``capped`` ones the spend cap kept from being sent; ``unknown``
        the ones whose submit may or may not have created a task (never blind-retried, see
        the README's "At most once"): they are not failures until someone looks.
        """
        finished = sum(n for s, n in tally.items() if s not in _ACTIVE)
        done = tally.get(_SUCCEEDED, 0)
        unknown = tally.get(_UNKNOWN, 0)
        capped = tally.get(_CAPPED, 0)
        return {
            _CAPPED: capped,
            _WAITING: tally.get(_WAITING, 0),
            _QUEUED: tally.get(_QUEUED, 0),
            _RUNNING: tally.get(_RUNNING, 0),
            "done": done,
            "failed": finished - done - unknown - capped,
            _UNKNOWN: unknown,
            "finished": finished,
        }

    def timing(self) -> tuple[float, float | None, float | None]:
        """(elapsed seconds, tasks finished per minute, seconds left) of this run.

        Throughput counts only tasks that ended during this run, so a resumed batch does
        not look faster than it is; both are None until one has.
        """
        elapsed = time.monotonic() - self.started
        if not self.finished_now or elapsed <= 0:
            return elapsed, None, None
        per_second = self.finished_now / elapsed
        left = self.total - self.split(self.tally())["finished"]
        return elapsed, per_second * 60, left / per_second

    def line(self) -> str:
        """The plain one-line summary: elapsed, counts, throughput and ETA, then per alias."""
        parts = self.split(self.tally())
        elapsed, per_minute, left = self.timing()
        head = (
            f"[{_clock(elapsed)}] finished={parts['finished']}/{self.total}"
            f" succeeded={parts['done']} failed={parts['failed']}"
            f" unknown={parts[_UNKNOWN]} running={parts[_RUNNING]}"
            f" queued={parts[_QUEUED]} waiting={parts[_WAITING]}"
            f" rate_limited={sum(self.rate_limited.values())}"
            f" per_min={'-' if per_minute is None else f'{per_minute:.1f}'}"
            f" eta={'-' if left is None else _clock(left)}"
        )
        if parts[_CAPPED]:
            head += f" capped={parts[_CAPPED]}"
        per = []
        for alias in self.providers:
            p = self.split(self.tally(alias))
            per.append(
                f"{alias}: queued={p[_QUEUED]} running={p[_RUNNING]} done={p['done']}"
                f" failed={p['failed']} unknown={p[_UNKNOWN]}"
                f" rate_limited={self.rate_limited[alias]}"
            )
        return " | ".join([head, *per])

    # -- drawing ----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin showing progress (draws the starting counts at once)."""
        self._renderer.start(self)
        self.refresh()

    def refresh(self, *, final: bool = False) -> None:
        """Redraw when something changed (always on ``final``)."""
        if final or self._version != self._drawn:
            self._drawn, self._drawn_at = self._version, time.monotonic()
            self._renderer.draw(self, final)

    async def run(self) -> None:
        """Redraw every ``interval`` seconds until cancelled."""
        while True:
            await anyio.sleep(self.interval)
            self.refresh()

    def stop(self) -> None:
        """Draw the final state and release the terminal."""
        self.refresh(final=True)
        self._renderer.stop()


def _clock(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss``): what a person reads at a glance."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _PlainRenderer:
    """Plain lines, flushed at once so that a reader of a pipe sees them as they come."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def start(self, reporter: ProgressReporter) -> None:
        pass

    def draw(self, reporter: ProgressReporter, final: bool) -> None:
        print(reporter.line(), file=self._stream, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self._stream, flush=True)

    def stop(self) -> None:
        pass


class _RichRenderer:
    """rich bars: the batch, then one row per provider."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
        from rich.table import Column

        self._console = Console(file=stream)
        # A row longer than the terminal wraps, and a wrapped live display redraws over
        # itself: every column is one line, the bar shrinks first, the stats are cut last.
        self.width = self._console.width
        self._progress = Progress(
            TextColumn("{task.description}", table_column=Column(width=10, no_wrap=True)),
            BarColumn(bar_width=None if self.width >= 120 else 12),
            MofNCompleteColumn(),
            TextColumn(
                "{task.fields[stats]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
            ),
            console=self._console,
            expand=True,
            auto_refresh=False,  # we redraw on our own timer, from the event loop thread
        )
        self._rows: dict[str, Any] = {}

    def start(self, reporter: ProgressReporter) -> None:
        self._rows["*"] = self._progress.add_task("batch", total=1, stats="")
        self._update(reporter)  # the first frame shows real counts, not placeholders
        self._progress.start()

    def _row(self, name: str) -> Any:
        if name not in self._rows:
            self._rows[name] = self._progress.add_task(name, total=1, stats="")
        return self._rows[name]

    def draw(self, reporter: ProgressReporter, final: bool) -> None:
        self._update(reporter)
        self._progress.refresh()

    def _update(self, reporter: ProgressReporter) -> None:
        p = reporter.split(reporter.tally())
        elapsed, per_minute, left = reporter.timing()
        pace = "" if per_minute is None else f" {per_minute:.0f}/min eta {_clock(left or 0)}"
        unknown = f" [yellow]{p[_UNKNOWN]}?[/]" if p[_UNKNOWN] else ""
        # Most wanted first: a narrow terminal cuts the end of the line.
        stats = (
            f"[green]{p['done']} ok[/] [red]{p['failed']} failed[/]{unknown}"
            f" {_clock(elapsed)}{pace} {p[_RUNNING]} run {p[_QUEUED]} q {p[_WAITING]} wait"
            f" {sum(reporter.rate_limited.values())}x429"
        )
        self._progress.update(
            self._rows["*"], total=max(reporter.total, 1), completed=p["finished"], stats=stats
        )
        for alias in reporter.providers:
            q = reporter.split(reporter.tally(alias))
            assigned = q[_QUEUED] + q[_RUNNING] + q["finished"]
            unknown = f" [yellow]{q[_UNKNOWN]}?[/]" if q[_UNKNOWN] else ""
            stats = (
                f"[green]{q['done']} ok[/] [red]{q['failed']} failed[/]{unknown}"
                f" {q[_RUNNING]} run {q[_QUEUED]} q {reporter.rate_limited[alias]}x429"
            )
            self._progress.update(
                self._row(alias), total=max(assigned, 1), completed=q["finished"], stats=stats
            )

    def note(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self._progress.stop()


class _NullRenderer:
    def start(self, reporter: ProgressReporter) -> None:
        pass

    def draw(self, reporter: ProgressReporter, final: bool) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def stop(self) -> None:
        pass


def _pick_renderer(quiet: bool, mode: str, out: TextIO) -> tuple[_Renderer, float]:
    if quiet:
        return _NullRenderer(), 1.0
    fancy = mode == "bars" or (
        mode == "auto" and out.isatty() and os.environ.get("TERM", "") != "dumb"
    )
    if fancy and rich_available():
        return _RichRenderer(out), 0.25
    return _PlainRenderer(out), 10.0
