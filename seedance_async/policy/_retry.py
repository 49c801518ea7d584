"""When to try again, as a pure function of the error: no clock, no sleep, no randomness of its own.

The rules follow from one question: *could the failed attempt have created a paid task?*

* ``RequestNotSent``: retry, paid or not; nothing reached the provider.
* ``OutcomeUnknown`` (and any other ``TransportError``): retry only if not paid; a paid
  submit must be reconciled (list the provider's tasks) before anything is sent again.
* ``RateLimited``: retry, paid or not, when ``retryable`` (a 429 is a refusal: nothing was
  created); give up when it is not. ``QuotaExhausted`` (spend cap, monthly or free quota
  used up) is never retried: waiting seconds will not help, another provider might.
* ``ProviderUnavailable`` (5xx, 408): retry only if not paid, unless the provider documents
  that such an answer to a submit created nothing (``paid_5xx_safe``; Ark does not).
* ``MalformedResponse``: retry only if not paid; a garbled answer may hide a created task.
  ``UnknownStatus`` is not retried: the answer was whole, and asking again at once gives
  the same word; the poll schedule asks again later.
* ``ProviderRejected``, ``InvalidTaskSpec``, ``ConfigurationError``, anything else (bugs,
  cancellation): never; the same request cannot succeed.

Delays use capped exponential backoff with full jitter (AWS architecture blog, "Exponential
Backoff And Jitter"): ``random() * min(max_delay, base_delay * 2**attempt)``. A provider's
``Retry-After`` replaces the backoff, capped at ``max_retry_after``. The official Ark SDK retries
the create POST on any transport error and ignores Retry-After (docs/providers.md §2.10);
§8.1 there is why this policy does neither.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from seedance_async.core._errors import (
    MalformedResponse,
    OutcomeUnknown,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestNotSent,
    TransportError,
    UnknownStatus,
)

__all__ = ["RetryPolicy", "retry_after_seconds"]


def retry_after_seconds(error: RateLimited, *, now_wall: float) -> float | None:
    """The wait a rate-limit answer asked for, in seconds from now (never negative).

    Args:
        error: the rate-limit error; ``retry_after`` (seconds) wins over ``retry_at`` (date).
        now_wall: the current Unix time, to turn an HTTP date into a delay.

    Returns:
        The delay, or None when the answer named none.
    """
    if error.retry_after is not None:
        return max(0.0, error.retry_after)
    if error.retry_at is not None:
        return max(0.0, error.retry_at.timestamp() - now_wall)
    return None


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"RetryPolicy.{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how long to retry one request.

    Attributes:
        max_attempts: attempts in total, the first included (1 = never retry).
        base_delay: the backoff scale in seconds (the cap of the first retry's delay).
        max_delay: the cap of the exponential backoff in seconds.
        max_retry_after: the cap on a provider's ``Retry-After`` in seconds.
        paid_5xx_safe: the provider documents that a 5xx answer to a paid submit created
            nothing, so it may be retried. Ark documents no such thing (default False).
    """

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=300.0, validator=_non_negative)
    paid_5xx_safe: bool = False

    def backoff(self, attempt: int, random: Callable[[], float]) -> float:
        """The full-jitter delay after failed attempt number ``attempt`` (0-based).

        Args:
            attempt: 0 for the first attempt.
            random: returns a float in [0, 1) (``random.random`` or a seeded one in tests).
        """
        # Cap the exponent before computing it: 2**attempt overflows float for huge attempts.
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt, 64))
        return random() * ceiling

    def decide(
        self,
        error: BaseException,
        attempt: int,
        *,
        paid: bool,
        now_wall: float,
        random: Callable[[], float],
    ) -> float | None:
        """Whether and when to retry after ``error`` ended attempt ``attempt``.

        Args:
            error: what the attempt raised.
            attempt: 0-based number of the attempt that failed (0 = the first one).
            paid: the request may create a billable task (``HttpRequest.paid``).
            now_wall: the current Unix time (for ``Retry-After`` HTTP dates).
            random: returns a float in [0, 1) for the jitter.

        Returns:
            Seconds to wait before the next attempt, or None to give up and raise ``error``.
        """
        if attempt + 1 >= self.max_attempts or not self._may_retry(error, paid=paid):
            return None
        if isinstance(error, RateLimited):
            asked = retry_after_seconds(error, now_wall=now_wall)
            if asked is not None:
                return min(asked, self.max_retry_after)
        return self.backoff(attempt, random)

    def _may_retry(self, error: BaseException, *, paid: bool) -> bool:
        match error:
            case RequestNotSent():
                return True  # nothing reached the provider: safe even for a paid submit
            case OutcomeUnknown() | TransportError():
                # Maybe received. For a submit the caller must reconcile (list tasks) first.
                return not paid
            case QuotaExhausted():
                return False  # a quota resets in days, not seconds
            case RateLimited():
                return error.retryable
            case ProviderUnavailable():
                return not paid or self.paid_5xx_safe
            case UnknownStatus():
                return False  # a whole answer with a word we do not know: ask later
            case MalformedResponse():
                # A garbled answer to a submit may still have created the task.
                return not paid
            case _:
                # ProviderRejected, InvalidTaskSpec, ConfigurationError, bugs, cancellation:
                # repeating the same request cannot help.
                return False
