"""The ASGI adapter, driven by hand as an ASGI server (Starlette or uvicorn) would drive it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from seedance_async.callbacks import CallbackAsgiApp, CallbackReceiver, CallbackToken
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec import TaskState
from tests.callbacks._helpers import ark_body, encode, make_receiver

ARK = ArkAdapter()


async def call(
    app: CallbackAsgiApp,
    *,
    path: str,
    chunks: Sequence[bytes] = (),
    method: str = "POST",
    headers: Sequence[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
    root_path: str = "",
    disconnect: bool = False,
) -> tuple[int | None, dict[str, str], bytes]:
    """One HTTP exchange: (status or None if nothing was sent, headers, body)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": list(headers),
        "client": ("203.0.113.7", 5555),
    }
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": n < len(chunks) - 1}
        for n, c in enumerate(chunks or [b""])
    ]
    if disconnect:
        incoming = incoming[:1]
        incoming[0]["more_body"] = True
        incoming.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    if not sent:
        return None, {}, b""
    start, body = sent
    assert start["type"] == "http.response.start"
    assert body["type"] == "http.response.body"
    heads = {k.decode(): v.decode() for k, v in start["headers"]}
    assert int(heads["content-length"]) == len(body["body"])
    return start["status"], heads, body["body"]


def setup() -> tuple[CallbackReceiver, CallbackToken, CallbackAsgiApp]:
    receiver, _ = make_receiver(max_body=1000)
    token = receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
    return receiver, token, CallbackAsgiApp(receiver)


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/{t}", ""),  # served at the root
        ("/hooks/{t}", "/hooks"),  # newer Starlette: full path, mount in root_path
        ("/{t}", "/hooks"),  # older Starlette: path below the mount
    ],
)
async def test_a_callback_is_acknowledged_mounted_anywhere(path: str, root_path: str) -> None:
    receiver, token, app = setup()
    status, headers, body = await call(
        app,
        path=path.format(t=token.reveal()),
        root_path=root_path,
        chunks=[encode(ark_body())[:10], encode(ark_body())[10:]],
    )
    assert (status, headers["content-type"], json.loads(body)) == (
        200,
        "application/json",
        {"ok": True},
    )
    (hint,) = receiver.drain()
    assert (hint.key, hint.claimed) == ("k1", TaskState.SUCCEEDED)


async def test_refusals() -> None:
    """Unknown token 404, wrong type 415, too large 413 (declared or streamed), GET 405."""
    receiver, token, app = setup()
    path = f"/{token.reveal()}"
    assert (await call(app, path=f"/{CallbackToken.new().reveal()}", chunks=[b"{}"]))[0] == 404
    plain = ((b"content-type", b"text/plain"),)
    assert (await call(app, path=path, headers=plain, chunks=[b"{}"]))[0] == 415
    declared = ((b"content-type", b"application/json"), (b"content-length", b"5000"))
    assert (await call(app, path=path, headers=declared, chunks=[b"{}"]))[0] == 413
    assert (await call(app, path=path, chunks=[b"x" * 600, b"x" * 600]))[0] == 413
    status, headers, _ = await call(app, path=path, method="GET")
    assert (status, headers["allow"]) == (405, "POST")
    odd = ((b"content-type", b"application/json"), (b"content-length", b"lots"))
    assert (await call(app, path=path, headers=odd, chunks=[encode(ark_body())]))[0] == 200
    assert receiver.stats.rejected == {"unknown_token": 1, "content_type": 1, "too_large": 2}


async def test_a_client_that_goes_away_gets_no_answer_and_queues_nothing() -> None:
    receiver, token, app = setup()
    status, _, _ = await call(app, path=f"/{token.reveal()}", chunks=[b"{"], disconnect=True)
    assert status is None
    assert receiver.queued == 0


async def test_lifespan_and_websocket_scopes() -> None:
    """Lifespan startup and shutdown are acknowledged; a websocket is closed."""
    _, _, app = setup()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    incoming[:] = [{"type": "websocket.connect"}]
    await app({"type": "websocket", "path": "/x"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
