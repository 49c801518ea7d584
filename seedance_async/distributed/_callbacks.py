"""Callbacks across the workers of a batch: any worker may receive one, the owner acts on it.

Workers behind one public callback URL (a load balancer in front of every host) receive
callbacks for tasks other workers follow. Each worker's receiver asks Redis about a token it
does not hold: :meth:`RedisCallbackRelay.knows` looks the token's SHA-256 up in the batch's
digest index (written with the token when the submit's intent is journaled), and
:meth:`~RedisCallbackRelay.relay` appends the body to the batch's relay stream. Every worker
reads that stream (:meth:`RedisCallbackRelay.run`) and hands each body to its receiver,
which keeps only its own tokens' bodies; the owner then confirms with a GET as usual.

No callback is lost when its owner died: the token stays in Redis with the task, so the
worker that takes the task over registers it again (new callbacks reach it directly), and
reads the recent stream once more (:meth:`RedisCallbackRelay.replay`) for the bodies that
arrived while nobody held the token. What is older than the stream keeps (``maxlen``)
falls back to the backstop polls, which find every task in bounded time anyway.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import anyio

from seedance_async.callbacks._receiver import CallbackReceiver
from seedance_async.callbacks._registry import CallbackStats
from seedance_async.callbacks._server import CallbackServer
from seedance_async.distributed._keys import BatchKeys

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["CallbackTokens", "RedisCallbackRelay", "serve_front"]

logger = logging.getLogger("seedance_async.distributed")

_RETRY = 0.5  # seconds between attempts to read the relay while Redis is away


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class CallbackTokens:
    """The batch's callback tokens in Redis: by key (to register again after a takeover)
    and by digest (to tell any worker that some worker holds a token)."""

    def __init__(self, redis: Redis, keys: BatchKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def record(self, key: str, token: str) -> None:
        """``key``'s current attempt carries ``token`` (replaces the previous attempt's)."""
        digest = hashlib.sha256(token.encode("ascii")).hexdigest()
        k = self._keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.callback_tokens, key, token)
            pipe.hset(k.callback_digests, digest, key)
            await pipe.execute()

    async def token(self, key: str) -> str | None:
        """The token of ``key``'s current attempt, if one was recorded."""
        value = await self._redis.hget(self._keys.callback_tokens, key)
        return cast("str | None", value)

    async def known(self, digest: bytes) -> bool:
        """Whether some worker recorded the token of ``digest``."""
        found = await self._redis.hexists(self._keys.callback_digests, digest.hex())
        return bool(found)


class RedisCallbackRelay:
    """A :class:`~seedance_async.callbacks.CallbackRelay` over one batch's Redis stream.

    Args:
        redis: a ``redis.asyncio.Redis`` answering ``str``.
        keys: the batch's key names.
        maxlen: bodies the stream keeps (about; older ones are trimmed).
    """

    def __init__(self, redis: Redis, keys: BatchKeys, *, maxlen: int = 10_000) -> None:
        self._redis = redis
        self._keys = keys
        self._tokens = CallbackTokens(redis, keys)
        self._maxlen = maxlen

    async def knows(self, digest: bytes) -> bool:
        """Whether some worker holds the token of ``digest``.

        Raises:
            OSError: Redis cannot be reached.
        """
        try:
            return await self._tokens.known(digest)
        except _redis_errors() as exc:
            raise OSError(f"callback relay: {exc}") from exc

    async def relay(self, digest: bytes, body: bytes) -> None:
        """Append ``body`` for the token of ``digest`` to the relay stream.

        Raises:
            OSError: Redis cannot be reached.
        """
        # Latin-1 maps every byte to one character and back: any body survives the str
        # round trip of a client that decodes answers.
        fields: dict[Any, Any] = {"d": digest.hex(), "b": body.decode("latin-1")}
        try:
            await self._redis.xadd(
                self._keys.callback_relay, fields, maxlen=self._maxlen, approximate=True
            )
        except _redis_errors() as exc:
            raise OSError(f"callback relay: {exc}") from exc

    def _deliver(self, receiver: CallbackReceiver, entries: list[Any]) -> str | None:
        last = None
        for entry_id, fields in entries:
            last = entry_id
            try:
                digest = bytes.fromhex(fields["d"])
                body = str(fields["b"]).encode("latin-1")
            except (KeyError, ValueError, UnicodeEncodeError):
                continue  # not ours to read: written by something else
            receiver.deliver_relayed(digest, body)
        return last

    async def replay(self, receiver: CallbackReceiver, count: int = 10_000) -> None:
        """Hand the last ``count`` relayed bodies to ``receiver`` again (after a takeover:
        those that arrived while nobody held the tasks' tokens). Bodies already seen are
        stale or duplicates to the receiver and change nothing."""
        try:
            recent: Any = await self._redis.xrevrange(self._keys.callback_relay, count=count)
        except _redis_errors() as exc:
            logger.warning("callback relay: cannot replay (%s); backstop polls remain", exc)
            return
        self._deliver(receiver, list(reversed(recent or [])))

    async def run(self, receiver: CallbackReceiver, *, block: float = 1.0) -> None:
        """Forever: hand every body relayed from now on to ``receiver``."""
        stream = self._keys.callback_relay
        last: str | None = None  # from the newest entry when this loop starts
        while True:
            try:
                if last is None:
                    newest: Any = await self._redis.xrevrange(stream, count=1)
                    last = str(newest[0][0]) if newest else "0-0"
                answer: Any = await self._redis.xread({stream: last}, block=int(block * 1000))
            except _redis_errors() as exc:
                logger.warning("callback relay: %s; retrying", exc)
                await anyio.sleep(_RETRY)
                continue
            for _, entries in answer or ():
                last = self._deliver(receiver, entries) or last


async def serve_front(
    redis: Redis,
    keys: BatchKeys,
    *,
    listen: str,
    public_url: str | None,
    stop: anyio.Event,
    ready: Callable[[CallbackServer], None] | None = None,
) -> CallbackStats:
    """A callback receiver that follows no task: it relays each callback for a token some
    worker of the batch holds (``seedance-async callbacks``), until ``stop`` is set.

    For a public URL served by hosts that run no worker (a small front tier) or to keep
    receiving while every worker restarts: the bodies wait in the relay stream, and the
    worker that takes the tasks on replays them.

    Raises:
        CallbackServerError: ``listen`` cannot be bound.
        ConfigurationError: ``listen`` or ``public_url`` is malformed.
    """
    receiver = CallbackReceiver(relay=RedisCallbackRelay(redis, keys))
    async with CallbackServer(listen=listen, public_url=public_url, receiver=receiver) as server:
        if ready is not None:
            ready(server)
        await stop.wait()
    return receiver.stats
