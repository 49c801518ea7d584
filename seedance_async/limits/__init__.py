"""Request-rate and concurrency limits per provider key (timer-based, exact)."""

from __future__ import annotations

from seedance_async.limits._key_limits import Budget, BudgetLike
from seedance_async.limits._primitives import RunningSlots, TokenBucket

__all__ = ["Budget", "BudgetLike", "RunningSlots", "TokenBucket"]
