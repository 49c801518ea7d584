"""The limiters budgets are made of: token buckets, a 429 cooldown gate, AIMD, running slots.

:mod:`seedance_async.limits._key_limits` combines them into one budget per provider and key.

The design is aiolimiter's: each limiter keeps a FIFO of waiter futures and at most one timer
(``clock.call_at``) for the moment the head of the queue can proceed. There is no polling task
and no task per waiting request, so 10 000 queued submits cost 10 000 futures and one timer.

Every waiter is cancellation-safe: a task cancelled while queued leaves the queue without
taking anything, and one cancelled in the instant between being granted and resuming gives
its token or slot back, so nobody behind it is blocked.

Limiters hold no event loop; they create futures in the loop that calls them, and read time
only through the injected :class:`~seedance_async.core._clock.Clock`.

The limits themselves are data (``catalog/seedance.toml`` per model, ``catalog/<adapter>.toml``
per alias). Both a concurrency cap and an RPM limiter are kept because a 429 may mean either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Literal

from seedance_async.core._clock import Clock, SystemClock, Timer

__all__ = [
    "AdaptiveRate",
    "CooldownGate",
    "RequestKind",
    "RunningSlots",
    "TokenBucket",
]

RequestKind = Literal["submit", "poll"]

# Float slack when comparing token counts: a timer computed to fire when exactly one token
# has accrued may see 0.9999999 of one after rounding; treating that as a token avoids a
# second wake-up microseconds later.
_EPS = 1e-6


class _WaitQueue:
    """The FIFO of waiter futures every limiter here is built on."""

    __slots__ = ("_futures",)

    def __init__(self) -> None:
        self._futures: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return sum(1 for f in self._futures if not f.done())

    def __bool__(self) -> bool:
        while self._futures and self._futures[0].done():  # a cancelled head
            self._futures.popleft()
        return bool(self._futures)

    def wake_next(self) -> None:
        """Let the longest waiter go; the caller checked ``bool(self)``."""
        self._futures.popleft().set_result(None)

    def wake_all(self) -> None:
        while self:
            self.wake_next()

    def enqueue(self) -> asyncio.Future[None]:
        """Join the end of the queue (then :meth:`wait` on the future)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.append(future)
        return future

    async def wait(
        self, future: asyncio.Future[None], on_cancel: Callable[[bool], None] | None = None
    ) -> None:
        """Wait until ``future`` is woken.

        ``on_cancel(granted)`` runs if the waiter is cancelled: ``granted`` is True when it
        had been woken in the same instant and must give back what it was granted.
        """
        try:
            await future
        except asyncio.CancelledError:
            granted = future.done() and not future.cancelled()
            if not granted:
                with contextlib.suppress(ValueError):
                    self._futures.remove(future)
            if on_cancel is not None:
                on_cancel(granted)
            raise


class TokenBucket:
    """An exact token bucket (leaky bucket as a meter) with fair FIFO waiting.

    Tokens accrue continuously at ``rate_per_second`` up to ``burst``; the bucket starts full.
    Each :meth:`acquire` takes one token, waiting in arrival order while none is left.

    Args:
        rate_per_second: long-run grants per second (> 0).
        burst: the most tokens that can be taken at once after idling (>= 1).
        clock: the time source (default :class:`SystemClock`).

    Raises:
        ValueError: the rate is not positive or the burst is below 1.
    """

    def __init__(
        self, rate_per_second: float, burst: float = 1, *, clock: Clock | None = None
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self._rate = float(rate_per_second)
        self._burst = float(burst)
        self._clock = clock or SystemClock()
        self._tokens = self._burst
        self._updated: float | None = None  # set on first use: SystemClock needs a loop
        self._waiters = _WaitQueue()
        self._timer: Timer | None = None
        self._timer_when = 0.0

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_second={self._rate!r}, burst={self._burst!r}, waiting={self.waiting})"

    @property
    def rate(self) -> float:
        """The current refill rate in tokens per second."""
        return self._rate

    @property
    def burst(self) -> float:
        """The bucket's capacity."""
        return self._burst

    @property
    def waiting(self) -> int:
        """How many acquirers are queued."""
        return len(self._waiters)

    def available(self) -> float:
        """Tokens available right now (fractional)."""
        self._refill(self._clock.now())
        return self._tokens

    def set_rate(self, rate_per_second: float) -> None:
        """Change the refill rate from now on; queued acquirers are rescheduled.

        Raises:
            ValueError: the rate is not positive.
        """
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        self._refill(self._clock.now())  # tokens accrued so far count at the old rate
        self._rate = float(rate_per_second)
        self._pump()

    def try_acquire(self) -> bool:
        """Take a token if one is free and nobody is queued; never waits."""
        if self._waiters:
            return False
        self._refill(self._clock.now())
        if self._tokens < 1 - _EPS:
            return False
        self._tokens = max(0.0, self._tokens - 1)
        return True

    async def acquire(self) -> None:
        """Take one token, waiting in FIFO order until one is available.

        Raises:
            asyncio.CancelledError: cancelled while waiting; no token was consumed.
        """
        if self.try_acquire():
            return
        future = self._waiters.enqueue()
        self._pump()  # arms the timer for the queue's head
        await self._waiters.wait(future, self._on_cancel)

    def _on_cancel(self, granted: bool) -> None:
        if granted:
            self._refill(self._clock.now())
            self._tokens = min(self._burst, self._tokens + 1)
        self._pump()

    def _refill(self, now: float) -> None:
        if self._updated is None:
            self._updated = now
        elif now > self._updated:
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now

    def _grant(self) -> None:
        while self._waiters and self._tokens >= 1 - _EPS:
            self._tokens = max(0.0, self._tokens - 1)
            self._waiters.wake_next()

    def _pump(self) -> None:
        now = self._clock.now()
        self._refill(now)
        self._grant()
        if not self._waiters:
            self._cancel_timer()
            return
        when = now + (1 - self._tokens) / self._rate
        if self._timer is None or self._timer_when != when:
            self._cancel_timer()
            self._timer = self._clock.call_at(when, self._on_timer)
            self._timer_when = when

    def _on_timer(self) -> None:
        self._timer = None
        # Timers fire late (asyncio's poll has 1 ms resolution; a busy loop adds more). The
        # queue's head was owed its token at the scheduled time, so it is granted as of then
        # and the late part accrues towards the next token: grants stay on the 1/rate grid
        # instead of drifting (20.8 ms apart for a 20 ms rate cost 4 % of a 50/s limit).
        # At most half an interval is reclaimed, so a stalled loop never causes a burst.
        now = self._clock.now()
        self._refill(min(now, max(self._timer_when, now - 0.5 / self._rate)))
        self._grant()
        self._pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class CooldownGate:
    """A gate that a rate-limit answer closes for everyone using the key until a given time.

    Args:
        clock: the time source (default :class:`SystemClock`).
        max_cooldown: the longest a single close may last, in seconds (a protection against
            a provider asking for hours).
    """

    def __init__(self, *, clock: Clock | None = None, max_cooldown: float = 300.0) -> None:
        self._clock = clock or SystemClock()
        self._max = max_cooldown
        self._until: float | None = None
        self._waiters = _WaitQueue()
        self._timer: Timer | None = None

    def __repr__(self) -> str:
        return f"CooldownGate(reopens_at={self.reopens_at!r}, waiting={len(self._waiters)})"

    @property
    def reopens_at(self) -> float | None:
        """The monotonic time the gate opens again, or None when it is open."""
        if self._until is not None and self._clock.now() >= self._until:
            self._until = None
        return self._until

    def is_open(self) -> bool:
        """Whether requests may go now."""
        return self.reopens_at is None

    def close_for(self, seconds: float) -> float:
        """Close the gate for ``seconds`` (capped); an earlier reopening is never brought forward.

        Returns:
            The monotonic time the gate reopens.
        """
        until = self._clock.now() + min(max(0.0, seconds), self._max)
        current = self.reopens_at
        if current is not None and current >= until:
            return current
        self._until = until
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._clock.call_at(until, self._on_timer)
        return until

    async def wait_open(self) -> None:
        """Return once the gate is open (at once if it is).

        Raises:
            asyncio.CancelledError: cancelled while waiting.
        """
        while not self.is_open():
            await self._waiters.wait(self._waiters.enqueue())

    def _on_timer(self) -> None:
        self._timer = None
        if self._until is not None and not self.is_open():
            # A real loop may run a timer up to its clock resolution early: try again.
            self._timer = self._clock.call_at(self._until, self._on_timer)
            return
        self._waiters.wake_all()


class AdaptiveRate:
    """AIMD control of a bucket's rate for 429s that name no wait (Ark sends no Retry-After).

    A rate-limit answer multiplies the rate by ``decrease`` (not below ``floor``); each success
    adds ``increase`` back (not above ``ceiling``), probing up to the configured budget again.
    Answers to requests that were in flight together arrive together, so decreases closer than
    ``hold`` seconds count once.

    Args:
        bucket: the bucket whose rate is controlled.
        clock: the time source (default :class:`SystemClock`).
        ceiling: the highest rate (default: the bucket's rate now).
        floor: the lowest rate (default: ``ceiling / 16``).
        decrease: the multiplicative factor in (0, 1).
        increase: tokens per second added per success (default: ``ceiling / 20``).
        hold: seconds after a decrease during which further 429s do not decrease again.
    """

    def __init__(
        self,
        bucket: TokenBucket,
        *,
        clock: Clock | None = None,
        ceiling: float | None = None,
        floor: float | None = None,
        decrease: float = 0.5,
        increase: float | None = None,
        hold: float = 2.0,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
        self._bucket = bucket
        self._clock = clock or SystemClock()
        self.ceiling = ceiling if ceiling is not None else bucket.rate
        self.floor = floor if floor is not None else self.ceiling / 16
        self._decrease = decrease
        self._increase = increase if increase is not None else self.ceiling / 20
        self._hold = hold
        self._last_decrease: float | None = None

    @property
    def rate(self) -> float:
        """The bucket's current rate."""
        return self._bucket.rate

    def on_rate_limited(self) -> None:
        """Back off multiplicatively (once per ``hold`` seconds)."""
        now = self._clock.now()
        if self._last_decrease is not None and now - self._last_decrease < self._hold:
            return
        self._last_decrease = now
        self._bucket.set_rate(max(self.floor, self._bucket.rate * self._decrease))

    def on_success(self) -> None:
        """Probe back up additively."""
        if self._bucket.rate < self.ceiling:
            self._bucket.set_rate(min(self.ceiling, self._bucket.rate + self._increase))


class RunningSlots:
    """A FIFO counting semaphore whose slots may be released by any task.

    Args:
        capacity: how many slots exist (>= 1).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._used = 0
        self._waiters = _WaitQueue()

    def __repr__(self) -> str:
        return f"RunningSlots(used={self._used}, capacity={self.capacity}, waiting={len(self._waiters)})"

    @property
    def used(self) -> int:
        """Slots currently held."""
        return self._used

    async def acquire(self) -> None:
        """Take a slot, waiting in FIFO order while all are held.

        Raises:
            asyncio.CancelledError: cancelled while waiting; no slot is held.
        """
        if self.try_acquire():
            return
        await self._waiters.wait(self._waiters.enqueue(), self._on_cancel)

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody is queued; never waits."""
        if self._waiters or self._used >= self.capacity:
            return False
        self._used += 1
        return True

    def _on_cancel(self, granted: bool) -> None:
        if granted:
            self.release()

    def release(self) -> None:
        """Give a slot back and hand it to the longest waiter.

        Raises:
            RuntimeError: no slot is held.
        """
        if self._used <= 0:
            raise RuntimeError("release() without a held slot")
        self._used -= 1
        while self._waiters and self._used < self.capacity:
            self._used += 1
            self._waiters.wake_next()
