"""When to poll a task next: ETA-aware first poll, then intervals growing with elapsed time.

A fixed 5 s poller wastes most of its calls on a task that takes 40-120 s, and a long fixed
interval adds lag. We poll first near the expected finish (learned per provider and model
from tasks seen so far), then at an interval proportional to the time already spent,
clamped to [min_interval, max_interval]: lag stays a bounded fraction of the generation time
while the number of polls grows only logarithmically with it.
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
        jitter: +/- fraction applied by the caller to spread polls.
    """

    first_poll: float = 5.0
    min_interval: float = 2.0
    max_interval: float = 30.0
    growth: float = 0.15
    eta_fraction: float = 1.0
    jitter: float = 0.1

    def first_delay(self, eta: float | None) -> float:
        """Delay from submit to the first poll."""
        if eta is None:
            return self.first_poll
        return max(self.min_interval, eta * self.eta_fraction)

    def next_delay(self, elapsed: float, eta: float | None = None) -> float:
        """Delay to the next poll for a task submitted ``elapsed`` seconds ago."""
        interval = min(self.max_interval, max(self.min_interval, elapsed * self.growth))
        if eta is not None and elapsed < eta:
            # Do not sleep past the expected finish by more than the minimum interval.
            interval = min(interval, max(self.min_interval, eta - elapsed))
        return interval

    def scaled(self, factor: float) -> PollSchedule:
        """The same schedule with every duration multiplied (for time-scaled simulators)."""
        return attrs.evolve(
            self,
            first_poll=self.first_poll * factor,
            min_interval=self.min_interval * factor,
            max_interval=self.max_interval * factor,
        )


class EtaEstimator:
    """Running estimates of generation time per (provider, model) from recent tasks.

    Two figures: the median (the expected finish, which later polls do not sleep past) and
    an early quantile (by default the 10th percentile), where the first poll goes: placing
    it at the median would leave the quicker half of the tasks waiting for it.
    """

    def __init__(self, window: int = 64, *, early_quantile: float = 0.1) -> None:
        self._window = window
        self._early_q = early_quantile
        self._samples: dict[tuple[str, str], deque[float]] = {}
        # Both are read on every poll and change only when a task ends: keep them.
        self._medians: dict[tuple[str, str], float] = {}
        self._early: dict[tuple[str, str], float] = {}

    def observe(self, provider: str, model: str, seconds: float) -> None:
        """Record how long a task took from submit to its final state."""
        if seconds <= 0:
            return
        key = (provider, model)
        samples = self._samples.setdefault(key, deque(maxlen=self._window))
        samples.append(seconds)
        ordered = sorted(samples)
        self._medians[key] = ordered[len(ordered) // 2]
        self._early[key] = ordered[int(self._early_q * (len(ordered) - 1))]

    def eta(self, provider: str, model: str) -> float | None:
        """Median generation time, or None before the first sample."""
        return self._medians.get((provider, model))

    def early(self, provider: str, model: str) -> float | None:
        """The early-quantile generation time (first-poll time), or None before a sample."""
        return self._early.get((provider, model))
