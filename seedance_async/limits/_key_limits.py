"""A budget per provider and key: the limiters of :mod:`._ratelimit` behind one interface.

Default limits per model are data (``catalog/seedance.toml``: Volcengine per account and
model). A client-side concurrency cap and RPM limiter are both kept because a 429 may mean
either.
"""

from __future__ import annotations

import heapq
from typing import Protocol, runtime_checkable

from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import RateLimited
from seedance_async.limits._primitives import (
    AdaptiveRate,
    CooldownGate,
    RequestKind,
    RunningSlots,
    TokenBucket,
)
from seedance_async.policy._retry import retry_after_seconds
from seedance_async.spec._catalog import model_catalog

__all__ = ["Budget", "BudgetLike", "default_budget_for"]

_KEPT_RECHECK = 1.0  # seconds between looks while only a kept slot could free room


@runtime_checkable
class BudgetLike(Protocol):
    """What the client and tracker need from a budget; a Redis version shares it across hosts.

    Every method is async so that a shared implementation can talk to its store. Call
    ``release_running_slot`` under a shield (``anyio.CancelScope(shield=True)``) so a
    cancellation cannot leak a slot.
    """

    async def before_submit(self) -> None:
        """Wait until a submit may be sent (cooldown over, rate allows)."""
        ...

    async def before_poll(self) -> None:
        """Wait until a status, cancel or list request may be sent."""
        ...

    async def acquire_running_slot(self) -> None:
        """Wait for room under the running-task cap; call before submitting."""
        ...

    async def try_acquire_running_slot(self) -> bool:
        """Take a running-task slot if one is free now (never waits); True when taken."""
        ...

    async def release_running_slot(self) -> None:
        """Free a running-task slot once a task is final (or its submit definitely failed)."""
        ...

    async def keep_running_slot(self, until: float) -> None:
        """Hand a held slot back only at ``until`` (Unix time), not now.

        For a task whose submit's outcome is unknown: it may be running on the provider,
        where it counts against the key's cap until it ends or expires.
        """
        ...

    async def on_rate_limited(self, error: RateLimited, *, kind: RequestKind = "submit") -> None:
        """Record a rate-limit answer to a request of ``kind``."""
        ...

    async def on_success(self, *, kind: RequestKind = "submit") -> None:
        """Record a successful request of ``kind``."""
        ...


class Budget:
    """The in-process :class:`BudgetLike`: submit and poll buckets, a cooldown gate, a cap.

    Share one instance between everything that uses the same provider, key and model family.
    A 429 with a wait closes the gate for submits and polls alike; one without adapts the
    rate of the bucket its request came from.

    Args:
        submit_rate: create requests per second (Ark Pro: 600/min = 10/s).
        submit_burst: creates allowed back to back (default: a second's worth, at least 1).
        poll_rate: status/cancel/list requests per second. Not documented by Ark; 10/s
            (600/min) by default on the assumption that polls share the create RPM quota.
        poll_burst: polls allowed back to back (default 1: evenly spaced; providers count
            requests in a sliding window, and a burst on top of the rate overshoots it).
        max_running: tasks running at once (Ark counts running, not queued, tasks).
        max_cooldown: the cap on one Retry-After wait, in seconds.
        adaptive: apply AIMD to 429s that name no wait.
        clock: the time source (default :class:`SystemClock`).
    """

    def __init__(
        self,
        *,
        submit_rate: float = 10.0,
        submit_burst: float | None = None,
        poll_rate: float = 10.0,
        poll_burst: float = 1.0,
        max_running: int = 10,
        max_cooldown: float = 300.0,
        adaptive: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        burst = submit_burst if submit_burst is not None else max(1.0, submit_rate)
        self.submit_bucket = TokenBucket(submit_rate, burst, clock=self._clock)
        self.poll_bucket = TokenBucket(poll_rate, poll_burst, clock=self._clock)
        self.gate = CooldownGate(clock=self._clock, max_cooldown=max_cooldown)
        self.slots = RunningSlots(max_running)
        self._kept: list[float] = []  # wall times at which kept slots come back (a heap)
        self._adaptive: dict[RequestKind, AdaptiveRate] | None = (
            {
                "submit": AdaptiveRate(self.submit_bucket, clock=self._clock),
                "poll": AdaptiveRate(self.poll_bucket, clock=self._clock),
            }
            if adaptive
            else None
        )

    def __repr__(self) -> str:
        return (
            f"Budget(submit={self.submit_bucket.rate * 60:g}/min, "
            f"poll={self.poll_bucket.rate:g}/s, running={self.slots.used}/{self.slots.capacity})"
        )

    async def _pass(self, bucket: TokenBucket) -> None:
        while True:
            await self.gate.wait_open()
            await bucket.acquire()
            # The gate may have closed while we queued in the bucket; going now would send
            # the whole queue at once the moment a 429 told us to stop.
            if self.gate.is_open():
                return

    async def before_submit(self) -> None:
        """Wait for the cooldown gate and a submit token."""
        await self._pass(self.submit_bucket)

    async def before_poll(self) -> None:
        """Wait for the cooldown gate and a poll token."""
        await self._pass(self.poll_bucket)

    def _return_kept(self) -> None:
        now = self._clock.wall()
        while self._kept and self._kept[0] <= now:
            heapq.heappop(self._kept)
            self.slots.release()

    async def acquire_running_slot(self) -> None:
        """Wait for room under ``max_running``."""
        while True:
            self._return_kept()
            if not self._kept:
                await self.slots.acquire()
                return
            if self.slots.try_acquire():
                return
            # A kept slot comes back at a time, not on a release: look again by then.
            due = self._kept[0] - self._clock.wall()
            await self._clock.sleep(min(_KEPT_RECHECK, max(0.001, due)))

    async def try_acquire_running_slot(self) -> bool:
        """Take a slot if one is free and nobody is queued for one."""
        self._return_kept()
        return self.slots.try_acquire()

    async def keep_running_slot(self, until: float) -> None:
        """Keep a held slot taken until ``until`` (Unix time) instead of releasing it now.

        Raises:
            RuntimeError: no slot is held.
        """
        if self.slots.used <= 0:
            raise RuntimeError("keep_running_slot() without a held slot")
        if until <= self._clock.wall():
            self.slots.release()
        else:
            heapq.heappush(self._kept, until)

    async def release_running_slot(self) -> None:
        """Free a running slot.

        Raises:
            RuntimeError: no slot is held.
        """
        self.slots.release()

    async def on_rate_limited(self, error: RateLimited, *, kind: RequestKind = "submit") -> None:
        """Close the gate for the Retry-After wait, or slow the ``kind`` bucket if none was named.

        A non-retryable 429 (spend cap, free quota) changes nothing: waiting does not help.
        """
        if not error.retryable:
            return
        wait = retry_after_seconds(error, now_wall=self._clock.wall())
        if wait is not None:
            self.gate.close_for(wait)
        elif self._adaptive is not None:
            self._adaptive[kind].on_rate_limited()

    async def on_success(self, *, kind: RequestKind = "submit") -> None:
        """Let the ``kind`` bucket's rate recover towards its configured value."""
        if self._adaptive is not None:
            self._adaptive[kind].on_success()


def default_budget_for(model: str, *, clock: Clock | None = None) -> Budget:
    """A :class:`Budget` with the documented Volcengine limits of ``model``'s family.

    Unknown models (gateway ids, endpoint ids ``ep-…``) get the catalog's ``unknown_model``
    limits (the Lite pair, 300/min and 5 running: the more conservative documented one).
    """
    limits = model_catalog().limits_for(model)
    return Budget(submit_rate=limits.submit_rpm / 60, max_running=limits.max_running, clock=clock)
