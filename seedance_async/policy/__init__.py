"""Pure decisions with no I/O: when to retry, when to poll, when to fail over."""

from __future__ import annotations

from seedance_async.policy._failover import (
    RETRYABLE_FAILURES,
    FailoverPolicy,
    failure_category_of,
    is_retryable_failure,
    refusal_fails_over,
)
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy

__all__ = [
    "RETRYABLE_FAILURES",
    "FailoverPolicy",
    "PollSchedule",
    "RetryPolicy",
    "failure_category_of",
    "is_retryable_failure",
    "refusal_fails_over",
]
