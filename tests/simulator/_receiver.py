"""A loopback webhook endpoint for callback tests: records every POST, answers as told."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import attrs
from aiohttp import web


@attrs.frozen(kw_only=True)
class Post:
    """One request the receiver got."""

    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any


class Receiver:
    """An ``aiohttp.web`` app on 127.0.0.1 that records callbacks.

    ``answers`` is consumed one per request: an HTTP status, or None to never answer (the
    request waits until the receiver stops); when it is empty every request gets 200.
    """

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.answers: list[int | None] = []
        self._arrived = asyncio.Condition()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.posts.append(
            Post(
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        async with self._arrived:
            self._arrived.notify_all()
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            await self._release.wait()  # never answers while the test runs
            answer = 503
        return web.json_response({"ok": answer < 300}, status=answer)

    async def wait_for(self, count: int) -> list[Post]:
        """Wait (on arrivals, not on time) until ``count`` requests came in; a safety
        timeout of 10 s turns a hang into a failure."""
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.posts) >= count)
        return self.posts

    def statuses(self) -> list[str]:
        """The ``status`` of every body received, in arrival order."""
        return [str(p.body.get("status")) for p in self.posts]
