"""When to poll a task next: ETA-aware first poll, then intervals growing with elapsed time.

A fixed 5 s poller wastes most of its calls on a task that takes 40-120 s, and a long fixed
interval adds lag. We poll first near the expected finish (learned per provider and model
from tasks seen so far), then at an interval proportional to the time already spent,
clamped to [min_interval, max_interval]: lag stays a bounded fraction of the generation time
while the number of polls grows only logarithmically with it.

A caller who needs a bounded detection lag instead sets ``target_lag``
(:meth:`PollSchedule.for_lag`): nothing is polled before the shortest recent duration plus
the lag, then every ``target_lag`` seconds at most. That is the fewest polls any schedule
can make while noticing every task (no quicker than recent ones) within ``target_lag``.
"""

from __future__ import annotations

from collections import deque

import attrs

__all__ = ["EtaEstimator", "PollSchedule"]


@attrs.frozen(kw_only=True)
class PollSchedule:
    """Poll timing, in seconds.

    Attributes:
        first_poll: first poll after submit when no ETA is known yet.
        min_interval / max_interval: bounds of the interval between polls.
        growth: interval as a fraction of the time elapsed since submit.
        eta_fraction: with an estimate, the first poll happens at this fraction of it (the
            tracker passes the early quantile of recent durations, see :class:`EtaEstimator`).
        jitter: fraction by which polls are spread: +/- around each delay, or only earlier
            (never later) when ``target_lag`` is set.
        early_quantile: the quantile of recent durations the first poll is placed at
            (0 is the shortest one seen).
        target_lag: when set, the detection lag to keep: the first poll goes at the
            shortest recent duration plus this, later polls at most this far apart, and
            ``growth``, ``max_interval`` and ``eta_fraction`` no longer apply.
    """

    first_poll: float = 5.0
    min_interval: float = 2.0
    max_interval: float = 30.0
    growth: float = 0.15
    eta_fraction: float = 1.0
    jitter: float = 0.1
    early_quantile: float = attrs.field(default=0.1)
    target_lag: float | None = None

    @early_quantile.validator
    def _check_quantile(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"early_quantile must be within [0, 1], got {value!r}")

    @classmethod
    def for_lag(cls, seconds: float, *, first_poll: float | None = None) -> PollSchedule:
        """A schedule that notices each finished task within ``seconds``, with the fewest polls.

        Before any task of a (provider, model) has finished, polls go every ``seconds``
        from ``first_poll`` (default: ``seconds``). Tasks quicker than every recent one
        may wait longer (they finish before the first poll is due).

        Raises:
            ValueError: ``seconds`` is not positive.
        """
        if not seconds > 0:
            raise ValueError(f"target lag must be > 0 seconds, got {seconds!r}")
        return cls(
            first_poll=seconds if first_poll is None else first_poll,
            min_interval=min(2.0, seconds),
            max_interval=seconds,
            early_quantile=0.0,
            target_lag=seconds,
        )

    @classmethod
    def backstop(
        cls, interval: float = 60.0, *, margin: float = 0.25, first_poll: float | None = None
    ) -> PollSchedule:
        """Sparse polls for tasks whose provider posts callbacks: the backstop, not the news.

        A callback (confirmed by one GET) reports the end; these polls only catch the tasks
        whose callback never came. The first poll goes at the longest recent duration of
        the (provider, model) times ``1 + margin``, when nearly every task has called back,
        later ones every ``interval``; before any task of the model has finished, at
        ``first_poll`` (default: ``interval``), then every ``interval``. So a task whose
        callbacks are all lost is noticed at the first poll after its end: at most
        ``interval`` (plus jitter) late, or at the first poll when it ended before it.

        Raises:
            ValueError: ``interval`` is not positive or ``margin`` is negative.
        """
        if not interval > 0:
            raise ValueError(f"backstop interval must be > 0 seconds, got {interval!r}")
        if not margin >= 0:
            raise ValueError(f"backstop margin must be >= 0, got {margin!r}")
        return cls(
            first_poll=interval if first_poll is None else first_poll,
            min_interval=min(2.0, interval),
            max_interval=interval,
            growth=1.0,  # any elapsed time past the first poll gives the full interval
            eta_fraction=1.0 + margin,
            early_quantile=1.0,  # the longest recent duration, not an early one
        )

    def first_delay(self, eta: float | None) -> float:
        """Delay from submit to the first poll; ``eta`` is the early estimate (or None)."""
        if eta is None:
            return self.first_poll
        if self.target_lag is not None:
            return max(self.min_interval, eta + self.target_lag)
        return max(self.min_interval, eta * self.eta_fraction)

    def next_delay(
        self, elapsed: float, eta: float | None = None, early: float | None = None
    ) -> float:
        """Delay to the next poll for a task submitted ``elapsed`` seconds ago.

        ``eta`` is the median recent duration, ``early`` the early estimate (as given to
        :meth:`first_delay`); both None before any task has finished.
        """
        if self.target_lag is not None:
            # Polled before anything was learned: wait for the earliest plausible finish.
            if early is not None and elapsed < early:
                return max(self.min_interval, early + self.target_lag - elapsed)
            return max(self.min_interval, self.target_lag)
        interval = min(self.max_interval, max(self.min_interval, elapsed * self.growth))
        if eta is not None and elapsed < eta:
            # Do not sleep past the expected finish by more than the minimum interval.
            interval = min(interval, max(self.min_interval, eta - elapsed))
        return interval

    def jitter_factor(self, u: float) -> float:
        """The factor a delay is multiplied by, for ``u`` drawn uniformly from [0, 1).

        With a target lag the spread only brings polls forward, so the lag stays a bound.
        """
        if self.target_lag is not None:
            return 1.0 - self.jitter * u
        return 1.0 + self.jitter * (2.0 * u - 1.0)

    def scaled(self, factor: float) -> PollSchedule:
        """The same schedule with every duration multiplied (for time-scaled simulators)."""
        return attrs.evolve(
            self,
            first_poll=self.first_poll * factor,
            min_interval=self.min_interval * factor,
            max_interval=self.max_interval * factor,
            target_lag=None if self.target_lag is None else self.target_lag * factor,
        )


class EtaEstimator:
    """Running estimates of generation time per (provider, model) from recent tasks.

    Two figures: the median (the expected finish, which later polls do not sleep past) and
    an early quantile (by default the 10th percentile; 0 is the shortest duration in the
    window), where the first poll goes: placing it at the median would leave the quicker
    half of the tasks waiting for it.
    """

    def __init__(self, window: int = 64, *, early_quantile: float = 0.1) -> None:
        self._window = window
        self._early_q = early_quantile
        self._samples: dict[tuple[str, str], deque[float]] = {}
        self._lows: dict[tuple[str, str], deque[float]] = {}
        # Both are read on every poll and change only when a task ends: keep them.
        self._medians: dict[tuple[str, str], float] = {}
        self._early: dict[tuple[str, str], float] = {}
        self._longest: dict[tuple[str, str], float] = {}

    def observe(
        self, provider: str, model: str, seconds: float, *, at_least: float | None = None
    ) -> None:
        """Record how long a task took from submit to its final state.

        ``at_least`` is a sure lower bound when ``seconds`` is only approximate (whole-second
        provider timestamps): the early quantile, where first polls go, is taken from these
        bounds, so an estimate rounded up never puts a first poll after a task's end.
        """
        if seconds <= 0:
            return
        low = seconds if at_least is None else max(0.0, min(at_least, seconds))
        key = (provider, model)
        samples = self._samples.setdefault(key, deque(maxlen=self._window))
        lows = self._lows.setdefault(key, deque(maxlen=self._window))
        samples.append(seconds)
        lows.append(low)
        self._medians[key] = sorted(samples)[len(samples) // 2]
        self._early[key] = sorted(lows)[int(self._early_q * (len(lows) - 1))]
        self._longest[key] = max(samples)

    def eta(self, provider: str, model: str) -> float | None:
        """Median generation time, or None before the first sample."""
        return self._medians.get((provider, model))

    def early(self, provider: str, model: str) -> float | None:
        """The early-quantile generation time (first-poll time), or None before a sample."""
        return self._early.get((provider, model))

    def longest(self, provider: str, model: str) -> float | None:
        """The longest recent generation time (where a backstop's first poll goes), or None
        before a sample. Taken from the durations, not their lower bounds: this one must
        not come before a task's end."""
        return self._longest.get((provider, model))
