"""The receiver as a plain ASGI 3 application, for Starlette, FastAPI or any ASGI server.

No framework is imported: the application speaks the ASGI protocol itself, so mounting it
costs no dependency::

    app.mount("/hooks", CallbackAsgiApp(receiver))      # Starlette / FastAPI

The token is the last segment of the request path, so the mount prefix does not matter
(Starlette versions differ in how they pass it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from seedance_async.callbacks._receiver import Answer, CallbackReceiver, Foreign

__all__ = ["CallbackAsgiApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_METHOD_NOT_ALLOWED = Answer(405, b'{"error":"method not allowed"}', (("Allow", "POST"),))


class CallbackAsgiApp:
    """An ASGI application that feeds ``POST .../{token}`` requests to a receiver.

    Args:
        receiver: the receiver the requests go to.

    ASGI servers write access logs with the request path, which carries the token: turn
    the server's access log off, or filter it, where the receiver is mounted.
    """

    def __init__(self, receiver: CallbackReceiver) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"CallbackAsgiApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (``http``; ``lifespan`` is acknowledged)."""
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope.get("method") != "POST":
            await _respond(send, _METHOD_NOT_ALLOWED)
            return
        headers = _headers(scope)
        client = scope.get("client")
        source = str(client[0]) if client else ""
        token = str(scope.get("path", "")).rsplit("/", 1)[-1]
        admitted = self.receiver.admit(
            token,
            source=source,
            content_type=headers.get("content-type"),
            content_length=_int_or_none(headers.get("content-length")),
        )
        if isinstance(admitted, Answer):
            await _respond(send, admitted)
            return
        if isinstance(admitted, Foreign):
            answer = await self.receiver.relay_foreign(
                admitted,
                lambda: _read_at_most(receive, self.receiver.limits.max_body),
                source=source,
                content_type=headers.get("content-type"),
                content_length=_int_or_none(headers.get("content-length")),
            )
            if answer is not None:
                await _respond(send, answer)
            return
        body = await _read_at_most(receive, self.receiver.limits.max_body)
        if body is None:
            return  # the client went away: nobody to answer
        await _respond(send, self.receiver.accept(admitted, body, source=source))


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out[bytes(name).decode("latin-1").lower()] = bytes(value).decode("latin-1")
    return out


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return int(text)


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """Up to ``limit + 1`` bytes of the body, or None if the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Send, answer: Answer) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(answer.body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in answer.headers),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to start or stop: the receiver lives as long as its owner keeps it.
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
