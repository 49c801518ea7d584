"""Downloading a finished video (or last frame) from its presigned URL, atomically.

Result URLs are presigned object-storage URLs valid for a limited time (24 h on Ark,
docs/providers.md §2.6 and §8.3). Three rules follow:

* no API key goes with the request: the signature in the query is the credential, and the
  storage host is not the API host;
* an expired or deleted object is a distinct, typed outcome (:class:`ResultExpired`) so the
  caller can fetch the task again for a fresh URL instead of calling the task failed;
* a half-written file never appears at the destination: bytes go to a temporary file in the
  same directory, which is fsynced and then renamed over the destination in one step.

The destination's folder is created when missing, and the file gets the permissions of any
file the user creates (``0666`` less the umask), not the ``0600`` of a private temporary file.
A destination that cannot be written is a :class:`DownloadWriteError`.

The query string of a presigned URL is a secret; errors and logs show host and path only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

import aiohttp
import anyio.to_thread
import attrs
from yarl import URL

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import (
    ConfigurationError,
    DownloadIncomplete,
    DownloadWriteError,
    MalformedResponse,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    ResultExpired,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.providers._common import parse_retry_after
from seedance_async.transport._aiohttp import client_timeout, mapped_errors

__all__ = ["DOWNLOAD_TIMEOUTS", "DownloadResult", "create_temp_beside", "download"]

logger = logging.getLogger("seedance_async.download")

DOWNLOAD_TIMEOUTS = Timeouts(connect=10.0, read=60.0, total=1800.0)
"""Videos are tens of megabytes: a generous total, a read timeout to catch stalls."""

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


@attrs.frozen(kw_only=True)
class DownloadResult:
    """A completed download.

    Attributes:
        path: the destination, now holding the complete file.
        size: bytes written.
        content_type: the ``Content-Type`` the server sent, if any.
    """

    path: Path
    size: int
    content_type: str | None


def _check_session(session: aiohttp.ClientSession) -> None:
    # The caller may hand us a session built for the API; its default auth would leak the
    # key to the storage host.
    if "Authorization" in session.headers or session.auth is not None:
        raise ConfigurationError(
            "download session sends default credentials; use a session without auth headers"
        )


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


class _LocalFileError(Exception):
    """Carries an OSError of the local disk past the network error mapping, unchanged."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


async def _disk(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    # Disk work runs off the event loop (a slow disk must not stall every request) and its
    # OSErrors are wrapped, because the network mapping would call them OutcomeUnknown.
    def call() -> _R:
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            raise _LocalFileError(exc) from exc

    return await anyio.to_thread.run_sync(call)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def create_temp_beside(dest: Path, suffix: str) -> tuple[int, Path]:
    """A new, empty ``.<name>.<random><suffix>`` file beside ``dest``, open for writing.

    Unlike :func:`tempfile.mkstemp` (always ``0600``), the file is created with mode
    ``0666`` so the user's umask decides, as for any file they create: a video or results
    file renamed from it is readable by whoever the user's other files are readable by.

    Raises:
        OSError: the folder is missing or not writable.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = dest.parent / f".{dest.name}.{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(dest.parent))


def _prepare_folder(dest: Path) -> None:
    # A download folder that does not exist yet is the common case (``Tracker(download_dir=
    # "videos")``, ``generate(path="out/v.mp4")``), not an error.
    dest.parent.mkdir(parents=True, exist_ok=True)


def _write_error(dest: Path, exc: OSError) -> DownloadWriteError:
    reason = exc.strerror or str(exc)
    culprit = Path(str(exc.filename)) if exc.filename is not None else dest
    # Name another path only when it is the cause (a parent that is a file), never our
    # temporary file: the user knows the destination, not ".v.mp4.1a2b3c4d.part".
    if culprit != dest and not culprit.name.startswith(f".{dest.name}."):
        reason = f"{reason}: {culprit}"
    return DownloadWriteError(str(dest), reason, errno=exc.errno)


def _create_temp(dest: Path) -> tuple[IO[bytes], Path]:
    # Created in the event loop, not a worker thread: one open() is quick, and a thread whose
    # caller is cancelled meanwhile would hand back a file nobody closes or removes.
    try:
        fd, name = create_temp_beside(dest, ".part")
    except OSError as exc:
        raise _LocalFileError(exc) from exc
    return os.fdopen(fd, "wb"), name


def _discard(file: IO[bytes], tmp: Path) -> None:
    # Synchronous on purpose: it must run to the end even while the task is being cancelled,
    # and closing plus unlinking one file is quick.
    file.close()
    tmp.unlink(missing_ok=True)


def _finish(file: IO[bytes], tmp: Path, dest: Path) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()
    os.replace(tmp, dest)
    _fsync_directory(dest.parent)


async def download(
    url: str,
    dest: Path | str,
    *,
    session: aiohttp.ClientSession,
    timeouts: Timeouts | None = None,
    expected_size: int | None = None,
    max_bytes: int | None = 4 * 1024**3,
    provider: str = "",
) -> DownloadResult:
    """Download ``url`` to ``dest`` atomically, without sending any credentials.

    Args:
        url: the presigned result URL, used exactly as given (no re-encoding, which would
            break the signature).
        dest: the destination file, replaced if it exists; its folder is created (parents
            too) when missing.
        session: the session to use; it must carry no default ``Authorization`` or auth.
        timeouts: limits of the exchange (default :data:`DOWNLOAD_TIMEOUTS`).
        expected_size: the size the caller knows the file has, checked in addition to
            ``Content-Length``.
        max_bytes: refuse larger files (None: no limit).
        provider: name carried by raised errors.

    Returns:
        The destination, the number of bytes and the content type.

    Raises:
        ResultExpired: 403/404/410 or an "expired" storage error; re-query the task.
        DownloadIncomplete: the body was cut short or its size differs from what was announced
            or expected.
        RequestNotSent / OutcomeUnknown: the connection failed (both are safe to retry here).
        RateLimited / ProviderUnavailable / ProviderRejected: other error answers.
        MalformedResponse: the file is larger than ``max_bytes``.
        ConfigurationError: the session carries credentials or the URL is not http(s).
        DownloadWriteError: the file could not be written locally (permissions, full disk,
            a path that is not a folder); also an :class:`OSError`.

    Nothing is left at ``dest`` (or in its directory) when an error is raised.
    """
    _check_session(session)
    target = URL(url, encoded=True)
    if target.scheme not in ("http", "https") or not target.host:
        raise ConfigurationError("download URL must be http(s)://host/path")
    what = f"GET {target.host}{target.path}"
    dest = Path(dest)
    limits = client_timeout(timeouts or DOWNLOAD_TIMEOUTS)
    try:
        # Before the request: a destination that cannot be written must not cost a download.
        await _disk(_prepare_folder, dest)
        with mapped_errors(provider, what):
            size, content_type = await _fetch(
                session, target, dest, limits, what, provider, max_bytes, expected_size
            )
    except _LocalFileError as exc:
        # The disk failed, not the network: a typed error naming the destination, not the
        # temporary file the OSError names.
        raise _write_error(dest, exc.error) from exc.error
    logger.debug("downloaded %d bytes from %s to %s", size, what, dest.name)
    return DownloadResult(path=dest, size=size, content_type=content_type)


async def _fetch(
    session: aiohttp.ClientSession,
    target: URL,
    dest: Path,
    limits: aiohttp.ClientTimeout,
    what: str,
    provider: str,
    max_bytes: int | None,
    expected_size: int | None,
) -> tuple[int, str | None]:
    async with session.get(
        target,
        # Identity encoding keeps Content-Length equal to the bytes we count.
        headers={"Accept-Encoding": "identity"},
        timeout=limits,
        auto_decompress=False,
    ) as resp:
        if resp.status != 200:
            body = await resp.content.read(_ERROR_BODY_LIMIT)
            headers = {k.lower(): v for k, v in resp.headers.items()}
            raise _classify(resp.status, body, headers, what, provider)
        declared = resp.content_length
        for announced in (declared, expected_size):
            if announced is not None and max_bytes is not None and announced > max_bytes:
                raise MalformedResponse(
                    f"{what}: file of {announced} bytes exceeds max_bytes={max_bytes}",
                    provider=provider,
                    status=resp.status,
                )
        if declared is not None and expected_size is not None and declared != expected_size:
            raise DownloadIncomplete(
                f"{what}: Content-Length {declared} differs from expected size {expected_size}",
                provider=provider,
            )
        size = await _stream_to(dest, resp, what, provider, max_bytes, declared, expected_size)
        return size, resp.headers.get("Content-Type")


async def _stream_to(
    dest: Path,
    resp: aiohttp.ClientResponse,
    what: str,
    provider: str,
    max_bytes: int | None,
    declared: int | None,
    expected: int | None,
) -> int:
    # The temporary file lives beside the destination so the final rename stays on one
    # filesystem (atomic), and starts with a dot so directory watchers skip it.
    file, tmp = _create_temp(dest)
    done = False
    try:
        size = 0
        try:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise MalformedResponse(
                        f"{what}: file exceeds max_bytes={max_bytes}",
                        provider=provider,
                        status=resp.status,
                    )
                await _disk(file.write, chunk)
        except aiohttp.ClientPayloadError as exc:
            raise DownloadIncomplete(f"{what}: body cut short", provider=provider) from exc
        for announced, label in ((declared, "Content-Length"), (expected, "expected size")):
            if announced is not None and size != announced:
                raise DownloadIncomplete(
                    f"{what}: received {size} bytes, {label} is {announced}", provider=provider
                )
        await _disk(_finish, file, tmp, dest)
        done = True
        return size
    finally:
        if not done:
            _discard(file, tmp)
