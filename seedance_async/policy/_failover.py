"""Failover: which providers a task may go to, in which order, and when to move on."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import attrs

from seedance_async.spec._status import TaskState, TaskStatus

__all__ = ["CircuitBreaker", "FailoverPolicy", "is_retryable_failure"]

# Task-level failure codes that will fail again anywhere (moderation of the output,
# ../shared/providers.md §2.8 and pitfall 4).
_PERMANENT_MARKERS = (
    "SensitiveContentDetected",
    "RiskDetection",
    "PolicyViolation",
    "ContentSecurity",
    "InvalidParameter",
)


def is_retryable_failure(status: TaskStatus) -> bool:
    """True when a task that ended failed/expired may succeed if submitted again.

    Expired tasks ran out of queue time; failures with a moderation or parameter code will
    fail again; other failures (internal errors, timeouts) are worth one more try.
    """
    if status.state is TaskState.EXPIRED:
        return True
    if status.state is not TaskState.FAILED:
        return False
    text = f"{status.error_code or ''} {status.error_message or ''}"
    return not any(marker.lower() in text.lower() for marker in _PERMANENT_MARKERS)


@attrs.frozen(kw_only=True)
class FailoverPolicy:
    """Providers in preference order, or weighted.

    Attributes:
        providers: aliases in order of preference.
        weights: when set, each task draws its order by these weights (aliases missing from
            the mapping get weight 0 and come last, in ``providers`` order).
        max_extra_attempts: how many times one task may be resubmitted elsewhere after it
            ended failed/expired for a retryable reason. Ambiguous submits never move.
    """

    providers: tuple[str, ...]
    weights: Mapping[str, float] | None = attrs.field(default=None, hash=False)
    max_extra_attempts: int = 1

    def order(self, rng: random.Random) -> list[str]:
        """The order to try providers in for one task."""
        if not self.weights:
            return list(self.providers)
        pool = [p for p in self.providers if self.weights.get(p, 0) > 0]
        rest = [p for p in self.providers if p not in pool]
        out: list[str] = []
        while pool:
            pick = rng.choices(pool, weights=[self.weights[p] for p in pool])[0]
            out.append(pick)
            pool.remove(pick)
        return out + rest


class CircuitBreaker:
    """Opens after ``threshold`` consecutive provider failures, for ``cooldown`` seconds."""

    def __init__(self, *, threshold: int = 5, cooldown: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def is_open(self, provider: str, now: float) -> bool:
        """True while the provider should be skipped."""
        return self._open_until.get(provider, 0.0) > now

    def record_failure(self, provider: str, now: float) -> bool:
        """Count a failure; returns True when this opened the circuit."""
        count = self._failures.get(provider, 0) + 1
        self._failures[provider] = count
        if count >= self.threshold and not self.is_open(provider, now):
            self._open_until[provider] = now + self.cooldown
            self._failures[provider] = 0
            return True
        return False

    def record_success(self, provider: str) -> None:
        """A success closes the count."""
        self._failures[provider] = 0


def available(order: Sequence[str], breaker: CircuitBreaker, now: float) -> list[str]:
    """Providers of ``order`` whose circuit is closed."""
    return [p for p in order if not breaker.is_open(p, now)]
