"""Downloads that survive storage faults: retries with backoff, Range resume, length checks,
fresh URLs for expired ones. The storage server here follows a script, one step per request."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from seedance_async.core._errors import (
    DownloadIncomplete,
    ProviderRejected,
    ProviderUnavailable,
    ResultExpired,
)
from seedance_async.policy import RetryPolicy
from seedance_async.simulator._http import abort_connection
from seedance_async.transport._download import MAX_REFRESHES, download
from seedance_async.transport._part_file import part_name

DATA = os.urandom(200_000)
ETAG = '"v1"'
EXPIRED_XML = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=10.0)


class SleepLog:
    """A clock whose sleeps return at once and are written down."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return sum(self.sleeps)

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def call_at(self, when: float, callback: Callable[[], object]) -> Any:
        raise NotImplementedError


class Scripted:
    """Object storage that serves ``DATA`` (honouring ``Range``) and fails as scripted.

    Steps: ``ok``; ``503``; ``418``; ``expired`` (403 XML); ``cut:N`` (announce the whole
    answer, send N bytes, close); ``short`` (a well-formed answer with half the body and a
    matching Content-Length); ``whole`` (ignore Range: 200 with everything); ``from:N``
    (206 starting at N whatever was asked).
    """

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.hits: list[dict[str, str | None]] = []
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.get)

    async def get(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(
            {
                "range": request.headers.get("Range"),
                "if_range": request.headers.get("If-Range"),
                "query": request.query_string,
                "authorization": request.headers.get("Authorization"),
            }
        )
        step = self.script.pop(0) if self.script else "ok"
        if step == "503":
            return web.Response(status=503, text="busy")
        if step == "418":
            return web.Response(status=418, text="no")
        if step == "expired":
            return web.Response(status=403, body=EXPIRED_XML, content_type="application/xml")
        headers = {"ETag": ETAG, "Accept-Ranges": "bytes", "Content-Type": "video/mp4"}
        asked = request.headers.get("Range")
        status, body = 200, DATA
        if asked and step != "whole":
            first = int(asked.removeprefix("bytes=").split("-")[0])
            if step.startswith("from:"):
                first = int(step.removeprefix("from:"))
            if first >= len(DATA):
                headers["Content-Range"] = f"bytes */{len(DATA)}"
                return web.Response(status=416, headers=headers)
            status, body = 206, DATA[first:]
            headers["Content-Range"] = f"bytes {first}-{len(DATA) - 1}/{len(DATA)}"
        if step.startswith("cut:"):
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: int(step.removeprefix("cut:"))])
            abort_connection(request, rst=False)
            return response
        if step == "short":
            return web.Response(status=status, body=body[: len(body) // 2], headers=headers)
        return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _get(
    store: Scripted,
    dest: Path,
    session: aiohttp.ClientSession,
    clock: SleepLog | None = None,
    **options: Any,
) -> Any:
    async with TestServer(store.app, host="127.0.0.1") as server:
        url = str(server.make_url("/video.mp4")) + "?sig=abc&expires=1"
        options.setdefault("retry", POLICY)
        return await download(
            url, dest, session=session, clock=clock or SleepLog(), random=lambda: 0.5, **options
        )


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_503s_are_retried_with_exponential_backoff_and_jitter(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Two 503s, then the file: three requests, waits of jitter * base * 2**n."""
    store, clock = Scripted("503", "503", "ok"), SleepLog()
    result = await _get(store, tmp_path / "v.mp4", session, clock)
    assert result.attempts == 3
    assert (tmp_path / "v.mp4").read_bytes() == DATA
    assert clock.sleeps == [0.5 * 1.0, 0.5 * 2.0]  # random() = 0.5 of the capped backoff
    assert _names(tmp_path) == ["v.mp4"]
    assert all(hit["authorization"] is None for hit in store.hits)


async def test_attempts_are_bounded_and_end_in_a_typed_error(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Storage that stays down: max_attempts requests, then ProviderUnavailable."""
    store, clock = Scripted(*["503"] * 10), SleepLog()
    with pytest.raises(ProviderUnavailable):
        await _get(store, tmp_path / "v.mp4", session, clock)
    assert len(store.hits) == POLICY.max_attempts
    assert len(clock.sleeps) == POLICY.max_attempts - 1
    assert _names(tmp_path) == []


async def test_a_refusal_is_not_retried(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """A 4xx other than an expiry cannot get better by asking again."""
    store = Scripted("418")
    with pytest.raises(ProviderRejected):
        await _get(store, tmp_path / "v.mp4", session)
    assert len(store.hits) == 1


async def test_a_cut_body_is_continued_from_where_it_stopped(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The second request asks for the rest only, and only of the same object (If-Range)."""
    store = Scripted("cut:70000", "ok")
    result = await _get(store, tmp_path / "v.mp4", session)
    assert (tmp_path / "v.mp4").read_bytes() == DATA
    assert result.size == len(DATA)
    assert [h["range"] for h in store.hits] == ["bytes=0-", "bytes=70000-"]
    assert [h["if_range"] for h in store.hits] == [None, ETAG]
    assert _names(tmp_path) == ["v.mp4"]


async def test_a_short_well_formed_answer_is_never_a_finished_file(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Half the body with a matching Content-Length: the Content-Range total exposes it."""
    with pytest.raises(DownloadIncomplete):
        await _get(
            Scripted("short"), tmp_path / "v.mp4", session, retry=RetryPolicy(max_attempts=1)
        )
    assert not (tmp_path / "v.mp4").exists()
    await _get(Scripted("short", "ok"), tmp_path / "v.mp4", session)
    assert (tmp_path / "v.mp4").read_bytes() == DATA


async def test_a_cut_answer_without_range_support_is_refused_by_its_length(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A server that ignores Range and cuts the body: Content-Length gives it away."""
    with pytest.raises(DownloadIncomplete):
        await _get(
            Scripted("cut:1000"), tmp_path / "v.mp4", session, retry=RetryPolicy(max_attempts=1)
        )
    assert not (tmp_path / "v.mp4").exists()


async def test_a_partial_file_of_an_earlier_download_is_continued(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """One request for the missing bytes only; the partial file becomes the video."""
    store = Scripted("ok")
    async with TestServer(store.app, host="127.0.0.1") as server:
        dest = tmp_path / "v.mp4"
        part = part_name(dest, f"127.0.0.1:{server.port}/video.mp4")
        part.write_bytes(DATA[:120_000])
        url = str(server.make_url("/video.mp4")) + "?sig=fresh"
        result = await download(url, dest, session=session)
    assert dest.read_bytes() == DATA
    assert result.attempts == 1
    assert [h["range"] for h in store.hits] == ["bytes=120000-"]
    assert not part.exists()


@pytest.mark.parametrize("step", ["whole", "from:0"])
async def test_a_range_not_honoured_restarts_from_zero(
    step: str, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """200 with everything, or a 206 from elsewhere: the bytes held are dropped, not spliced."""
    store = Scripted(step)
    async with TestServer(store.app, host="127.0.0.1") as server:
        dest = tmp_path / "v.mp4"
        part = part_name(dest, f"127.0.0.1:{server.port}/video.mp4")
        part.write_bytes(b"\0" * 50_000)  # not the object's bytes: must not survive
        await download(str(server.make_url("/video.mp4")), dest, session=session)
    assert dest.read_bytes() == DATA
    assert store.hits[0]["range"] == "bytes=50000-"
    assert _names(tmp_path) == ["v.mp4"]


async def test_a_whole_partial_file_is_finished_on_416(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Killed between the last byte and the rename: the server says there is nothing more."""
    store = Scripted()
    async with TestServer(store.app, host="127.0.0.1") as server:
        dest = tmp_path / "v.mp4"
        part_name(dest, f"127.0.0.1:{server.port}/video.mp4").write_bytes(DATA)
        result = await download(str(server.make_url("/video.mp4")), dest, session=session)
    assert dest.read_bytes() == DATA
    assert result.attempts == 1
    assert _names(tmp_path) == ["v.mp4"]


async def test_an_expired_url_is_refreshed_and_the_bytes_held_are_kept(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Cut, then expired: a fresh URL of the same object continues from the byte held."""
    store = Scripted("cut:30000", "expired", "ok")
    asked: list[int] = []

    async with TestServer(store.app, host="127.0.0.1") as server:

        async def refresh() -> str:
            asked.append(1)
            return str(server.make_url("/video.mp4")) + "?sig=fresh"

        url = str(server.make_url("/video.mp4")) + "?sig=old"
        await download(
            url,
            tmp_path / "v.mp4",
            session=session,
            refresh=refresh,
            retry=POLICY,
            clock=SleepLog(),
        )
    assert (tmp_path / "v.mp4").read_bytes() == DATA
    assert asked == [1]
    assert [(h["query"], h["range"]) for h in store.hits] == [
        ("sig=old", "bytes=0-"),
        ("sig=old", "bytes=30000-"),
        ("sig=fresh", "bytes=30000-"),
    ]


@pytest.mark.parametrize("fresh", [None, "same", "always-expired"])
async def test_an_expiry_no_fresh_url_cures_is_result_expired(
    fresh: str | None, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """No URL, the same URL, or fresh URLs that expire too: ResultExpired, boundedly."""
    store = Scripted(*["expired"] * 10)
    calls: list[int] = []
    async with TestServer(store.app, host="127.0.0.1") as server:
        url = str(server.make_url("/video.mp4")) + "?sig=old"

        async def refresh() -> str | None:
            calls.append(1)
            if fresh is None:
                return None
            return url if fresh == "same" else f"{url}&n={len(calls)}"

        with pytest.raises(ResultExpired):
            await download(url, tmp_path / "v.mp4", session=session, refresh=refresh)
    assert len(calls) == (MAX_REFRESHES if fresh == "always-expired" else 1)
    assert len(store.hits) == len(calls) + (fresh == "always-expired")
    assert _names(tmp_path) == []


async def test_success_removes_stale_partial_files_beside_the_destination(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A partial file of another URL path or a killed old download goes once dest is whole."""
    for stale in (".v.mp4.k1ll3d.part", ".v.mp4.0123456789ab.part"):
        (tmp_path / stale).write_bytes(b"old")
    (tmp_path / ".other.mp4.0123456789ab.part").write_bytes(b"someone else's")
    await _get(Scripted(), tmp_path / "v.mp4", session)
    assert _names(tmp_path) == [".other.mp4.0123456789ab.part", "v.mp4"]


async def test_two_downloads_of_one_destination_at_once_both_end_whole(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The second cannot take the locked partial file: it uses a private one."""
    store = Scripted()
    async with TestServer(store.app, host="127.0.0.1") as server:
        url = str(server.make_url("/video.mp4"))
        dest = tmp_path / "v.mp4"
        results = await asyncio.gather(
            download(url, dest, session=session), download(url, dest, session=session)
        )
    assert [r.size for r in results] == [len(DATA)] * 2
    assert dest.read_bytes() == DATA
    assert _names(tmp_path) == ["v.mp4"]
