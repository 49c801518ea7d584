"""The receiver as aiohttp routes, a sub-application, and an access logger that hides tokens."""

from __future__ import annotations

import re

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger

from seedance_async.callbacks._receiver import Answer, CallbackReceiver, Foreign

__all__ = ["RedactingAccessLogger", "callback_app", "callback_routes", "redact_path"]

_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{22,}")


def redact_path(path: str) -> str:
    """``path`` with every segment that could be a callback token replaced by ``***``."""
    return "/".join(_TOKEN_LIKE.sub("***", segment) for segment in path.split("/"))


class RedactingAccessLogger(AbstractAccessLogger):
    """An aiohttp access logger that never writes a callback token (nor any query string).

    aiohttp's default access log writes each request's path, and a callback URL's path is
    its secret. :class:`CallbackServer` uses this one; pass it to your own runner when you
    mount the receiver (``web.run_app(app, access_log_class=RedactingAccessLogger)``).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line: peer, method, redacted path, status, seconds taken."""
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            redact_path(request.rel_url.path),
            response.status,
            time,
        )


def _respond(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status,
        body=answer.body,
        content_type="application/json",
        headers=dict(answer.headers),
    )


async def _read_at_most(request: web.Request, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of the body: enough to tell it is too large."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def callback_routes(receiver: CallbackReceiver, *, path: str = "") -> list[web.RouteDef]:
    """``POST {path}/{token}`` for ``app.add_routes(...)`` in your own aiohttp app.

    Args:
        receiver: the receiver the requests go to.
        path: the prefix in front of the token (``/hooks/seedance``), "" for none. The
            receiver's public URL must lead here.
    """
    prefix = "/" + path.strip("/") if path.strip("/") else ""

    async def handle(request: web.Request) -> web.Response:
        source = request.remote or ""
        admitted = receiver.admit(
            request.match_info["token"],
            source=source,
            content_type=request.headers.get(hdrs.CONTENT_TYPE),
            content_length=request.content_length,
        )
        if isinstance(admitted, Answer):
            return _respond(admitted)
        if isinstance(admitted, Foreign):
            answer = await receiver.relay_foreign(
                admitted,
                lambda: _read_at_most(request, receiver.limits.max_body),
                source=source,
                content_type=request.headers.get(hdrs.CONTENT_TYPE),
                content_length=request.content_length,
            )
            assert answer is not None  # aiohttp's reader never reports a vanished client
            return _respond(answer)
        body = await _read_at_most(request, receiver.limits.max_body)
        return _respond(receiver.accept(admitted, body, source=source))

    return [web.post(prefix + "/{token}", handle)]


def callback_app(receiver: CallbackReceiver) -> web.Application:
    """An aiohttp application answering ``POST /{token}``: ``parent.add_subapp(prefix, it)``.

    Mounted at ``/hooks``, the receiver's public URL is ``https://<your host>/hooks``.
    """
    app = web.Application(client_max_size=receiver.limits.max_body + 1)
    app.add_routes(callback_routes(receiver))
    return app
