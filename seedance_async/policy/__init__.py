"""Pure decisions with no I/O: when to retry, when to poll, when to fail over."""

from __future__ import annotations

from seedance_async.policy._failover import FailoverPolicy, is_retryable_failure
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy

__all__ = ["FailoverPolicy", "PollSchedule", "RetryPolicy", "is_retryable_failure"]
