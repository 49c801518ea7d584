"""What every part working for one provider alias shares: one value, built once per alias."""

from __future__ import annotations

import random as _random
from collections.abc import Callable

import attrs

from seedance_async.config._provider import ProviderConfig
from seedance_async.core._clock import Clock
from seedance_async.core._events import Event, EventHub, EventKind
from seedance_async.limits._key_limits import BudgetLike
from seedance_async.policy._retry import RetryPolicy
from seedance_async.providers import ProviderAdapter
from seedance_async.transport._aiohttp import Transport

__all__ = ["AliasContext"]


@attrs.frozen(kw_only=True)
class AliasContext:
    """One provider alias as its request cycle, paid submits and reconciliation see it.

    Attributes:
        config: the alias configuration.
        adapter: the adapter built from ``config.adapter`` and ``config.options``.
        transport: sends requests to ``config.base_url`` with the key attached.
        budget: rate/concurrency budget for this key (may be shared between aliases).
        retry: retry policy for GETs and provably-unsent submits.
        clock: time source.
        events: where retries, rate limits and reconciliations are reported.
        rng: random source for jitter and the correlation nonce (seeded in tests).
    """

    config: ProviderConfig
    adapter: ProviderAdapter
    transport: Transport
    budget: BudgetLike
    retry: RetryPolicy
    clock: Clock
    events: EventHub
    rng: Callable[[], float] = _random.random

    @property
    def alias(self) -> str:
        """The alias name (``ark-main``)."""
        return self.config.alias

    def retry_delay(self, error: BaseException, attempt: int, *, paid: bool) -> float | None:
        """Seconds to wait before trying again after ``error`` ended ``attempt``; None: don't.

        See :meth:`RetryPolicy.decide`; the wall time and the jitter come from here.
        """
        return self.retry.decide(
            error, attempt, paid=paid, now_wall=self.clock.wall(), random=self.rng
        )

    def emit(self, kind: EventKind, key: str, detail: str, task_id: str | None = None) -> None:
        """Report an event of this alias about the task tracked as ``key``."""
        self.events.emit(
            Event(
                kind=kind,
                key=key,
                provider=self.alias,
                at=self.clock.wall(),
                task_id=task_id,
                detail=detail,
            )
        )
