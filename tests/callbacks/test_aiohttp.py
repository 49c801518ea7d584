"""The receiver behind real aiohttp: refusals, limits, flood, and the token kept out of logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from seedance_async.callbacks import (
    CallbackReceiver,
    CallbackToken,
    RedactingAccessLogger,
    callback_app,
    callback_routes,
    redact_path,
)
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec import TaskState
from seedance_async.testing import FakeClock
from tests.callbacks._helpers import JSON, ark_body, encode, make_receiver

ARK = ArkAdapter()


async def serve(receiver: CallbackReceiver, prefix: str = "/hooks") -> TestClient[Any, Any]:
    """The receiver mounted as a sub-app of an app that has other routes too."""
    app = web.Application()

    async def home(_: web.Request) -> web.Response:
        return web.Response(text="the user's own app")

    app.router.add_get("/", home)
    app.add_subapp(prefix, callback_app(receiver))
    # As the README asks of an app that mounts the receiver: aiohttp's own access log
    # writes request paths, and a callback path is its secret.
    server = TestServer(app)
    await server.start_server(access_log_class=RedactingAccessLogger)
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    return client


@pytest.fixture
async def setup() -> AsyncIterator[tuple[CallbackReceiver, FakeClock, TestClient[Any, Any]]]:
    receiver, clock = make_receiver(max_body=4096, burst=20, rate=10.0)
    client = await serve(receiver)
    try:
        yield receiver, clock, client
    finally:
        await client.close()


Setup = tuple[CallbackReceiver, FakeClock, TestClient[Any, Any]]


async def post(
    client: TestClient[Any, Any], token: CallbackToken | str, body: Any, **kwargs: Any
) -> aiohttp.ClientResponse:
    text = token.reveal() if isinstance(token, CallbackToken) else token
    kwargs.setdefault("headers", JSON)
    data = body if isinstance(body, bytes) else encode(body)
    response = await client.post(f"/hooks/{text}", data=data, **kwargs)
    await response.read()
    return response


async def test_a_callback_is_acknowledged_then_read(setup: Setup) -> None:
    """200 at once with a small JSON body; the hint appears when the queue is read."""
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    response = await post(client, token, ark_body())
    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert receiver.queued == 1
    hint = await receiver.next_hint()
    assert (hint.key, hint.provider, hint.claimed) == ("k1", "ark", TaskState.SUCCEEDED)
    assert (receiver.stats.received, receiver.stats.acknowledged) == (1, 1)
    assert (await client.get("/")).status == 200  # the user's app is untouched


async def test_an_unknown_token_is_404_and_changes_nothing() -> None:
    receiver, _ = make_receiver()
    client = await serve(receiver)
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    try:
        text = token.reveal()
        near = text[:-1] + ("A" if text[-1] != "A" else "B")  # one character off
        for guess in (CallbackToken.new(), "short", near):
            response = await post(client, guess, ark_body())
            assert response.status == 404
            assert (await response.json()) == {"error": "not found"}
    finally:
        await client.close()
    assert receiver.queued == 0
    assert receiver.drain() == []
    assert receiver.stats.rejected == {"unknown_token": 3}
    assert receiver.stats.acknowledged == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"]
)
async def test_only_json_is_accepted(setup: Setup, content_type: str) -> None:
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        f"/hooks/{token.reveal()}", data=encode(ark_body()), headers=headers
    )
    assert response.status == 415
    assert receiver.stats.rejected == {"content_type": 1}
    assert receiver.queued == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd+json"]
)
async def test_json_content_types_with_parameters_pass(setup: Setup, content_type: str) -> None:
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    response = await post(client, token, ark_body(), headers={"Content-Type": content_type})
    assert response.status == 200


async def test_an_oversized_body_is_413_declared_or_streamed(setup: Setup) -> None:
    """A Content-Length over the limit, and a chunked body that grows past it."""
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    big = b'{"pad": "' + b"x" * 5000 + b'"}'
    assert (await post(client, token, big)).status == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post(f"/hooks/{token.reveal()}", data=chunks(), headers=JSON)
    assert response.status == 413
    just_fits = encode({"id": "cgt-1", "status": "succeeded", "pad": "x" * 4000})[:4096]
    assert (await post(client, token, just_fits)).status == 200
    assert receiver.stats.rejected == {"too_large": 2}


async def test_a_flood_from_one_source_is_throttled(setup: Setup) -> None:
    """burst 20 at 10/s: the 21st request in the same instant is 429, later ones pass."""
    receiver, clock, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    statuses = [(await post(client, token, ark_body())).status for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    limited = await post(client, token, ark_body())
    assert limited.headers["Retry-After"] == "1"
    clock.advance(0.1)
    assert (await post(client, token, ark_body())).status == 200
    assert len(receiver.drain()) == 1  # 21 copies of one notice: one confirmation


async def test_guessing_tokens_is_throttled_ten_times_harder(setup: Setup) -> None:
    """Each unknown token costs 10 of the 20-request burst: the third guess is 429."""
    receiver, _, client = setup
    statuses = [(await post(client, CallbackToken.new(), {})).status for _ in range(3)]
    assert statuses == [404, 404, 429]
    assert receiver.stats.rejected == {"unknown_token": 2, "rate_limited": 1}


async def test_a_full_queue_answers_503_so_final_notices_are_resent() -> None:
    receiver, _ = make_receiver(queue_items=2)
    client = await serve(receiver)
    try:
        token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
        statuses = [(await post(client, token, ark_body())).status for _ in range(3)]
        assert statuses == [200, 200, 503]
        receiver.drain()
        assert (await post(client, token, ark_body())).status == 200
        receiver.close()
        assert (await post(client, token, ark_body())).status == 503
    finally:
        await client.close()
    assert receiver.stats.rejected == {"overloaded": 2}


async def test_other_methods_are_405(setup: Setup) -> None:
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    response = await client.get(f"/hooks/{token.reveal()}")
    assert response.status == 405
    assert receiver.stats.received == 0


async def test_routes_mount_under_a_prefix_in_the_users_app() -> None:
    """``app.add_routes(callback_routes(receiver, path=...))`` instead of a sub-app."""
    receiver, _ = make_receiver()
    app = web.Application()
    app.add_routes(callback_routes(receiver, path="/x/y/"))
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
        url = f"/x/y/{token.reveal()}"
        response = await client.post(url, data=encode(ark_body()), headers=JSON)
        assert response.status == 200
    finally:
        await client.close()
    assert len(receiver.drain()) == 1


async def test_hints_iterate_until_close(setup: Setup) -> None:
    """``async for`` yields hints as they come and ends when the receiver is closed."""
    receiver, _, client = setup
    tokens = [
        receiver.register(f"k{n}", provider="ark", adapter=ARK, remote_id=f"cgt-{n}")
        for n in range(3)
    ]
    for n, token in enumerate(tokens):
        await post(client, token, ark_body(f"cgt-{n}"))
    seen = []
    async for hint in receiver.hints():
        seen.append(hint.key)
        if len(seen) == 3:
            receiver.close()
    assert seen == ["k0", "k1", "k2"]


async def test_the_token_never_reaches_a_log(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Every refusal logs at debug with the task key, never the token; the access logger
    that ships with the package masks it."""
    receiver, _, client = setup
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    secret = token.reveal()
    caplog.set_level(logging.DEBUG)
    await post(client, token, b"x" * 5000)
    await post(client, token, ark_body(), headers={"Content-Type": "text/plain"})
    await post(client, token, b"garbage")
    await post(client, token, ark_body(task_id="cgt-other"))
    receiver.drain()
    access = logging.getLogger("test.access")
    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    keep = Keep()
    access.addHandler(keep)
    access.setLevel(logging.INFO)
    request = make_mocked_request("POST", f"/hooks/{secret}?q={secret}")
    RedactingAccessLogger(access, "").log(request, web.Response(status=200), 0.001)
    access.removeHandler(keep)
    assert len(logged) == 1
    assert "/hooks/***" in logged[0]
    texts = [r.getMessage() for r in caplog.records] + logged
    texts += [repr(receiver), repr(receiver.registry), repr(receiver.stats)]
    assert any("k1" in t for t in texts)
    assert not [t for t in texts if secret in t]


def test_redact_path() -> None:
    token = CallbackToken.new().reveal()
    assert redact_path(f"/hooks/{token}") == "/hooks/***"
    assert redact_path("/hooks/short/") == "/hooks/short/"
