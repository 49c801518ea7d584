"""Sending an :class:`HttpRequest` over the network: the one place that touches aiohttp.

The transport knows nothing of providers' JSON; it turns a request description into bytes on
a socket and bytes back into an :class:`HttpResponse`. Its one piece of judgement is the
exception mapping in :func:`mapped_errors`, which the "never double-bill" rule rests on:

* :class:`RequestNotSent` only when aiohttp proves no byte of the request left the machine
  (the connection was never established: refused, DNS, TLS, connect timeout);
* :class:`OutcomeUnknown` for everything after the connection existed (read timeout, reset,
  disconnect, truncated answer, the total timeout), because the provider may have acted.

aiohttp raises a bare ``TimeoutError`` when the *total* timeout strikes, even if that happens
while still connecting; it is classed OutcomeUnknown (pessimistic but never wrong). Keep
``Timeouts.connect`` below ``Timeouts.total`` so a slow connect normally ends as the provable
``ConnectionTimeoutError`` instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol, Self, runtime_checkable

import aiohttp
from yarl import URL

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import (
    ConfigurationError,
    MalformedResponse,
    OutcomeUnknown,
    RequestNotSent,
)
from seedance_async.core._wire import HttpRequest, HttpResponse

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AiohttpTransport",
    "Timeouts",
    "Transport",
    "client_timeout",
    "mapped_errors",
]

logger = logging.getLogger("seedance_async.transport")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""API answers are small JSON; anything bigger is a misrouted download or a broken gateway."""


def _user_agent() -> str:
    try:
        return f"seedance-async/{version('seedance-async')}"
    except PackageNotFoundError:  # running from a source tree without installing
        return "seedance-async"


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """The equivalent ``aiohttp.ClientTimeout``."""
    return aiohttp.ClientTimeout(
        total=timeouts.total, connect=timeouts.connect, sock_read=timeouts.read
    )


@runtime_checkable
class Transport(Protocol):
    """Sends request descriptions and returns the raw answers; adds auth for its API host.

    A transport never raises for an HTTP status: 4xx/5xx/3xx come back as responses and the
    adapter classifies them. It raises only when no complete answer arrived.
    """

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """Send ``request`` and return the complete answer.

        Raises:
            RequestNotSent: the request provably never reached the server.
            OutcomeUnknown: the server may have received and acted on it.
            MalformedResponse: the answer arrived but cannot be used (e.g. too large).
        """
        ...

    async def aclose(self) -> None:
        """Release connections; the transport cannot be used afterwards."""
        ...


@contextlib.contextmanager
def mapped_errors(provider: str, what: str) -> Iterator[None]:
    """Translate aiohttp failures inside the block into RequestNotSent / OutcomeUnknown.

    Args:
        provider: provider name carried by the raised error.
        what: a redacted description such as ``"POST /api/v3/tasks"``: never headers, never
            a query string (presigned URLs carry signatures there).

    Raises:
        RequestNotSent: connecting failed or timed out, so nothing was sent.
        OutcomeUnknown: the connection broke, or a timeout struck, after it was established.
        ConfigurationError: the URL cannot be requested at all.
    """
    # Order matters: ClientConnectorError subclasses ClientOSError, and ConnectionTimeoutError
    # subclasses ServerTimeoutError and TimeoutError, so the specific classes come first.
    try:
        yield
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise RequestNotSent(
            f"{what}: could not connect ({type(exc).__name__})", provider=provider
        ) from exc
    except aiohttp.ServerFingerprintMismatch as exc:
        # Raised while the TLS connection is being set up, before the request is written.
        raise RequestNotSent(
            f"{what}: server certificate fingerprint mismatch", provider=provider
        ) from exc
    except aiohttp.SocketTimeoutError as exc:
        raise OutcomeUnknown(f"{what}: no data within the read timeout", provider=provider) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise OutcomeUnknown(f"{what}: server closed the connection", provider=provider) from exc
    except aiohttp.ClientPayloadError as exc:
        raise OutcomeUnknown(f"{what}: answer body incomplete", provider=provider) from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        # The URL itself names a secret-free problem, but not its text: it may carry a query.
        raise ConfigurationError(f"{what}: the URL cannot be requested") from exc
    except aiohttp.ClientResponseError as exc:
        # An unparsable answer arrived, so the request was received. ``from None``: this
        # exception holds the request headers (the API key) in ``request_info``.
        raise OutcomeUnknown(
            f"{what}: invalid HTTP answer ({type(exc).__name__})", provider=provider
        ) from None
    except TimeoutError as exc:
        # A bare TimeoutError (= asyncio.TimeoutError) is aiohttp's total timeout striking
        # after the connect phase: a timeout during connect is re-raised as
        # ConnectionTimeoutError above. Before OSError, which TimeoutError subclasses.
        raise OutcomeUnknown(f"{what}: total timeout", provider=provider) from exc
    except (aiohttp.ClientError, OSError) as exc:
        # Resets (ClientOSError, ClientConnectionResetError) and anything aiohttp adds later:
        # the connection existed, so the server may have acted.
        raise OutcomeUnknown(
            f"{what}: connection failed ({type(exc).__name__})", provider=provider
        ) from exc


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _flatten_headers(headers: Mapping[str, str]) -> dict[str, str]:
    flat: dict[str, str] = {}
    # A multidict yields every occurrence of a repeated header from items().
    for name, value in headers.items():
        key = str(name).lower()
        # RFC 9110 §5.3: repeated fields are equivalent to one comma-joined field.
        flat[key] = f"{flat[key]}, {value}" if key in flat else str(value)
    return flat


class AiohttpTransport:
    """A :class:`Transport` over one ``aiohttp.ClientSession`` for one provider base URL.

    * Auth headers go only to URLs whose scheme, host and port equal the base URL's; an
      absolute ``request.path`` on another origin gets none (defence in depth).
    * Redirects are never followed: a 3xx comes back as a response, so a redirect can never
      carry the key to another host.
    * The session is created lazily inside the running loop and closed by :meth:`aclose`; a
      session passed in belongs to the caller and is left open.
    * ``repr()``, errors and logs show method and path only: never headers, query or key.

    Args:
        base_url: e.g. ``https://ark.cn-beijing.volces.com/api/v3``; request paths are
            appended to it verbatim.
        provider: name carried by the errors this transport raises.
        auth_headers: headers that carry the key (``adapter.auth_headers(key)``).
        timeouts: defaults for :meth:`send`.
        session: an existing session to use (not closed by :meth:`aclose`).
        user_agent: the ``User-Agent`` header.
        max_body_bytes: larger answers raise :class:`MalformedResponse`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        provider: str = "",
        auth_headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        session: aiohttp.ClientSession | None = None,
        user_agent: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        base = URL(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host:
            raise ConfigurationError(f"base URL must be http(s)://host[/path], got {base_url!r}")
        if base.query_string or base.fragment:
            raise ConfigurationError("base URL must not have a query or fragment")
        self._base = str(base)
        self._origin = _origin(base)
        self._provider = provider
        self._auth = dict(auth_headers or {})
        self._timeouts = timeouts or Timeouts()
        self._client_timeout = client_timeout(self._timeouts)  # built once, not per request
        self._session = session
        self._owns_session = session is None
        self._user_agent = user_agent or _user_agent()
        self._max_body = max_body_bytes
        self._closed = False

    @property
    def base_url(self) -> str:
        """The base URL requests are resolved against."""
        return self._base

    @property
    def provider(self) -> str:
        """The provider name carried by errors."""
        return self._provider

    def __repr__(self) -> str:
        return f"AiohttpTransport(base_url={self._base!r}, provider={self._provider!r})"

    def url_for(self, request: HttpRequest) -> URL:
        """The absolute URL of ``request``: base URL + path (or an absolute path) + query."""
        path = request.path
        raw = path if path.startswith(("http://", "https://")) else self._base + path
        url = URL(raw)
        return url.extend_query(list(request.query)) if request.query else url

    def headers_for(self, request: HttpRequest, url: URL) -> dict[str, str]:
        """The headers to send: defaults, the request's own, and auth for the API origin only."""
        headers = {"accept": "application/json", "user-agent": self._user_agent}
        if request.json is not None:
            headers["content-type"] = "application/json"
        headers.update(request.headers)
        if _origin(url) == self._origin:
            headers.update({k.lower(): v for k, v in self._auth.items()})
        return headers

    def _session_or_create(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("transport is closed")
        if self._session is None:
            # No cookie jar: an API client must not carry state between requests, and a
            # cookie set by one host must not be replayed to another.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """Send ``request`` and return the complete answer (any status).

        Args:
            request: the request description; its headers must not carry auth.
            timeouts: overrides the transport's defaults for this exchange.

        Returns:
            The answer with lower-cased header names and the full body.

        Raises:
            RequestNotSent: the request provably never reached the server.
            OutcomeUnknown: the server may have received and acted on it.
            MalformedResponse: the body is larger than ``max_body_bytes``.
            ConfigurationError: the URL cannot be requested.
            RuntimeError: the transport was closed.
        """
        session = self._session_or_create()
        url = self.url_for(request)
        what = f"{request.method} {url.path}"
        limits = self._client_timeout if timeouts is None else client_timeout(timeouts)
        with mapped_errors(self._provider, what):
            async with session.request(
                request.method,
                url,
                data=request.body_bytes(),
                headers=self.headers_for(request, url),
                allow_redirects=False,
                timeout=limits,
            ) as resp:
                body = await self._read_body(resp, what)
                headers = _flatten_headers(resp.headers)
        logger.debug("%s -> %d (%d bytes)", what, resp.status, len(body))
        return HttpResponse(status=resp.status, body=body, headers=headers)

    async def _read_body(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        declared = resp.content_length
        if declared is not None:
            if declared > self._max_body:
                raise self._too_large(resp.status, what)
            # aiohttp reads exactly the announced length: one call, no chunk loop.
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large(resp.status, what)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, status: int, what: str) -> MalformedResponse:
        return MalformedResponse(
            f"{what}: answer body larger than {self._max_body} bytes",
            provider=self._provider,
            status=status,
        )

    async def aclose(self) -> None:
        """Close the session if this transport created it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
