"""Result download from presigned URLs on a loopback storage server."""

from __future__ import annotations

import asyncio
import os
import stat
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import (
    ConfigurationError,
    DownloadIncomplete,
    DownloadWriteError,
    MalformedResponse,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    ResultExpired,
)
from seedance_async.policy import RetryPolicy
from seedance_async.testing import settle
from seedance_async.transport._download import DownloadResult, download
from tests.transport.test_aiohttp import raw_server, refused_url, truncated_body

VIDEO = os.urandom(300_000)
SIGNATURE = "X-Tos-Signature=ab%2Fcd%3D&X-Tos-Expires=86400"
FAST = Timeouts(connect=1.0, read=1.0, total=5.0)
ONCE = RetryPolicy(max_attempts=1)  # these tests are about one request; retries have their own
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message><RequestId>r-1</RequestId></Error>"
)


class Storage:
    """A presigned-URL object store: records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.get)

    async def get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(
            {
                "name": name,
                "raw_path": request.raw_path,
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        if name == "video.mp4":
            return web.Response(body=VIDEO, content_type="video/mp4")
        if name == "moved.mp4":
            raise web.HTTPFound("/video.mp4")
        if name == "expired.mp4":
            return web.Response(status=403, body=EXPIRED_XML, content_type="application/xml")
        if name == "expired400.mp4":
            return web.Response(status=400, body=EXPIRED_XML, content_type="application/xml")
        if name == "busy.mp4":
            return web.Response(status=503, text="busy")
        if name == "slow.mp4":
            return web.Response(status=429, headers={"Retry-After": "7"})
        if name == "teapot.mp4":
            return web.Response(status=418, text="no")
        return web.Response(status=404)


@pytest.fixture
async def storage() -> AsyncIterator[tuple[Storage, str]]:
    """A storage server on loopback and its base URL."""
    store = Storage()
    async with TestServer(store.app, host="127.0.0.1") as server:
        yield store, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain session without credentials, as the client keeps for downloads."""
    async with aiohttp.ClientSession() as s:
        yield s


def _leftovers(directory: Path, keep: str = "") -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


async def test_success_writes_atomically_without_credentials(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The file lands complete at dest, no temp file remains, and no credential is sent."""
    store, base = storage
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"old content")  # replaced in one step
    result = await download(
        f"{base}/video.mp4?{SIGNATURE}",
        dest,
        session=session,
        timeouts=FAST,
        expected_size=len(VIDEO),
    )
    assert result == DownloadResult(path=dest, size=len(VIDEO), content_type="video/mp4")
    assert dest.read_bytes() == VIDEO
    assert _leftovers(tmp_path) == ["out.mp4"]
    hit = store.hits[0]
    assert "authorization" not in hit["headers"]
    assert hit["headers"]["accept-encoding"] == "identity"
    # The signature is used byte for byte: re-encoding would invalidate it.
    assert hit["raw_path"] == f"/video.mp4?{SIGNATURE}"


async def test_redirects_are_followed_still_without_credentials(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A CDN redirect is followed; neither hop sees an Authorization header."""
    store, base = storage
    result = await download(f"{base}/moved.mp4", tmp_path / "v.mp4", session=session)
    assert result.size == len(VIDEO)
    assert [h["name"] for h in store.hits] == ["moved.mp4", "video.mp4"]
    assert all("authorization" not in h["headers"] for h in store.hits)


async def test_truncated_body_raises_and_keeps_the_bytes_for_a_resume(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Fewer bytes than Content-Length: DownloadIncomplete, no file at dest; the bytes that
    arrived wait in the partial file for the next download to continue."""
    dest = tmp_path / "out.mp4"
    async with raw_server(truncated_body) as base:
        with pytest.raises(DownloadIncomplete):
            await download(f"{base}/v.mp4", dest, session=session, timeouts=FAST, retry=ONCE)
    [part] = _leftovers(tmp_path)
    assert part.startswith(".out.mp4.")
    assert part.endswith(".part")
    assert (tmp_path / part).read_bytes() == b'{"id": "cg'


async def test_expected_size_mismatch_raises_and_keeps_old_file(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A size other than the expected one is refused; an existing dest stays untouched."""
    _, base = storage
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous")
    with pytest.raises(DownloadIncomplete, match="expected size"):
        await download(
            f"{base}/video.mp4", dest, session=session, expected_size=len(VIDEO) + 1, retry=ONCE
        )
    assert dest.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == ["out.mp4"]


@pytest.mark.parametrize("name", ["expired.mp4", "expired400.mp4", "missing.mp4"])
async def test_expired_or_gone_is_result_expired(
    name: str, storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """403/404 and an XML AccessDenied '...expired' answer raise ResultExpired, without the query."""
    _, base = storage
    with pytest.raises(ResultExpired) as info:
        await download(f"{base}/{name}?{SIGNATURE}", tmp_path / "o.mp4", session=session)
    assert "X-Tos-Signature" not in str(info.value)
    assert "ab%2Fcd" not in repr(info.value)
    assert name in str(info.value)
    assert _leftovers(tmp_path) == []


async def test_expired_xml_fields_are_parsed(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The storage code and message are kept on the error."""
    _, base = storage
    with pytest.raises(ResultExpired) as info:
        await download(f"{base}/expired.mp4", tmp_path / "o.mp4", session=session)
    assert info.value.status == 403
    assert info.value.code == "AccessDenied"
    assert info.value.provider_message == "Request has expired"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("busy.mp4", ProviderUnavailable),
        ("slow.mp4", RateLimited),
        ("teapot.mp4", ProviderRejected),
    ],
)
async def test_other_answers_raise_typed_errors(
    name: str,
    error: type[Exception],
    storage: tuple[Storage, str],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    """5xx, 429 and other statuses map to the shared error classes."""
    _, base = storage
    with pytest.raises(error) as info:
        await download(f"{base}/{name}", tmp_path / "o.mp4", session=session, retry=ONCE)
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 7.0
    assert _leftovers(tmp_path) == []


async def test_max_bytes_is_enforced(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A file larger than max_bytes is refused before anything is written."""
    _, base = storage
    with pytest.raises(MalformedResponse, match="max_bytes"):
        await download(f"{base}/video.mp4", tmp_path / "o.mp4", session=session, max_bytes=1000)
    assert _leftovers(tmp_path) == []


async def test_connection_refused_is_request_not_sent(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The shared transport mapping applies to downloads too."""
    with pytest.raises(RequestNotSent):
        await download(f"{refused_url()}/v.mp4", tmp_path / "o.mp4", session=session, retry=ONCE)


async def test_session_with_credentials_is_refused(tmp_path: Path) -> None:
    """A session with a default Authorization header would leak the key to storage."""
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-CANARY-123"}) as s:
        with pytest.raises(ConfigurationError, match="credentials"):
            await download("https://storage.example/v.mp4", tmp_path / "o.mp4", session=s)
    with warnings.catch_warnings():  # aiohttp 3.14 deprecates auth=, which still works
        warnings.simplefilter("ignore", DeprecationWarning)
        basic = aiohttp.ClientSession(auth=aiohttp.BasicAuth("u", "p"))
    async with basic as s:
        with pytest.raises(ConfigurationError):
            await download("https://storage.example/v.mp4", tmp_path / "o.mp4", session=s)


async def test_non_http_url_is_refused(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """Only http(s) URLs are downloaded."""
    with pytest.raises(ConfigurationError):
        await download("file:///etc/passwd", tmp_path / "o.mp4", session=session)


async def test_cancellation_mid_body_leaves_only_the_partial_file(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Cancelling while the body streams leaves nothing at dest; what arrived is kept."""
    sent = asyncio.Event()

    async def partial(request: bytes, writer: asyncio.StreamWriter, release: asyncio.Event) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        sent.set()
        await release.wait()

    async with raw_server(partial) as base:
        task = asyncio.create_task(
            download(f"{base}/v.mp4", tmp_path / "o.mp4", session=session, timeouts=FAST)
        )
        await sent.wait()
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not (tmp_path / "o.mp4").exists()
    for name in _leftovers(tmp_path):  # none when the cancel came before the first chunk
        assert name.startswith(".o.mp4.")
        assert name.endswith(".part")
        assert (tmp_path / name).read_bytes() == b"x" * 1000


async def test_a_missing_folder_is_created(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A destination in folders that do not exist yet lands there (parents created)."""
    _, base = storage
    dest = tmp_path / "videos" / "2024" / "o.mp4"
    result = await download(f"{base}/video.mp4", dest, session=session)
    assert result.path == dest
    assert dest.read_bytes() == VIDEO
    assert _leftovers(dest.parent, keep="o.mp4") == []


async def test_an_unwritable_destination_is_a_typed_error_naming_it(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A folder that cannot be made: DownloadWriteError (still an OSError), before any GET."""
    store, base = storage
    (tmp_path / "taken").write_text("a file, not a folder")
    dest = tmp_path / "taken" / "o.mp4"
    with pytest.raises(DownloadWriteError) as caught:
        await download(f"{base}/video.mp4", dest, session=session)
    assert isinstance(caught.value, OSError)
    assert caught.value.path == str(dest)
    assert caught.value.reason
    assert str(dest) in str(caught.value)
    assert store.hits == []  # nothing was fetched for a file that could not be kept


async def test_a_failure_while_writing_names_the_destination_not_the_temporary_file(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The rename onto a folder fails: the error is about dest, and no .part file remains."""
    _, base = storage
    dest = tmp_path / "o.mp4"
    dest.mkdir()
    with pytest.raises(DownloadWriteError) as caught:
        await download(f"{base}/video.mp4", dest, session=session)
    assert caught.value.path == str(dest)
    assert ".part" not in str(caught.value)
    assert _leftovers(tmp_path) == ["o.mp4"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
async def test_the_file_gets_the_users_umask_permissions(
    storage: tuple[Storage, str], session: aiohttp.ClientSession, tmp_path: Path, umask: int
) -> None:
    """Not the 0600 of a private temporary file: 0666 less the umask, as any new file."""
    _, base = storage
    old = os.umask(umask)
    try:
        result = await download(f"{base}/video.mp4", tmp_path / "o.mp4", session=session)
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o666 & ~umask
