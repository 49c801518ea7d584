"""Downloading a finished video (or last frame) from its presigned URL: whole, or not at all.

Result URLs are presigned object-storage URLs valid for a limited time (24 h on Ark). The
rules a download follows:

* no API key goes with the request: the signature in the query is the credential, and the
  storage host is not the API host;
* the bytes go to a partial file beside the destination (:mod:`._part_file`), which becomes
  the destination in one rename once it is whole: a half-written file never appears there;
* every request asks for the bytes from where the partial file ends (``Range: bytes=N-``,
  ``bytes=0-`` for a new file): a storage host that honours it answers 206 with a
  ``Content-Range`` that names the start and the file's whole size. The start must be
  ``N``, else the bytes held are dropped and the file is fetched from its start (as when the
  host answers 200 with the whole file);
* the size is verified: a body shorter than its ``Content-Range`` total or its
  ``Content-Length`` (or than a size the caller expects) is :class:`DownloadIncomplete`,
  never a finished file;
* transient failures (5xx, 429, a reset or timeout, a cut body) are retried with capped
  exponential backoff and full jitter (:class:`RetryPolicy`), a bounded number of times;
  each retry continues from the bytes already held;
* an expired or deleted object (403/404/410, an "expired" storage error) is
  :class:`ResultExpired`; with a ``refresh`` function the download asks it for a fresh URL
  of the same result (the client queries the task again) and continues.

The destination's folder is created when missing. A destination that cannot be written is
a :class:`DownloadWriteError`. When a download fails for good, the partial file stays for a
later download of the same result (``seedance-async download`` resumes it), unless the
failure was local (a write error) or the file is refused (larger than ``max_bytes``).

The query string of a presigned URL is a secret; errors and logs show host and path only.
"""

from __future__ import annotations

import logging
import random as _random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import aiohttp
import anyio.to_thread
import attrs
from yarl import URL

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import (
    ConfigurationError,
    DownloadIncomplete,
    DownloadWriteError,
    MalformedResponse,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    ResultExpired,
    TransportError,
)
from seedance_async.core._wire import HttpResponse, parse_retry_after
from seedance_async.policy._retry import RetryPolicy
from seedance_async.transport._aiohttp import client_timeout, mapped_errors
from seedance_async.transport._part_file import PartFile

__all__ = [
    "DOWNLOAD_RETRY",
    "DOWNLOAD_TIMEOUTS",
    "DownloadResult",
    "RefreshUrl",
    "download",
]

logger = logging.getLogger("seedance_async.download")

DOWNLOAD_TIMEOUTS = Timeouts(connect=10.0, read=60.0, total=1800.0)
"""Videos are tens of megabytes: a generous total, a read timeout to catch stalls."""

DOWNLOAD_RETRY = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=20.0, max_retry_after=60.0)
"""Six attempts in all; each retry continues from the bytes already received."""

MAX_REFRESHES = 2
"""Fresh URLs asked for in one download: a second expiry in a row means the result is gone."""

RefreshUrl = Callable[[], Awaitable[str | None]]
"""Returns a fresh URL of the same result (None when the task has none any more)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")
_CHUNK = 1024 * 1024
_ERROR_BODY_LIMIT = 4096
# S3-compatible storage (TOS, the storage behind Ark result URLs, included) answers an expired
# signature with an XML error document such as
# <Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>.
_XML_CODE = re.compile(rb"<Code>\s*([A-Za-z0-9_.]+)\s*</Code>")
_XML_MESSAGE = re.compile(rb"<Message>\s*([^<]{0,300})</Message>")
_EXPIRED_CODES = frozenset({"ExpiredToken", "RequestExpired", "TokenExpired", "NoSuchKey"})
_EXPIRED_STATUSES = frozenset({403, 404, 410})
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$")


@attrs.frozen(kw_only=True)
class DownloadResult:
    """A completed download.

    Attributes:
        path: the destination, now holding the complete file.
        size: bytes in the file.
        content_type: the ``Content-Type`` the server sent, if any.
        attempts: requests it took (1 when nothing went wrong).
    """

    path: Path
    size: int
    content_type: str | None
    attempts: int = 1


def _check_session(session: aiohttp.ClientSession) -> None:
    # The caller may hand us a session built for the API; its default auth would leak the
    # key to the storage host.
    if "Authorization" in session.headers or session.auth is not None:
        raise ConfigurationError(
            "download session sends default credentials; use a session without auth headers"
        )


def _target(url: str) -> URL:
    # Used exactly as given: re-encoding the query would break the signature.
    target = URL(url, encoded=True)
    if target.scheme not in ("http", "https") or not target.host:
        raise ConfigurationError("download URL must be http(s)://host/path")
    return target


def _source(target: URL) -> str:
    # What names the object: not the query, which carries the signature and its expiry.
    return f"{target.host}:{target.port}{target.path}"


def _classify(
    status: int, body: bytes, headers: dict[str, str], what: str, provider: str
) -> ProviderError:
    code_match = _XML_CODE.search(body)
    code = code_match.group(1).decode() if code_match else None
    message_match = _XML_MESSAGE.search(body)
    message = message_match.group(1).decode(errors="replace").strip() if message_match else None

    def make(cls: type[ProviderError], text: str) -> ProviderError:
        return cls(
            f"{what}: {text}", provider=provider, status=status, code=code, provider_message=message
        )

    expired_text = b"expire" in body.lower()
    if (
        status in _EXPIRED_STATUSES
        or code in _EXPIRED_CODES
        or (code == "AccessDenied" and expired_text)
    ):
        return make(ResultExpired, "result URL expired or object gone")
    if status == 429:
        seconds, when = parse_retry_after(HttpResponse(status=status, headers=headers))
        return RateLimited(
            f"{what}: rate limited",
            retry_after=seconds,
            retry_at=when,
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
        )
    if status >= 500:
        return make(ProviderUnavailable, "storage unavailable")
    return make(ProviderRejected, "unexpected answer")


def _retryable(error: ProviderError) -> bool:
    # Failures of the moment: the same request may well succeed a little later.
    if isinstance(error, QuotaExhausted):
        return False
    if isinstance(error, RateLimited):
        return error.retryable
    return isinstance(error, TransportError | ProviderUnavailable)


class _LocalFileError(Exception):
    """Carries an OSError of the local disk past the network error mapping, unchanged."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _StartOver(Exception):
    """The bytes held were dropped (the server cannot continue them): ask again from 0."""


async def _disk(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    # Disk work runs off the event loop (a slow disk must not stall every request) and its
    # OSErrors are wrapped, because the network mapping would call them OutcomeUnknown.
    def call() -> _R:
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            raise _LocalFileError(exc) from exc

    return await anyio.to_thread.run_sync(call)


def _open_part(dest: Path, source: str) -> PartFile:
    # A download folder that does not exist yet is the common case (``Tracker(download_dir=
    # "videos")``, ``generate(path="out/v.mp4")``), not an error.
    dest.parent.mkdir(parents=True, exist_ok=True)
    return PartFile.open(dest, source)


def _write_error(dest: Path, exc: OSError) -> DownloadWriteError:
    reason = exc.strerror or str(exc)
    culprit = Path(str(exc.filename)) if exc.filename is not None else dest
    # Name another path only when it is the cause (a parent that is a file), never our
    # partial file: the user knows the destination, not ".v.mp4.1a2b3c4d5e6f.part".
    if culprit != dest and not culprit.name.startswith(f".{dest.name}."):
        reason = f"{reason}: {culprit}"
    return DownloadWriteError(str(dest), reason, errno=exc.errno)


@attrs.define
class _Exchange:
    """What one download learns across its requests."""

    what: str
    provider: str
    max_bytes: int | None
    expected_size: int | None
    etag: str | None = None
    content_type: str | None = None


async def download(
    url: str,
    dest: Path | str,
    *,
    session: aiohttp.ClientSession,
    timeouts: Timeouts | None = None,
    expected_size: int | None = None,
    max_bytes: int | None = 4 * 1024**3,
    provider: str = "",
    retry: RetryPolicy | None = None,
    refresh: RefreshUrl | None = None,
    clock: Clock | None = None,
    random: Callable[[], float] | None = None,
) -> DownloadResult:
    """Download ``url`` to ``dest``: whole and verified, resuming, without any credentials.

    Args:
        url: the presigned result URL, used exactly as given (no re-encoding, which would
            break the signature).
        dest: the destination file, replaced if it exists; its folder is created (parents
            too) when missing.
        session: the session to use; it must carry no default ``Authorization`` or auth.
        timeouts: limits of each request (default :data:`DOWNLOAD_TIMEOUTS`).
        expected_size: the size the caller knows the file has, checked in addition to what
            the server announces.
        max_bytes: refuse larger files (None: no limit).
        provider: name carried by raised errors.
        retry: attempts and backoff for transient failures (default :data:`DOWNLOAD_RETRY`;
            ``RetryPolicy(max_attempts=1)`` tries once).
        refresh: asked for a fresh URL of the same result when the storage answers that the
            URL expired or the object is gone (at most :data:`MAX_REFRESHES` times).
        clock: sleeps between attempts (default: the event loop's).
        random: the jitter's source of floats in [0, 1).

    Returns:
        The destination, its size, the content type and the number of requests.

    Raises:
        ResultExpired: 403/404/410 or an "expired" storage error, and no fresh URL helped.
        DownloadIncomplete: the body stayed short of its announced or expected size through
            every attempt.
        RequestNotSent / OutcomeUnknown: the connection failed on every attempt.
        RateLimited / ProviderUnavailable: 429 / 5xx on every attempt.
        ProviderRejected: another error answer (not retried).
        MalformedResponse: the file is larger than ``max_bytes``.
        ConfigurationError: the session carries credentials or the URL is not http(s).
        DownloadWriteError: the file could not be written locally (permissions, full disk,
            a path that is not a folder); also an :class:`OSError`.

    Nothing appears at ``dest`` unless the download succeeds. A retryable failure or a
    cancellation leaves the partial file (``.<name>.<hash>.part`` beside ``dest``) for the
    next download of the same result to continue.
    """
    _check_session(session)
    target = _target(url)
    dest = Path(dest)
    policy = retry or DOWNLOAD_RETRY
    sleeper = clock or SystemClock()
    jitter = random or _random.random
    limits = client_timeout(timeouts or DOWNLOAD_TIMEOUTS)
    try:
        # Before the request: a destination that cannot be written must not cost a download.
        part = await _disk(_open_part, dest, _source(target))
    except _LocalFileError as exc:
        raise _write_error(dest, exc.error) from exc.error
    keep = True
    try:
        failures = refreshes = requests = 0
        exchange = _Exchange(
            what="", provider=provider, max_bytes=max_bytes, expected_size=expected_size
        )
        while True:
            what = exchange.what = f"GET {target.host}{target.path}"
            requests += 1
            try:
                with mapped_errors(provider, what):
                    await _request(session, target, part, limits, exchange)
                break
            except _StartOver:
                continue
            except ResultExpired:
                if refresh is None or refreshes >= MAX_REFRESHES:
                    raise
                fresh = await refresh()
                if not fresh or fresh == url:
                    raise
                refreshes += 1
                url, fresh_target = fresh, _target(fresh)
                if _source(fresh_target) != _source(target):
                    # Another object path: its bytes go to its own partial file.
                    part.keep()
                    part = await _disk(_open_part, dest, _source(fresh_target))
                target = fresh_target
                logger.info("%s: the URL expired; continuing with a fresh one", what)
            except ProviderError as exc:
                if isinstance(exc, MalformedResponse):
                    keep = False  # refused for its size: nothing to continue
                delay = (
                    policy.decide(exc, failures, paid=False, now_wall=sleeper.wall(), random=jitter)
                    if _retryable(exc)
                    else None
                )
                if delay is None:
                    if failures:
                        exc.add_note(f"gave up after {requests} requests")
                    raise
                failures += 1
                logger.info(
                    "%s failed (%s, %d bytes held); attempt %d in %.2fs",
                    what,
                    type(exc).__name__,
                    part.size,
                    failures + 1,
                    delay,
                )
                await sleeper.sleep(delay)
        size = part.size
        await _disk(part.finish)
    except _LocalFileError as exc:
        # The disk failed, not the network: a typed error naming the destination, not the
        # partial file the OSError names.
        keep = False
        raise _write_error(dest, exc.error) from exc.error
    finally:
        if not part.closed:
            # Synchronous on purpose: it must run to the end even while being cancelled.
            if keep:
                part.keep()
            else:
                part.discard()
    logger.debug("downloaded %d bytes from %s to %s", size, what, dest.name)
    return DownloadResult(
        path=dest, size=size, content_type=exchange.content_type, attempts=requests
    )


async def _request(
    session: aiohttp.ClientSession,
    target: URL,
    part: PartFile,
    limits: aiohttp.ClientTimeout,
    exchange: _Exchange,
) -> None:
    """One GET from where ``part`` ends; returns when ``part`` holds the whole file."""
    offset = part.size
    # Identity encoding keeps the lengths equal to the bytes we count; a range is asked for
    # even from 0, because a 206's Content-Range names the whole size even when the body is
    # cut short in a well-formed answer.
    headers = {"Accept-Encoding": "identity", "Range": f"bytes={offset}-"}
    if offset and exchange.etag and not exchange.etag.startswith("W/"):
        headers["If-Range"] = exchange.etag  # the object changed: the server sends it all
    async with session.get(target, headers=headers, timeout=limits, auto_decompress=False) as resp:
        if resp.status == 416 and offset:
            await _unsatisfiable(resp, part, exchange)
            return
        if resp.status not in (200, 206):
            body = await resp.content.read(_ERROR_BODY_LIMIT)
            answer = {k.lower(): v for k, v in resp.headers.items()}
            raise _classify(resp.status, body, answer, exchange.what, exchange.provider)
        exchange.etag = resp.headers.get("ETag") or exchange.etag
        exchange.content_type = resp.headers.get("Content-Type")
        if resp.status == 206:
            total = await _ranged_total(resp, offset, part, exchange)
        else:
            if offset:  # the whole file again: the bytes held are of no use
                await _disk(part.restart)
            total = resp.content_length
        _check_announced(total, exchange)
        await _stream(resp, part, exchange)
    _check_whole(part, total, offset, exchange)


async def _unsatisfiable(resp: aiohttp.ClientResponse, part: PartFile, ex: _Exchange) -> None:
    # 416 to "bytes=N-": N is at or past the end. Exactly at the end means the partial file
    # is already whole (the previous download ended just before its rename).
    found = _UNSATISFIED_RANGE.match(resp.headers.get("Content-Range", ""))
    total = int(found.group(1)) if found else None
    if total is not None and total == part.size:
        _check_announced(total, ex)
        return
    await _disk(part.restart)
    raise _StartOver


async def _ranged_total(
    resp: aiohttp.ClientResponse, offset: int, part: PartFile, ex: _Exchange
) -> int | None:
    found = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
    if found is None:
        raise DownloadIncomplete(
            f"{ex.what}: 206 without a usable Content-Range", provider=ex.provider
        )
    first, last = int(found.group(1)), int(found.group(2))
    if first != offset:
        # Not the bytes asked for: continuing would splice two parts that do not meet.
        await _disk(part.restart)
        if offset:
            raise _StartOver
        raise DownloadIncomplete(
            f"{ex.what}: asked for bytes from 0, got from {first}", provider=ex.provider
        )
    announced = resp.content_length
    if announced is not None and announced != last - first + 1:
        raise DownloadIncomplete(
            f"{ex.what}: Content-Length {announced} does not match Content-Range {first}-{last}",
            provider=ex.provider,
        )
    return int(found.group(3)) if found.group(3) != "*" else last + 1


def _check_announced(total: int | None, ex: _Exchange) -> None:
    for size in (total, ex.expected_size):
        if size is not None and ex.max_bytes is not None and size > ex.max_bytes:
            raise MalformedResponse(
                f"{ex.what}: file of {size} bytes exceeds max_bytes={ex.max_bytes}",
                provider=ex.provider,
            )
    if total is not None and ex.expected_size is not None and total != ex.expected_size:
        raise DownloadIncomplete(
            f"{ex.what}: the server announces {total} bytes, the expected size is"
            f" {ex.expected_size}",
            provider=ex.provider,
        )


async def _stream(resp: aiohttp.ClientResponse, part: PartFile, ex: _Exchange) -> None:
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            if ex.max_bytes is not None and part.size + len(chunk) > ex.max_bytes:
                raise MalformedResponse(
                    f"{ex.what}: file exceeds max_bytes={ex.max_bytes}", provider=ex.provider
                )
            await _disk(part.write, chunk)
    except aiohttp.ClientPayloadError as exc:
        raise DownloadIncomplete(
            f"{ex.what}: body cut short at byte {part.size}", provider=ex.provider
        ) from exc


def _check_whole(part: PartFile, total: int | None, offset: int, ex: _Exchange) -> None:
    size = part.size
    if total is not None and size != total:
        if offset < size < total:
            raise _StartOver  # a shorter range than asked for, whole: ask for the rest
        raise DownloadIncomplete(
            f"{ex.what}: received {size} of {total} bytes", provider=ex.provider
        )
    if ex.expected_size is not None and size != ex.expected_size:
        raise DownloadIncomplete(
            f"{ex.what}: received {size} bytes, the expected size is {ex.expected_size}",
            provider=ex.provider,
        )
