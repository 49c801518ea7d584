"""The framework-neutral receiver: admission checks, the acknowledgement, the hint queue.

The aiohttp and ASGI front ends (``_aiohttp``, ``_asgi``) only translate a request into two
calls: :meth:`CallbackReceiver.admit` before the body is read (rate, token, content type,
declared size) and :meth:`CallbackReceiver.accept` with the body, which queues it and
answers at once. Bodies are read later, in the consumer's task, by :meth:`hints` or
:meth:`drain`: the provider gets its 2xx without waiting for anything, and a slow consumer
costs a bounded queue, not an unbounded backlog (beyond it: 503, and the provider re-sends
final notices).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, Self

import anyio
import attrs
from yarl import URL

from seedance_async.callbacks._registry import (
    CallbackHint,
    CallbackStats,
    Entry,
    RejectReason,
    TokenRegistry,
)
from seedance_async.callbacks._token import CallbackToken, token_digest
from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import ConfigurationError
from seedance_async.providers._protocol import ProviderAdapter
from seedance_async.spec._status import TERMINAL_STATES, TaskState

__all__ = [
    "Answer",
    "CallbackReceiver",
    "CallbackRelay",
    "Foreign",
    "ReceiverLimits",
    "check_public_url",
    "is_json",
]

logger = logging.getLogger("seedance_async.callbacks")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ReceiverLimits:
    """What one receiver accepts.

    Attributes:
        max_body: largest body in bytes (Ark's task object is about 1 KB).
        rate: requests per second per source address, sustained.
        burst: requests a source may send at once.
        unknown_token_cost: how many requests of the source's budget a request for an
            unknown token uses: guessing tokens is throttled that much harder than posting
            to real ones.
        queue_items / queue_bytes: acknowledged bodies waiting to be read; beyond either,
            requests are answered 503 (providers re-send final notices).
        max_sources: source addresses whose rate is tracked; the least recently seen is
            forgotten beyond it.
    """

    max_body: int = attrs.field(default=64 * 1024, validator=attrs.validators.ge(1))
    rate: float = attrs.field(default=50.0, validator=_positive)
    burst: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    unknown_token_cost: float = attrs.field(default=10.0, validator=attrs.validators.ge(1))
    queue_items: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    queue_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=attrs.validators.ge(1))
    max_sources: int = attrs.field(default=4096, validator=attrs.validators.ge(1))


@attrs.frozen
class Answer:
    """What to answer a request: status, a small JSON body, extra headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_OK = Answer(200, b'{"ok":true}')
_ANSWERS: dict[RejectReason, Answer] = {
    "unknown_token": Answer(404, b'{"error":"not found"}'),
    "rate_limited": Answer(429, b'{"error":"too many requests"}', (("Retry-After", "1"),)),
    "too_large": Answer(413, b'{"error":"body too large"}'),
    "content_type": Answer(415, b'{"error":"expected application/json"}'),
    "overloaded": Answer(503, b'{"error":"busy"}', (("Retry-After", "5"),)),
}


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header names JSON (``application/json``, ``…+json``)."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def check_public_url(url: str) -> str:
    """``url`` without a trailing slash, once it is an absolute http(s) URL without query.

    Raises:
        ConfigurationError: it is not.
    """
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        raise ConfigurationError(f"callback public URL is not a URL: {url!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"callback public URL must be an absolute http(s) URL, got {url!r}"
        )
    if parsed.query_string or parsed.fragment:
        raise ConfigurationError(
            f"callback public URL must not have a query or fragment, got {url!r}"
        )
    return str(parsed).rstrip("/")


class _SourceBuckets:
    """One token bucket per source address, least recently seen forgotten first."""

    def __init__(self, limits: ReceiverLimits) -> None:
        self._rate, self._burst, self._max = limits.rate, float(limits.burst), limits.max_sources
        self._buckets: collections.OrderedDict[str, list[float]] = collections.OrderedDict()

    def take(self, source: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` from ``source``'s bucket; False (nothing taken) when it is short."""
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = [self._burst, now]
            self._buckets[source] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
            bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
        if bucket[0] < 1.0:
            return False
        bucket[0] -= cost  # may go below zero: an expensive request is paid off over time
        return True

    def charge(self, source: str, cost: float) -> None:
        """Take ``cost`` more from a bucket that was just used."""
        bucket = self._buckets.get(source)
        if bucket is not None:
            bucket[0] -= cost


_Item = tuple[Entry, bytes, float]


class CallbackRelay(Protocol):
    """Passes callbacks between the receivers of several hosts (the Redis workers' one is
    ``seedance_async.distributed``): a provider may post a task's callback to any host
    behind one public URL, and only the host that follows the task can act on it.

    The receiving host asks :meth:`knows` about a token it does not hold (by its digest: the
    token itself never leaves the host that made it); when some host holds it, the body is
    passed on with :meth:`relay`, and every host hands what it reads from the relay to
    :meth:`CallbackReceiver.deliver_relayed`, which keeps only its own tokens' bodies.
    """

    async def knows(self, digest: bytes) -> bool:
        """Whether some host registered the token of ``digest``.

        Raises:
            OSError: the relay cannot be reached (the request is answered 503).
        """
        ...

    async def relay(self, digest: bytes, body: bytes) -> None:
        """Pass ``body`` on to whichever host holds the token of ``digest``.

        Raises:
            OSError: the relay cannot be reached (the request is answered 503).
        """
        ...


@attrs.frozen
class Foreign:
    """A request for a token this receiver does not hold, which the relay may know."""

    digest: bytes


class CallbackReceiver:
    """Receives providers' status-change callbacks for registered tasks and turns them into
    :class:`CallbackHint` values: "confirm this task with the provider now".

    Mount it into an aiohttp app (:func:`callback_app`, :func:`callback_routes`), an ASGI
    app (:class:`CallbackAsgiApp`), or run it on its own port (:class:`CallbackServer`).
    A body is never trusted: hints name a task and the state a body claimed, nothing more.

    Args:
        public_url: the URL the receiver is reachable at from the provider, without the
            token (``https://hooks.example.com/seedance``); each task's callback URL is
            ``{public_url}/{token}``. May be set later with :meth:`set_public_url`.
        limits: body size, rates and queue bounds.
        confirm_states: claimed states that ask for a confirming GET (default: final ones).
        clock: the time source for rates and hint times.
        relay: passes callbacks for tokens of other hosts to them (see
            :class:`CallbackRelay`); may be set later as :attr:`relay`.

    Raises:
        ConfigurationError: ``public_url`` is not an absolute http(s) URL without query.
    """

    def __init__(
        self,
        *,
        public_url: str | None = None,
        limits: ReceiverLimits | None = None,
        confirm_states: Iterable[TaskState] = TERMINAL_STATES,
        clock: Clock | None = None,
        relay: CallbackRelay | None = None,
    ) -> None:
        self.relay = relay
        self.limits = limits or ReceiverLimits()
        self.stats = CallbackStats()
        self.registry = TokenRegistry(stats=self.stats, confirm_states=confirm_states)
        self._public_url = None if public_url is None else check_public_url(public_url)
        self._clock = clock or SystemClock()
        self._sources = _SourceBuckets(self.limits)
        # A deque and an event rather than a memory stream: a receiver mounted for the life
        # of an app is never closed, and needs no loop until someone waits on it.
        self._queue: collections.deque[_Item] = collections.deque()
        self._ready = asyncio.Event()
        self._queued_bytes = 0
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"CallbackReceiver(public_url={self._public_url!r}, tasks={len(self.registry)}, "
            f"received={self.stats.received})"
        )

    # -- URLs and registration ------------------------------------------------------------

    @property
    def public_url(self) -> str | None:
        """The base of every callback URL (without a trailing slash), once known."""
        return self._public_url

    def set_public_url(self, url: str) -> None:
        """Set the base of callback URLs (a server learns its port only once bound).

        Raises:
            ConfigurationError: ``url`` is not an absolute http(s) URL without query.
        """
        self._public_url = check_public_url(url)

    def url_for(self, token: CallbackToken) -> str:
        """The callback URL that carries ``token``: put it in the task's ``callback_url``.

        Raises:
            ConfigurationError: no public URL is set yet.
        """
        if self._public_url is None:
            raise ConfigurationError("the callback receiver has no public URL yet")
        return f"{self._public_url}/{token.reveal()}"

    def register(
        self,
        key: str,
        *,
        provider: str,
        adapter: ProviderAdapter | None = None,
        remote_id: str | None = None,
        token: CallbackToken | None = None,
    ) -> CallbackToken:
        """Give task ``key`` a token; see :meth:`TokenRegistry.register`.

        Raises:
            ValueError: ``token`` is already registered for another key.
        """
        return self.registry.register(
            key, provider=provider, adapter=adapter, remote_id=remote_id, token=token
        )

    def bind(self, key: str, remote_id: str) -> None:
        """``key``'s submit answered with ``remote_id``; see :meth:`TokenRegistry.bind`.

        Raises:
            KeyError: ``key`` is not registered.
        """
        self.registry.bind(key, remote_id)

    def observe(self, key: str, state: TaskState) -> bool:
        """A GET showed ``key`` in ``state``; see :meth:`TokenRegistry.observe`."""
        return self.registry.observe(key, state)

    def forget(self, key: str) -> None:
        """Drop ``key``'s token; its URL answers 404 from now on."""
        self.registry.forget(key)

    # -- requests -------------------------------------------------------------------------

    def admit(
        self,
        token: str,
        *,
        source: str,
        content_type: str | None,
        content_length: int | None,
    ) -> Entry | Foreign | Answer:
        """First look at a request, before its body is read: its entry, or the refusal.

        ``token`` is the last path segment, as sent; ``source`` the peer address. With a
        relay, a well-formed token this receiver does not hold is :class:`Foreign`: the
        front end finishes it with :meth:`relay_foreign`.
        """
        stats = self.stats
        stats.received += 1
        now = self._clock.now()
        if not self._sources.take(source, now):
            return self._refuse("rate_limited", source)
        digest = token_digest(token)
        entry = None if digest is None else self.registry.lookup(digest)
        if entry is None and digest is not None and self.registry.is_retired(digest):
            stats.late += 1
            return _ANSWERS["unknown_token"]
        if entry is None and digest is not None and self.relay is not None:
            return Foreign(digest)
        if entry is None:
            self._sources.charge(source, self.limits.unknown_token_cost - 1)
            return self._refuse("unknown_token", source)
        if not is_json(content_type):
            return self._refuse("content_type", source, entry)
        if content_length is not None and content_length > self.limits.max_body:
            return self._refuse("too_large", source, entry)
        return entry

    def accept(self, entry: Entry, body: bytes, *, source: str) -> Answer:
        """Queue an admitted request's body (at most ``max_body + 1`` bytes read) and answer."""
        if len(body) > self.limits.max_body:
            return self._refuse("too_large", source, entry)
        limits = self.limits
        if (
            self._closed
            or len(self._queue) >= limits.queue_items
            or self._queued_bytes + len(body) > limits.queue_bytes
        ):
            return self._refuse("overloaded", source, entry)
        self._queue.append((entry, body, self._clock.now()))
        self._queued_bytes += len(body)
        self._ready.set()
        self.stats.acknowledged += 1
        return _OK

    async def relay_foreign(
        self,
        foreign: Foreign,
        read_body: Callable[[], Awaitable[bytes | None]],
        *,
        source: str,
        content_type: str | None,
        content_length: int | None,
    ) -> Answer | None:
        """Pass a request for another host's token on (see :class:`CallbackRelay`).

        ``read_body`` reads at most ``max_body + 1`` bytes (None: the client went away, and
        None is returned: nobody to answer). Unknown everywhere: 404, charged as a guess.
        """
        relay = self.relay
        try:
            known = relay is not None and await relay.knows(foreign.digest)
        except OSError:
            return self._refuse("overloaded", source)
        if not known:
            self._sources.charge(source, self.limits.unknown_token_cost - 1)
            return self._refuse("unknown_token", source)
        if not is_json(content_type):
            return self._refuse("content_type", source)
        if content_length is not None and content_length > self.limits.max_body:
            return self._refuse("too_large", source)
        body = await read_body()
        if body is None:
            return None
        if len(body) > self.limits.max_body:
            return self._refuse("too_large", source)
        assert relay is not None
        try:
            await relay.relay(foreign.digest, body)
        except OSError:
            return self._refuse("overloaded", source)
        self.stats.relayed_out += 1
        self.stats.acknowledged += 1
        return _OK

    def deliver_relayed(self, digest: bytes, body: bytes) -> bool:
        """A body another host relayed: queued (True) when the token is this receiver's.

        The body is read like one received here; the checks of the receiving host (token
        known, content type, size, rate) were made there, and the size is checked again.
        """
        entry = self.registry.lookup(digest)
        if entry is None or self._closed or len(body) > self.limits.max_body:
            return False
        limits = self.limits
        if (
            len(self._queue) >= limits.queue_items
            or self._queued_bytes + len(body) > limits.queue_bytes
        ):
            self.stats.reject("overloaded")
            return False
        self._queue.append((entry, body, self._clock.now()))
        self._queued_bytes += len(body)
        self._ready.set()
        self.stats.relayed_in += 1
        return True

    def _refuse(self, reason: RejectReason, source: str, entry: Entry | None = None) -> Answer:
        self.stats.reject(reason)
        # Never the token: the key names the task for whoever reads the log.
        task = "" if entry is None else f" for task {entry.key!r}"
        logger.debug("callback refused (%s) from %s%s", reason, source, task)
        return _ANSWERS[reason]

    # -- the consumer side ----------------------------------------------------------------

    def _next_queued(self) -> CallbackHint | None:
        """Read queued bodies until one gives a hint; None once the queue is empty."""
        while self._queue:
            entry, body, at = self._queue.popleft()
            self._queued_bytes -= len(body)
            hint = self.registry.process(entry, body, at)
            if hint is not None:
                return hint
        return None

    def drain(self) -> list[CallbackHint]:
        """Read every body queued so far, without waiting: the hints among them."""
        hints: list[CallbackHint] = []
        while (hint := self._next_queued()) is not None:
            hints.append(hint)
        return hints

    async def next_hint(self) -> CallbackHint:
        """Wait for the next hint, reading queued bodies as they come.

        Raises:
            anyio.EndOfStream: the receiver is closed.
        """
        while True:
            if self._closed:
                raise anyio.EndOfStream
            hint = self._next_queued()
            if hint is not None:
                return hint
            self._ready.clear()
            await self._ready.wait()

    def hints(self) -> _Hints:
        """``async for hint in receiver.hints()``: every hint until :meth:`close`."""
        return _Hints(self)

    def close(self) -> None:
        """Refuse new callbacks (503) and end :meth:`hints`; bodies not read are dropped."""
        self._closed = True
        self._queue.clear()
        self._queued_bytes = 0
        self._ready.set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def queued(self) -> int:
        """Acknowledged bodies not read yet."""
        return len(self._queue)


class _Hints:
    """The async iterator :meth:`CallbackReceiver.hints` returns."""

    def __init__(self, receiver: CallbackReceiver) -> None:
        self._receiver = receiver

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CallbackHint:
        try:
            return await self._receiver.next_hint()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None
