"""Low-level HTTP tricks for fault injection: cut a connection, send a short body, read JSON.

aiohttp writes a handler's response after the handler returns. When the transport is
already closed, that write raises a ``ConnectionError`` that aiohttp swallows as a "premature
client disconnection", which is exactly what an injected cut needs: no answer, no log noise.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["abort_connection", "read_json", "send_truncated"]


def abort_connection(request: web.Request, *, rst: bool) -> None:
    """Close the request's connection at once, with a TCP RST when ``rst`` (else a FIN)."""
    transport = request.transport
    if transport is None:
        return
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: closing sends a TCP RST instead of a FIN ("connection reset by peer").
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def send_truncated(
    request: web.Request, status: int, headers: Mapping[str, str], body: bytes
) -> web.StreamResponse:
    """Announce ``len(body) + 64`` bytes, send half of ``body``, then close the connection."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_type = "application/json"
    response.content_length = len(body) + 64
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write(body[: max(1, len(body) // 2)])
    abort_connection(request, rst=False)
    return response


async def read_json(request: web.Request) -> tuple[Any, bool]:
    """The request body decoded as JSON: (value, True), or (None, False) when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw), True
    except (ValueError, UnicodeDecodeError):
        return None, False
