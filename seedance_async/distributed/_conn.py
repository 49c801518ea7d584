"""Redis plumbing for the distributed mode: a lazy import, the connection, and outages.

redis-py is an optional extra (``pip install -e '.[redis]'`` in a checkout). Nothing here
imports it before a connection is made, so ``import seedance_async`` works without it.

Outage policy: a Redis call that fails because the server cannot be reached (refused,
reset, timed out, still loading its data) is retried until it answers. The caller simply
waits: a worker whose budget or journal cannot reach Redis pauses where it is, keeps its
in-memory state, and carries on when Redis is back. Every script we run is idempotent, so
a call whose answer was lost with the connection may safely run again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLink", "connect", "outage_errors"]

logger = logging.getLogger("seedance_async.redis")

T = TypeVar("T")

_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 1.0


def connect(url: str, *, name: str | None = None) -> Redis:
    """A ``redis.asyncio.Redis`` for ``url`` that answers ``str`` and never retries by itself.

    The client's own retries are off: they would re-run a script whose answer was lost
    without telling us, and :class:`RedisLink` already waits out outages.

    Raises:
        ConfigurationError: redis-py is not installed.
    """
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "the distributed mode needs redis-py: pip install 'redis>=5' (the redis extra)"
        ) from exc
    client: Redis = Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        client_name=name,
    )
    return client


def outage_errors() -> tuple[type[Exception], ...]:
    """The redis-py errors that mean "not reachable now" (``BusyLoadingError`` included)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError)


class RedisLink:
    """A Redis client plus the outage state that every user of it shares.

    Args:
        redis: the client (see :func:`connect`).
        clock: used to sleep between attempts.
        name: how log lines name the user (``budget``, ``journal``).
    """

    def __init__(self, redis: Redis, *, clock: Clock | None = None, name: str = "redis") -> None:
        self.redis = redis
        self._clock = clock or SystemClock()
        self._name = name
        self._errors: tuple[type[Exception], ...] | None = None
        self.down_since: float | None = None
        self.recovered_at: float | None = None  # wall time the last outage ended
        self.outages = 0

    def __repr__(self) -> str:
        return f"RedisLink({self._name!r}, down={self.down_since is not None})"

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The exception classes treated as an outage."""
        if self._errors is None:
            self._errors = outage_errors()
        return self._errors

    def _down(self, what: str, exc: Exception) -> None:
        if self.down_since is None:
            self.down_since = self._clock.wall()
            self.outages += 1
            logger.warning("%s: Redis unreachable during %s (%s); waiting", self._name, what, exc)

    def _up(self) -> None:
        if self.down_since is not None:
            self.recovered_at = self._clock.wall()
            logger.warning(
                "%s: Redis answers again after %.1fs",
                self._name,
                self.recovered_at - self.down_since,
            )
            self.down_since = None

    async def call(self, op: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``op`` until Redis answers; other errors propagate.

        Raises:
            redis.exceptions.ResponseError: Redis refused the command (a bug, or wrong data).
        """
        delay = _FIRST_BACKOFF
        while True:
            try:
                out = await op()
            except self.errors as exc:
                self._down(what, exc)
                # Jittered so that many waiters do not reconnect in lockstep.
                await self._clock.sleep(delay * (0.5 + random.random()))
                delay = min(_MAX_BACKOFF, delay * 2)
                continue
            self._up()
            return out

    async def try_call(self, op: Callable[[], Awaitable[T]], what: str) -> T | None:
        """Run ``op`` once; None (and the outage noted) when Redis cannot be reached."""
        try:
            out = await op()
        except self.errors as exc:
            self._down(what, exc)
            return None
        self._up()
        return out
