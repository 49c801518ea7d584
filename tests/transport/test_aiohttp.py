"""AiohttpTransport: the wire format, auth scoping, redirects and the exception mapping.

Wire details are checked against real loopback servers (what actually arrived), and the
timeouts against what aiohttp itself was handed (a real connector that notes them). The
exception mapping is checked with real misbehaving servers wherever loopback can produce the
failure; every mapped aiohttp exception, including those loopback cannot produce (a connect
timeout, DNS), is also raised from inside a real aiohttp session by a trace hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ClientRequest, ConnectionKey, RequestInfo
from aiohttp.connector import Connection
from aiohttp.test_utils import TestServer
from aiohttp.tracing import Trace
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import (
    ConfigurationError,
    MalformedResponse,
    OutcomeUnknown,
    ProviderError,
    RequestNotSent,
)
from seedance_async.core._wire import HttpRequest
from seedance_async.providers._protocol import bearer
from seedance_async.transport._aiohttp import AiohttpTransport, Transport, client_timeout

KEY = "sk-CANARY-123"
FAST = Timeouts(connect=1.0, read=0.05, total=2.0)

# -- loopback servers --------------------------------------------------------------------------

Behaviour = Callable[[bytes, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(behaviour: Behaviour) -> AsyncIterator[str]:
    """A loopback TCP server that reads one HTTP request, then does ``behaviour``.

    Yields the base URL. ``behaviour`` gets the raw request, the writer and an event set at
    teardown (for servers that must stay silent until then); the connection is closed after.
    """
    release = asyncio.Event()
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            await behaviour(head + body, writer, release)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers, return_exceptions=True)


async def close_at_once(
    request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    """Read the request, answer nothing, close."""


async def never_answer(
    request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    """Read the request and stay silent until teardown."""
    await release.wait()


async def truncated_body(
    request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    """Announce 100 bytes, send 10, close."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    writer.write(b'{"id": "cg')
    await writer.drain()


async def garbage_answer(
    request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    """Answer with bytes that are not HTTP, then close."""
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()


async def reset(request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event) -> None:
    """Read the request, then abort the connection with a TCP RST."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def refused_url() -> str:
    """A loopback URL on which nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Recorder:
    """An aiohttp.web app that echoes what it received and records every hit."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.redirect_to = ""
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.Response:
        if request.path.endswith("/redirect"):
            return await self.redirect(request)
        if request.path.endswith("/big"):
            return await self.big(request)
        if request.path.endswith("/gone"):
            self._record(request, await request.read())
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        if request.path.endswith("/busy"):
            self._record(request, await request.read())
            return web.Response(status=500, body=b"oops", headers={"Retry-After": "3"})
        return await self.echo(request)

    def _record(self, request: web.Request, body: bytes) -> dict[str, Any]:
        hit = {
            "method": request.method,
            "path": request.path,
            "query": list(request.query.items()),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body,
        }
        self.hits.append(hit)
        return hit

    async def echo(self, request: web.Request) -> web.Response:
        hit = self._record(request, await request.read())
        headers = CIMultiDict([("X-Multi", "a"), ("X-Multi", "b"), ("X-Request-Id", "r-1")])
        payload = {**hit, "body": hit["body"].decode()}
        return web.json_response(payload, headers=headers)

    async def redirect(self, request: web.Request) -> web.Response:
        self._record(request, await request.read())
        raise web.HTTPFound(self.redirect_to)

    async def big(self, request: web.Request) -> web.Response:
        self._record(request, b"")
        return web.Response(body=b"x" * 5000)


@pytest.fixture
async def api() -> AsyncIterator[tuple[Recorder, str]]:
    """The 'API host': a recorder on loopback."""
    recorder = Recorder()
    async with TestServer(recorder.app, host="127.0.0.1") as server:
        yield recorder, str(server.make_url("/api/v3"))


@pytest.fixture
async def other() -> AsyncIterator[tuple[Recorder, str]]:
    """Another host (a different port is a different origin)."""
    recorder = Recorder()
    async with TestServer(recorder.app, host="127.0.0.1") as server:
        yield recorder, str(server.make_url(""))


@contextlib.asynccontextmanager
async def transport_for(base_url: str, **kwargs: Any) -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport(
        base_url, provider="ark", auth_headers=bearer(KEY), timeouts=FAST, **kwargs
    )
    try:
        yield transport
    finally:
        await transport.aclose()


# -- wire format (real server) -----------------------------------------------------------------


async def test_post_json_reaches_server_with_auth_and_defaults(api: tuple[Recorder, str]) -> None:
    """Path joins the base URL; JSON goes as compact bytes with content-type; auth is sent."""
    recorder, base = api
    async with transport_for(base) as transport:
        assert isinstance(transport, Transport)
        request = HttpRequest(
            method="POST",
            path="/contents/generations/tasks",
            json={"model": "m", "prompt": "猫"},
            headers={"X-Client-Request-Id": "c-1"},
            paid=True,
        )
        response = await transport.send(request)
    assert response.status == 200
    hit = recorder.hits[0]
    assert hit["method"] == "POST"
    assert hit["path"] == "/api/v3/contents/generations/tasks"
    assert hit["body"] == request.body_bytes()
    assert hit["headers"]["content-type"] == "application/json"
    assert hit["headers"]["accept"] == "application/json"
    assert hit["headers"]["authorization"] == f"Bearer {KEY}"
    assert hit["headers"]["x-client-request-id"] == "c-1"
    assert hit["headers"]["user-agent"].startswith("seedance-async")


async def test_repeated_query_keys_keep_order(api: tuple[Recorder, str]) -> None:
    """Repeated keys (Ark's filter.task_ids) arrive repeated and in order; GET has no body."""
    recorder, base = api
    query = [("filter.task_ids", "b"), ("page_size", "10"), ("filter.task_ids", "a")]
    async with transport_for(base) as transport:
        await transport.send(HttpRequest(method="GET", path="/tasks", query=query))
    hit = recorder.hits[0]
    assert hit["query"] == query
    assert hit["body"] == b""
    assert "content-type" not in hit["headers"]


async def test_response_headers_are_lower_cased_and_joined(api: tuple[Recorder, str]) -> None:
    """Response header names are lower-case; a repeated header is comma-joined."""
    _, base = api
    async with transport_for(base) as transport:
        response = await transport.send(HttpRequest(method="GET", path="/x"))
    assert response.headers["x-multi"] == "a, b"
    assert response.header("X-Request-Id") == "r-1"
    assert response.json()["path"] == "/api/v3/x"


async def test_auth_only_for_the_api_origin(
    api: tuple[Recorder, str], other: tuple[Recorder, str]
) -> None:
    """An absolute URL on another origin gets no auth; the same origin does."""
    api_rec, base = api
    other_rec, other_base = other
    async with transport_for(base) as transport:
        await transport.send(HttpRequest(method="GET", path=other_base + "/upload"))
        await transport.send(HttpRequest(method="GET", path=base + "/same-origin"))
    assert "authorization" not in other_rec.hits[0]["headers"]
    assert api_rec.hits[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_userinfo_trick_cannot_move_auth_to_another_host() -> None:
    """'base' + '@evil/...' would name another host; the origin check withholds the key."""
    transport = AiohttpTransport("https://api.example.com", auth_headers=bearer(KEY))
    request = HttpRequest(method="GET", path="@evil.example/x")
    url = transport.url_for(request)
    assert url.host == "evil.example"
    assert "authorization" not in transport.headers_for(request, url)
    same = HttpRequest(method="GET", path="/x")
    assert "authorization" in transport.headers_for(same, transport.url_for(same))


def test_request_headers_cannot_override_auth() -> None:
    """Auth is applied last for the API origin, whatever the request's headers say."""
    transport = AiohttpTransport("https://api.example.com", auth_headers=bearer(KEY))
    request = HttpRequest(method="GET", path="/x", headers={"Authorization": "Bearer other"})
    assert transport.headers_for(request, transport.url_for(request))["authorization"] == (
        f"Bearer {KEY}"
    )


async def test_redirect_is_returned_not_followed(
    api: tuple[Recorder, str], other: tuple[Recorder, str]
) -> None:
    """A 302 comes back as a response; the redirect target is never contacted."""
    api_rec, base = api
    other_rec, other_base = other
    api_rec.redirect_to = other_base + "/stolen"
    async with transport_for(base) as transport:
        response = await transport.send(HttpRequest(method="GET", path="/redirect"))
    assert response.status == 302
    assert response.header("location") == other_base + "/stolen"
    assert other_rec.hits == []


async def test_body_larger_than_limit_is_malformed(api: tuple[Recorder, str]) -> None:
    """An answer beyond max_body_bytes raises MalformedResponse with the status."""
    _, base = api
    async with transport_for(base, max_body_bytes=1000) as transport:
        with pytest.raises(MalformedResponse) as info:
            await transport.send(HttpRequest(method="GET", path="/big"))
    assert info.value.status == 200


async def test_http_errors_are_responses(api: tuple[Recorder, str]) -> None:
    """The transport never raises for a status; 404 is just a response."""
    _, base = api
    async with transport_for(base) as transport:
        response = await transport.send(HttpRequest(method="DELETE", path="/gone"))
    assert response.status == 404
    assert response.json() == {"error": {"code": "NotFound"}}


# -- timeouts and body as aiohttp gets them ----------------------------------------------------


class TimeoutNotingConnector(aiohttp.TCPConnector):
    """A real TCP connector that notes the ClientTimeout aiohttp connects each request under."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[aiohttp.ClientTimeout] = []

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Connection:
        self.timeouts.append(timeout)
        return await super().connect(req, traces, timeout)


def test_timeouts_map_to_aiohttp() -> None:
    """connect, read and total become aiohttp's connect, sock_read and total."""
    assert client_timeout(Timeouts(connect=1, read=2, total=3)) == aiohttp.ClientTimeout(
        total=3, connect=1, sock_read=2
    )


async def test_per_call_timeouts_and_exact_body_reach_aiohttp(api: tuple[Recorder, str]) -> None:
    """A call's own timeouts replace the defaults for that call only; the body goes as the
    exact bytes; a 5xx comes back whole, Retry-After included."""
    recorder, base = api
    connector = TimeoutNotingConnector()
    call_timeouts = Timeouts(connect=1, read=2, total=3)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        transport_for(base, session=session) as transport,
    ):
        request = HttpRequest(method="POST", path="/busy", json={"a": [1, 2]}, paid=True)
        response = await transport.send(request, timeouts=call_timeouts)
        await transport.send(HttpRequest(method="GET", path="/x"))
    assert connector.timeouts == [client_timeout(call_timeouts), client_timeout(FAST)]
    assert response.status == 500
    assert response.body == b"oops"
    assert response.header("retry-after") == "3"
    hit = recorder.hits[0]
    assert hit["path"] == "/api/v3/busy"
    assert hit["body"] == b'{"a":[1,2]}'
    assert hit["headers"]["authorization"] == f"Bearer {KEY}"


# -- exception mapping (every aiohttp exception, raised inside a real session) -----------------


@contextlib.asynccontextmanager
async def raising_session(
    raised: BaseException, seen: list[URL]
) -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session in which every request raises ``raised`` from a trace hook,
    before any connection is made; ``seen`` gets each request's URL (query included)."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(params.url)
        raise raised

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session


def _connection_key() -> ConnectionKey:
    # By name: aiohttp adds fields to this tuple over versions.
    fields: dict[str, Any] = dict.fromkeys(ConnectionKey._fields)
    fields.update(host="api.example.com", port=443, is_ssl=True, ssl=True)
    return ConnectionKey(**fields)


def _request_info() -> RequestInfo:
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {KEY}"}))
    url = URL("https://api.example.com/api/v3/tasks")
    return RequestInfo(url, "POST", headers, url)


MAPPING: list[tuple[str, BaseException, type[BaseException]]] = [
    (
        "refused",
        aiohttp.ClientConnectorError(_connection_key(), OSError(111, "refused")),
        RequestNotSent,
    ),
    (
        "dns",
        aiohttp.ClientConnectorDNSError(_connection_key(), OSError(-2, "no such host")),
        RequestNotSent,
    ),
    ("connect timeout", aiohttp.ConnectionTimeoutError("connect"), RequestNotSent),
    ("read timeout", aiohttp.SocketTimeoutError("read"), OutcomeUnknown),
    ("disconnected", aiohttp.ServerDisconnectedError(), OutcomeUnknown),
    ("payload", aiohttp.ClientPayloadError("cut"), OutcomeUnknown),
    ("reset", aiohttp.ClientOSError(104, "reset by peer"), OutcomeUnknown),
    ("reset on write", aiohttp.ClientConnectionResetError("closing"), OutcomeUnknown),
    ("total timeout", TimeoutError(), OutcomeUnknown),
    ("bad answer", aiohttp.ClientResponseError(_request_info(), ()), OutcomeUnknown),
    ("invalid url", aiohttp.InvalidURL("nope"), ConfigurationError),
]


@pytest.mark.parametrize(("raised", "expected"), [pytest.param(r, e, id=i) for i, r, e in MAPPING])
async def test_exception_mapping(raised: BaseException, expected: type[BaseException]) -> None:
    """Each aiohttp failure maps to the most specific error, chained, naming method and path."""
    seen: list[URL] = []
    base = refused_url() + "/api/v3"  # never contacted: the hook raises before connecting
    async with (
        raising_session(raised, seen) as session,
        transport_for(base, session=session) as transport,
    ):
        request = HttpRequest(method="POST", path="/tasks", query={"secret": "s3cr3t"})
        with pytest.raises(expected) as info:
            await transport.send(request)
    assert seen == [URL(base + "/tasks?secret=s3cr3t")]  # the query was sent, and is withheld:
    error = info.value
    assert "POST /api/v3/tasks" in str(error)
    assert "s3cr3t" not in str(error)
    if isinstance(error, ProviderError):
        assert error.provider == "ark"
    if isinstance(raised, aiohttp.ClientResponseError):
        assert error.__cause__ is None  # its request_info holds the key
        assert error.__suppress_context__
    else:
        assert error.__cause__ is raised


# -- exception mapping (real loopback failures) ------------------------------------------------


async def test_refused_port_is_request_not_sent() -> None:
    """Nothing listening: provably not sent."""
    async with transport_for(refused_url()) as transport:
        with pytest.raises(RequestNotSent) as info:
            await transport.send(HttpRequest(method="POST", path="/tasks", json={}, paid=True))
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


@pytest.mark.parametrize(
    ("behaviour", "timeouts", "cause"),
    [
        pytest.param(close_at_once, FAST, aiohttp.ServerDisconnectedError, id="closed"),
        pytest.param(never_answer, FAST, aiohttp.SocketTimeoutError, id="read-timeout"),
        pytest.param(
            never_answer, Timeouts(connect=1, read=None, total=0.05), TimeoutError, id="total"
        ),
        pytest.param(truncated_body, FAST, aiohttp.ClientPayloadError, id="truncated"),
        pytest.param(reset, FAST, aiohttp.ClientOSError, id="reset"),
    ],
)
async def test_failures_after_sending_are_outcome_unknown(
    behaviour: Behaviour, timeouts: Timeouts, cause: type[BaseException]
) -> None:
    """Once the request went out, any failure means the outcome is unknown."""
    async with raw_server(behaviour) as base, transport_for(base) as transport:
        request = HttpRequest(method="POST", path="/tasks", json={"p": 1}, paid=True)
        with pytest.raises(OutcomeUnknown) as info:
            await transport.send(request, timeouts=timeouts)
    assert isinstance(info.value.__cause__, cause)
    assert not isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
    if cause is TimeoutError:  # the total timeout, not the read timeout (also a TimeoutError)
        assert type(info.value.__cause__) is TimeoutError


async def test_an_answer_that_is_not_http_is_outcome_unknown_without_the_request() -> None:
    """aiohttp's ClientResponseError holds the request headers, key included: the mapped
    error is OutcomeUnknown and neither chains nor shows it."""
    async with raw_server(garbage_answer) as base, transport_for(base) as transport:
        request = HttpRequest(method="POST", path="/tasks", json={"p": 1}, paid=True)
        with pytest.raises(OutcomeUnknown) as info:
            await transport.send(request)
    error = info.value
    assert error.__cause__ is None
    assert error.__suppress_context__
    hidden = error.__context__
    assert isinstance(hidden, aiohttp.ClientResponseError)
    assert hidden.request_info.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(error)


# -- lifecycle and secrets ---------------------------------------------------------------------


async def test_session_lifecycle(api: tuple[Recorder, str]) -> None:
    """Own session closed by aclose; a passed-in session is left open; closed means closed."""
    _, base = api
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(base, session=session)
        await transport.send(HttpRequest(method="GET", path="/x"))
        await transport.aclose()
        assert not session.closed
    transport = AiohttpTransport(base)
    async with transport:
        await transport.send(HttpRequest(method="GET", path="/x"))
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(HttpRequest(method="GET", path="/x"))
    await transport.aclose()  # idempotent


@pytest.mark.parametrize(
    "base", ["ftp://host/x", "https:///nohost", "https://h/x?key=1", "https://h/x#frag"]
)
def test_bad_base_urls_are_refused(base: str) -> None:
    """Only plain http(s)://host[/path] base URLs are accepted."""
    with pytest.raises(ConfigurationError):
        AiohttpTransport(base)


def test_timeouts_validate() -> None:
    """Timeouts must be positive or None."""
    assert client_timeout(Timeouts(connect=None, read=None, total=None)).total is None
    with pytest.raises(ValueError, match="read"):
        Timeouts(read=0)


async def test_api_key_canary_never_escapes(
    api: tuple[Recorder, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The key reaches the API host and nothing else: no repr, error or log line holds it."""
    caplog.set_level(logging.DEBUG)
    recorder, base = api
    errors: list[BaseException] = []
    async with transport_for(base) as transport:
        assert KEY not in repr(transport)
        await transport.send(HttpRequest(method="POST", path="/ok", json={}))
        assert recorder.hits[0]["headers"]["authorization"] == f"Bearer {KEY}"
        for behaviour in (close_at_once, truncated_body, never_answer):
            async with raw_server(behaviour) as raw:
                with pytest.raises(ProviderError) as info:
                    await transport.send(HttpRequest(method="GET", path=raw + "/t"))
                errors.append(info.value)
    async with transport_for(refused_url()) as transport:
        with pytest.raises(RequestNotSent) as refused:
            await transport.send(HttpRequest(method="GET", path="/t"))
        errors.append(refused.value)
        assert KEY not in repr(transport)
    # An answer that is not HTTP, from the API host itself: aiohttp's error holds the key.
    async with raw_server(garbage_answer) as raw, transport_for(raw) as transport:
        with pytest.raises(OutcomeUnknown) as bad:
            await transport.send(HttpRequest(method="GET", path="/t"))
        errors.append(bad.value)
    for error in errors:
        chain: list[BaseException] = [error]
        if error.__cause__ is not None:
            chain.append(error.__cause__)
        if error.__context__ is not None and not error.__suppress_context__:
            chain.append(error.__context__)
        for exc in chain:
            assert KEY not in str(exc)
            assert KEY not in repr(exc)
    assert caplog.records, "the transport logs at DEBUG"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
