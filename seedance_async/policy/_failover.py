"""Failover: which providers a task may go to, in which order, and when to move on.

Two questions decide whether a task moves to another provider:

* the submit was refused (nothing created, nothing billed): :func:`refusal_fails_over`
  says whether the refusal is about this provider only;
* the task was created and then ended failed or expired (billed or not, a resubmission
  is paid again): :func:`is_retryable_failure` says whether the reason is the provider's
  own trouble, by the neutral category the adapter gave it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import attrs

from seedance_async.core._errors import (
    AuthenticationFailed,
    ModelNotServed,
    OutcomeUnknown,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    TransportError,
    UnsupportedParameter,
)
from seedance_async.spec._status import FailureCategory, TaskState, TaskStatus

__all__ = [
    "RETRYABLE_FAILURES",
    "CircuitBreaker",
    "FailoverPolicy",
    "failure_category_of",
    "is_retryable_failure",
    "refusal_fails_over",
]

RETRYABLE_FAILURES: frozenset[FailureCategory] = frozenset({"internal", "timeout", "expired"})
"""Failure categories worth a paid resubmission elsewhere: the provider's own trouble.

Moderation and bad input fail again anywhere; a used-up quota is this account's and is
handled before submitting; an unknown reason is not worth paying twice on a guess.
"""

# Refusals before creation that say nothing about other providers: a limit or an outage
# here, a key this provider does not take, a model or parameter it does not serve.
_FAILOVER_REFUSALS = (
    RateLimited,  # QuotaExhausted included
    AuthenticationFailed,
    PermissionDenied,
    ProviderUnavailable,
    TransportError,
    ModelNotServed,
    UnsupportedParameter,
)


def refusal_fails_over(error: BaseException) -> bool:
    """True when a submit refused with ``error`` may go to the next provider at once.

    Covers rate limits and used-up quotas, authentication and permission refusals,
    outages, transport failures that provably sent nothing, and
    :class:`~seedance_async.core._errors.ModelNotServed` /
    :class:`~seedance_async.core._errors.UnsupportedParameter`. Content-policy and other
    parameter refusals would be refused anywhere; an ambiguous outcome
    (:class:`~seedance_async.core._errors.OutcomeUnknown`) may have created a paid task
    and never moves.
    """
    if isinstance(error, OutcomeUnknown):
        return False
    return isinstance(error, _FAILOVER_REFUSALS)


def failure_category_of(status: TaskStatus) -> FailureCategory | None:
    """The failure category of a finished status: the adapter's, else from the state.

    A status from an adapter that does not classify (a third-party one) is ``"expired"``
    when it expired and ``"unknown"`` when it failed. None for any other state.
    """
    if status.state is TaskState.EXPIRED:
        return status.failure or "expired"
    if status.state is not TaskState.FAILED:
        return None
    return status.failure or "unknown"


def is_retryable_failure(status: TaskStatus) -> bool:
    """True when a task that ended failed/expired may succeed if submitted elsewhere.

    Only the provider's own trouble qualifies (:data:`RETRYABLE_FAILURES`: an internal
    error, a generation timeout, an expiry in the queue). Moderation, bad input, a quota
    and reasons nobody classified do not: a resubmission is paid again.
    """
    return failure_category_of(status) in RETRYABLE_FAILURES


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
