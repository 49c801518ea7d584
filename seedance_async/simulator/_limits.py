"""Per-key limits as providers enforce them, and the sliding window that counts requests.

Ark's documented budgets (its "Model list" rate-limit tables): per account and model, 600 task
creations per minute and 10 running tasks for the pro family (300 and 5 for lite), and at
most 120 *queued* tasks per account ("QuotaExceeded"). The simulator applies limits per API
key (one key = one account here) and not per model, which is the stricter reading.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import attrs

__all__ = ["DEFAULT_LIMITS", "Limits", "SlidingWindow"]


def _positive(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """The budgets of one API key on one provider; None means unlimited.

    Attributes:
        rpm: creates accepted per sliding ``window`` (Ark ``RateLimitExceeded.EndpointRPMExceeded``).
        window: length of the rate window in clock seconds; not scaled by ``time_scale``,
            because the clients that must respect it run in real time.
        count_polls: when True, get/list/delete requests count towards ``rpm`` too (whether
            they do on Ark is undocumented).
        max_running: tasks running at once; more wait in ``queued`` until a slot frees
            (they are not rejected).
        max_queued: queued tasks; a create beyond it is refused (Ark 429 ``QuotaExceeded``).
        max_inflight: queued + running tasks; a create beyond it is refused (Ark 429
            ``InflightBatchsizeExceeded``).
        credits: total credits (the Ark token formula) the key may spend on creates; a
            create that does not fit is refused with the provider's "out of credits"
            answer (AI/ML API 403).
    """

    rpm: int | None = attrs.field(default=None, validator=_positive)
    window: float = 60.0
    count_polls: bool = False
    max_running: int | None = attrs.field(default=None, validator=_positive)
    max_queued: int | None = attrs.field(default=None, validator=_positive)
    max_inflight: int | None = attrs.field(default=None, validator=_positive)
    credits: int | None = None

    @classmethod
    def unlimited(cls) -> Limits:
        """No limit at all (handy for load tests and benchmarks)."""
        return cls()

    @classmethod
    def ark(cls) -> Limits:
        """Ark's documented pro-family budgets: 600 creates/min, 10 running, 120 queued."""
        return cls(rpm=600, max_running=10, max_queued=120)


DEFAULT_LIMITS: Mapping[str, Limits] = {
    # Ark and its pass-through gateways enforce Ark's budgets upstream.
    "ark": Limits.ark(),
    "chainhub": Limits.ark(),
    "gateway000": Limits.ark(),
    "gptproto": Limits.ark(),
    # AI/ML API and the unified gateways publish no numbers.
    "aimlapi": Limits(),
    "unified": Limits(),
}
"""Limits used for a provider when the simulator is not given any."""


class SlidingWindow:
    """Counts events per key over the last ``window`` seconds (an exact sliding log)."""

    __slots__ = ("_events", "limit", "window")

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, collections.deque[float]] = {}

    def try_acquire(self, key: str, now: float) -> bool:
        """Record an event for ``key`` at ``now`` unless the window is full.

        Returns:
            True when the event fits (and was recorded), False when it is refused.
        """
        if self.limit is None:
            return True
        events = self._events.setdefault(key, collections.deque())
        horizon = now - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may send again (0 when it may now)."""
        events = self._events.get(key)
        if self.limit is None or not events or len(events) < self.limit:
            return 0.0
        return max(0.0, events[0] + self.window - now)
