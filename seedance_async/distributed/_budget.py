"""A :class:`BudgetLike` that every process and host using one API key shares through Redis.

Theory of operation
-------------------
The state of one (host, key) budget lives in four Redis keys under ``key_prefix``:

* ``<prefix>:submit`` and ``<prefix>:poll``: token buckets (hash ``tokens``, ``ts``,
  ``rate``) refilled on Redis's clock (``TIME``), so hosts with skewed clocks agree;
* ``<prefix>:cooldown``: exists while a 429 asked everyone to wait (its TTL is the wait);
* ``<prefix>:slots``: running-task slots, a sorted set scored by lease expiry. Holders renew
  their slots (:meth:`RedisBudget.renew`, and in passing on every token taken), so the slots
  of a process that died come back when their lease runs out.

Taking a token is one Lua script (GCRA with reservations): the gate check and the
reservation of the next free slot on the 1/rate grid happen atomically, so no two
processes get the same slot, and none is granted while the gate is closed. The caller
sleeps until its slot and goes: one round trip per grant, and grants stay on the grid
however late an event loop wakes (a "wait, sleep, ask again" protocol lost every late
millisecond: 36 of 49 creates/s for one busy worker). Beyond the reservation horizon the
script answers how long to wait before asking again.
Within one process the waiters of a bucket queue on a FIFO lock, so only the head of the
queue asks Redis, for one round trip per grant (it sleeps until its slot without the
lock). Slots are reserved at most three intervals ahead. A slot reached more than 20 ms
late (a stalled loop) is given up, not sent: sent late it would bunch with the slots after
it.

A 429 with a wait closes the shared gate. One without a wait halves the bucket's shared
``rate`` (at most once per ``hold`` seconds) and successes raise it back: AIMD is shared by
every process, not per process.

When Redis cannot be reached, taking a token waits until it answers: submits and polls pause
and resume by themselves. Rate-limit notes are best-effort (a lost one costs one more 429),
and releasing a slot just stops renewing it when Redis is away.

Submit marks: a journal that sets :data:`SUBMIT_MARK` before a paid submit makes the
submit token a fenced grant. The same script checks that the caller still owns the task
under a live lease (else: no token, :class:`LeaseLost`), takes the token, stamps
``sent_at`` on the task's record and adds the key to the batch's set of granted unanswered
submits. A record in state ``intent`` without ``sent_at`` therefore provably never left its
worker, and never will (its old owner can no longer get a token for it): a worker taking
it over may submit it again. The grant also tells the caller how long its lease still runs,
which the send fence (:data:`~seedance_async.core._fence.SEND_FENCE`) checks right before
the request goes out.
"""

from __future__ import annotations

import contextvars
import math
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import attrs

from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import JournalError, LeaseLost, RateLimited
from seedance_async.distributed._budget_lua import (
    ADAPT,
    COOLDOWN,
    SLOT_KEEP,
    SLOT_RENEW,
    SLOT_TAKE,
    TAKE,
)
from seedance_async.distributed._conn import RedisLink
from seedance_async.distributed._keys import BUDGET_PREFIX, BudgetKeys
from seedance_async.limits._primitives import RequestKind
from seedance_async.policy._retry import retry_after_seconds

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from seedance_async.client._client import BudgetFactory
    from seedance_async.config._provider import ProviderConfig

__all__ = ["SUBMIT_MARK", "LeaseFence", "RedisBudget", "SubmitMark", "redis_budget_factory"]


class LeaseFence(Protocol):
    """The submitting worker's lease, as the budget and the send fence see it."""

    def extend(self, until: float) -> None:
        """The lease provably runs until ``until`` (the clock's ``now()`` scale)."""
        ...

    def lease_holds(self) -> bool:
        """True while the lease provably runs (with a margin)."""
        ...

    def sent(self, key: str, at: str) -> None:
        """The grant stamped ``sent_at`` = ``at`` on ``key``'s record."""
        ...

    async def refresh(self) -> None:
        """Renew the lease (and restore lost records); raise :class:`LeaseLost` if keys were taken."""
        ...


@attrs.frozen
class SubmitMark:
    """Which task record the next submit token stamps, who must own it under which lease.

    It is also the :class:`~seedance_async.core._fence.SendFence` of the submit: the
    request goes out only while the owner's lease provably runs.
    """

    record: str
    owner_hash: str
    key: str
    owner: str
    alive: str
    sending: str
    lease: LeaseFence = attrs.field(eq=False, repr=False)

    def holds(self) -> bool:
        """True while the owner's lease provably runs: the request may go out."""
        return self.lease.lease_holds()


SUBMIT_MARK: contextvars.ContextVar[SubmitMark | None] = contextvars.ContextVar(
    "seedance_submit_mark", default=None
)
"""Set by the Redis journal when it records an intent, in the task that will submit."""

_LATE_SLOT = 0.02  # seconds: a reserved slot reached later than this is given up
_AHEAD_SLOTS = 3  # how many intervals ahead a slot may be reserved
_IDLE_TTL_MS = 600_000  # an idle bucket refills to full anyway; only its AIMD rate is lost
_SLOT_POLL_CAP = 0.25  # another process may free a slot any time: look this often


class RedisBudget:
    """Submit and poll buckets, a 429 gate and a running-task cap, shared through Redis.

    Same interface as :class:`~seedance_async.limits._primitives.Budget`; build one per process
    with the same ``key_prefix`` and limits for every process that uses the same key.

    Args:
        redis: a ``redis.asyncio.Redis`` answering ``str`` (:func:`_redis_conn.connect`).
        key_prefix: names this budget's keys (:class:`~seedance_async.distributed._keys.BudgetKeys`).
        submit_rate / submit_burst: shared creates per second and back-to-back creates
            (default: a second's worth, at least 1).
        poll_rate / poll_burst: shared status/list/cancel requests per second, and how many
            may go back to back (default 1: evenly spaced, as a sliding-window limit needs).
        max_running: running-task slots shared by all holders.
        max_cooldown: the cap on one Retry-After wait, in seconds.
        adaptive: shared AIMD for 429s that name no wait.
        slot_lease: seconds a slot stays held without renewal (a dead holder's slots return).
        max_wait: longest single sleep before asking Redis again, in seconds.
        holder: names this process's slots (default: random).
        clock: time source for sleeping and local timing.

    Raises:
        ValueError: a rate, burst, cap or lease is not positive.
    """

    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        *,
        submit_rate: float = 10.0,
        submit_burst: float | None = None,
        poll_rate: float = 10.0,
        poll_burst: float = 1.0,
        max_running: int = 10,
        max_cooldown: float = 300.0,
        adaptive: bool = True,
        slot_lease: float = 60.0,
        max_wait: float = 1.0,
        holder: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        burst = submit_burst if submit_burst is not None else max(1.0, submit_rate)
        for name, value in (("submit_rate", submit_rate), ("poll_rate", poll_rate)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if burst < 1 or poll_burst < 1:
            raise ValueError("bursts must be >= 1")
        if max_running < 1 or not slot_lease > 0:
            raise ValueError("max_running must be >= 1 and slot_lease > 0")
        self._clock = clock or SystemClock()
        self.link = RedisLink(redis, clock=self._clock, name=f"budget {key_prefix}")
        self.key_prefix = key_prefix
        self._keys = BudgetKeys(key_prefix)
        self._ceiling: dict[RequestKind, float] = {"submit": submit_rate, "poll": poll_rate}
        self._burst: dict[RequestKind, float] = {"submit": burst, "poll": poll_burst}
        self._rate = dict(self._ceiling)  # the shared rate as last seen
        self.max_running = max_running
        self._max_cooldown = max_cooldown
        self._adaptive = adaptive
        self._lease_ms = max(1, int(slot_lease * 1000))
        self._max_wait = max_wait
        self.holder = holder or uuid.uuid4().hex[:12]
        self._held: list[str] = []
        self._seq = 0
        self._local_until = -math.inf  # a local copy of the gate, for when Redis is away
        self._last_renew = -math.inf
        self._locks: dict[RequestKind, anyio.Lock] = {}
        self._take_script = redis.register_script(TAKE)
        self._adapt_script = redis.register_script(ADAPT)
        self._cooldown_script = redis.register_script(COOLDOWN)
        self._slot_script = redis.register_script(SLOT_TAKE)
        self._renew_script = redis.register_script(SLOT_RENEW)
        self._keep_script = redis.register_script(SLOT_KEEP)

    def __repr__(self) -> str:
        return (
            f"RedisBudget({self.key_prefix!r}, submit={self._rate['submit']:g}/s, "
            f"poll={self._rate['poll']:g}/s, held={len(self._held)}/{self.max_running})"
        )

    @property
    def held(self) -> int:
        """Running slots this process holds."""
        return len(self._held)

    def rate(self, kind: RequestKind = "submit") -> float:
        """The shared rate of ``kind`` as last seen (AIMD may have lowered it)."""
        return self._rate[kind]

    def burst(self, kind: RequestKind = "submit") -> float:
        """How many requests of ``kind`` may go back to back after idling."""
        return self._burst[kind]

    # -- tokens ------------------------------------------------------------------------------

    def _bucket(self, kind: RequestKind) -> str:
        return self._keys.bucket(kind)

    async def _take(self, kind: RequestKind) -> float:
        mark = SUBMIT_MARK.get() if kind == "submit" else None
        bucket = self._bucket(kind)
        keys = [bucket, self._keys.cooldown]
        keys += [mark.record, mark.owner_hash, mark.alive, mark.sending] if mark else [bucket] * 4
        args: list[Any] = [self._ceiling[kind], self._burst[kind], _IDLE_TTL_MS]
        args += [mark.key, mark.owner] if mark else ["", ""]
        # Reserve only a few slots ahead: a submit's slot stamps sent_at on its record, and
        # a worker that dies with slots reserved but unsent leaves intents to reconcile.
        args.append(min(self._max_wait, _AHEAD_SLOTS / self._rate[kind]))
        refreshes = 0
        lock = self._locks.setdefault(kind, anyio.Lock())
        while True:
            # Only the head of this process's queue asks Redis (no herd of askers), and
            # holds the lock for one round trip per grant: its slot is reserved, and it
            # sleeps until then without the lock.
            async with lock:
                while True:
                    local_wait = self._local_until - self._clock.now()
                    if local_wait > 0:
                        await self._clock.sleep(min(local_wait, self._max_wait))
                        continue
                    asked_at = self._clock.now()
                    answer: list[Any] = await self.link.call(
                        lambda: self._take_script(keys=keys, args=args), f"{kind} token"
                    )
                    granted, wait, rate, server_at, lease_ms = answer
                    if rate:
                        self._rate[kind] = float(rate)
                    if granted == 1:
                        if mark is not None:
                            # The lease ran at least this long from when we asked.
                            mark.lease.extend(asked_at + int(lease_ms) / 1000)
                            mark.lease.sent(mark.key, str(server_at))
                        break
                    if mark is not None and granted == -1:
                        raise LeaseLost(
                            f"{mark.key!r} belongs to another worker now: no submit token for it"
                        )
                    if mark is not None and granted == -2:
                        refreshes += 1
                        if refreshes > 3:
                            raise JournalError(
                                f"{mark.key!r}: no live lease or intent record to submit under"
                            )
                        await mark.lease.refresh()
                        continue
                    await self._clock.sleep(min(max(float(wait), 0.001), self._max_wait))
            # The slot, on our clock, is no earlier than when we asked plus the delay.
            slot = asked_at + float(wait)
            await self._clock.sleep(slot - self._clock.now())
            # A slot we reach much later than its time (a stalled loop) is given up: sent
            # late it would bunch with the slots after it and overshoot a sliding window.
            # So is one a 429 closed the gate over while we slept.
            if self._clock.now() - slot <= _LATE_SLOT and self._local_until <= self._clock.now():
                break
        await self._renew_if_due()
        return float(server_at)

    async def before_submit(self) -> None:
        """Wait until the shared gate is open and a shared submit token is taken."""
        await self._take("submit")

    async def before_poll(self) -> None:
        """Wait until the shared gate is open and a shared poll token is taken."""
        await self._take("poll")

    async def take(self, kind: RequestKind = "submit") -> float:
        """Take one token like ``before_<kind>`` and return Redis's time of the grant."""
        return await self._take(kind)

    # -- running slots -------------------------------------------------------------------------

    def _slot_args(self) -> tuple[list[str], list[Any]]:
        self._seq += 1
        return [self._keys.slots], [
            f"{self.holder}:{self._seq}",
            self.max_running,
            self._lease_ms,
        ]

    async def try_acquire_running_slot(self) -> bool:
        """Take a shared slot if one is free now (False also while Redis is away)."""
        keys, args = self._slot_args()
        answer: list[int] | None = await self.link.try_call(
            lambda: self._slot_script(keys=keys, args=args), "running slot"
        )
        if not answer or not answer[0]:
            return False
        self._held.append(str(args[0]))
        return True

    async def acquire_running_slot(self) -> None:
        """Wait for a shared slot (looking again at least every quarter second)."""
        keys, args = self._slot_args()
        while True:
            answer: list[int] = await self.link.call(
                lambda: self._slot_script(keys=keys, args=args), "running slot"
            )
            if answer[0]:
                self._held.append(str(args[0]))
                return
            await self._clock.sleep(min(max(answer[1] / 1000, 0.001), _SLOT_POLL_CAP))

    async def release_running_slot(self) -> None:
        """Give one of this process's slots back (or let its lease lapse if Redis is away).

        Raises:
            RuntimeError: this process holds no slot.
        """
        if not self._held:
            raise RuntimeError("release_running_slot() without a held slot")
        slot = self._held.pop()
        await self.link.try_call(
            lambda: self.link.redis.zrem(self._keys.slots, slot), "slot release"
        )

    async def keep_running_slot(self, until: float) -> None:
        """Keep one of this process's slots taken until ``until`` (Unix time), then let it lapse.

        For a task that may still run on the provider though we lost track of it (its
        submit's outcome is unknown): the slot stays taken for every holder of the budget,
        even after this process exits, until the task's own expiry. Best-effort when Redis
        is away (the slot then lapses with its lease).

        Raises:
            RuntimeError: this process holds no slot.
        """
        if not self._held:
            raise RuntimeError("keep_running_slot() without a held slot")
        slot = self._held.pop()
        ms = int(until * 1000)
        await self.link.try_call(
            lambda: self._keep_script(keys=[self._keys.slots], args=[slot, ms]),
            "slot keep",
        )

    async def renew(self) -> None:
        """Extend the lease of every slot held (and re-add any Redis lost); best-effort."""
        self._last_renew = self._clock.now()
        if not self._held:
            return
        args: list[Any] = [self._lease_ms, *self._held]
        await self.link.try_call(
            lambda: self._renew_script(keys=[self._keys.slots], args=args), "renew"
        )

    async def _renew_if_due(self) -> None:
        if self._held and self._clock.now() - self._last_renew > self._lease_ms / 3000:
            await self.renew()

    async def aclose(self) -> None:
        """Give back every slot this process holds (best-effort; leases cover the rest)."""
        held, self._held = self._held, []
        if held:
            await self.link.try_call(
                lambda: self.link.redis.zrem(self._keys.slots, *held), "release all"
            )

    # -- answers ---------------------------------------------------------------------------

    async def on_rate_limited(self, error: RateLimited, *, kind: RequestKind = "submit") -> None:
        """Close the shared gate for the Retry-After wait, or halve the shared ``kind`` rate.

        A non-retryable 429 (spend cap, quota) changes nothing: waiting does not help.
        """
        if not error.retryable:
            return
        wait = retry_after_seconds(error, now_wall=self._clock.wall())
        if wait is not None:
            wait = min(max(0.0, wait), self._max_cooldown)
            self._local_until = max(self._local_until, self._clock.now() + wait)
            ms = int(wait * 1000)
            if ms > 0:
                await self.link.try_call(
                    lambda: self._cooldown_script(keys=[self._keys.cooldown], args=[ms]),
                    "cooldown",
                )
        elif self._adaptive:
            await self._adapt(kind, "down")

    async def on_success(self, *, kind: RequestKind = "submit") -> None:
        """Raise the shared ``kind`` rate a step when AIMD has lowered it."""
        if self._adaptive and self._rate[kind] < self._ceiling[kind] * (1 - 1e-9):
            await self._adapt(kind, "up")

    async def _adapt(self, kind: RequestKind, mode: str) -> None:
        ceiling = self._ceiling[kind]
        # The in-process AdaptiveRate's defaults: halve, floor 1/16, step 1/20, hold 2 s.
        args: list[Any] = [ceiling, self._burst[kind], _IDLE_TTL_MS, mode, 0.5, ceiling / 16]
        args += [2.0, ceiling / 20]
        rate = await self.link.try_call(
            lambda: self._adapt_script(keys=[self._bucket(kind)], args=args), "adapt"
        )
        if rate is not None:
            self._rate[kind] = float(rate)


def redis_budget_factory(
    redis: Redis,
    *,
    prefix: str = BUDGET_PREFIX,
    submit_burst: float | None = None,
    poll_burst: float | None = None,
    slot_lease: float = 60.0,
    holder: str | None = None,
    created: list[RedisBudget] | None = None,
) -> BudgetFactory:
    """A ``Client(budget_factory=...)`` that builds a :class:`RedisBudget` per (host, key).

    Limits come from each alias's config (``submit_rpm``, ``poll_rps``, ``max_running``);
    every process that uses the same key must configure the same limits.

    Args:
        redis: the shared client.
        prefix: key prefix; the budget's scope (``host/fingerprint``) is appended.
        submit_burst: creates allowed back to back (default 1: evenly spaced creates, as
            the in-process client sends them; a burst on top of the steady rate overshoots
            a provider's sliding-window limit by the burst).
        poll_burst: status/list requests allowed back to back (default 1: evenly spaced;
            a burst of 10 on top of the rate gave about rate + 10 per sliding second, which
            Ark answers with ``RequestBurstTooFast``).
        slot_lease: seconds before a dead holder's running slots return.
        holder: names this process's slots.
        created: when given, every budget built is appended (to renew them or close them).
    """

    def factory(config: ProviderConfig, scope: str, clock: Clock) -> RedisBudget:
        budget = RedisBudget(
            redis,
            BudgetKeys.of(scope, prefix).base,
            submit_rate=config.submit_rate(),
            submit_burst=1.0 if submit_burst is None else submit_burst,
            poll_rate=config.poll_rate(),
            poll_burst=1.0 if poll_burst is None else poll_burst,
            max_running=config.max_running,
            slot_lease=slot_lease,
            holder=holder,
            clock=clock,
        )
        if created is not None:
            created.append(budget)
        return budget

    return factory
