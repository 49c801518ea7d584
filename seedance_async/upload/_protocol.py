"""What an uploader is: local media in, a URL a provider can fetch out.

A provider fetches reference media by URL; some media (video references on Ark) cannot be
sent inline at all. An uploader stores a local file, or bytes, somewhere the provider can
reach and returns a URL that stays valid for as long as the task may need it. Any async
callable ``(Upload) -> str`` is one; :class:`~seedance_async.upload.S3Uploader` is the one
this package ships.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio
import attrs

from seedance_async.core._errors import UploadError

__all__ = ["SupportsAclose", "Upload", "Uploader", "call_uploader", "extension_for"]

# Fixed, not ``mimetypes``: that table depends on the machine's /etc/mime.types, and a
# content-addressed key must not change between the machine that uploaded and a re-run.
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
}


def extension_for(content_type: str, path: str | None = None) -> str:
    """The file extension a stored object gets: from the content type, else the path, else ''."""
    known = _EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower())
    if known:
        return known
    if path is not None:
        return Path(path).suffix.lower()
    return ""


def _bytes_repr(data: bytes | None) -> str:
    return "None" if data is None else f"<{len(data)} bytes>"


@attrs.frozen(kw_only=True)
class Upload:
    """One piece of media to store, and how long the URL for it must work.

    Attributes:
        content_type: the media type, e.g. ``image/png`` or ``video/mp4``.
        valid_for: seconds from now the returned URL must stay fetchable: the task's
            deadline, or the provider's expiry of a queued task when there is none.
        field: where the media sits in the spec, e.g. ``images[0]`` (for messages).
        path: a local file to store ...
        data: ... or the bytes themselves (exactly one of the two is set).
    """

    content_type: str
    valid_for: float
    field: str
    path: str | None = None
    data: bytes | None = attrs.field(default=None, repr=_bytes_repr)

    def __attrs_post_init__(self) -> None:
        if (self.path is None) == (self.data is None):
            raise ValueError("an Upload has exactly one of path and data")

    @property
    def source(self) -> str:
        """The file path, or ``<N bytes>``: how messages name the media."""
        return self.path if self.path is not None else _bytes_repr(self.data)

    async def read(self) -> bytes:
        """The bytes to store (a file is read in a worker thread, off the event loop).

        Raises:
            OSError: the file cannot be read.
        """
        if self.data is not None:
            return self.data
        assert self.path is not None
        return await anyio.Path(self.path).read_bytes()

    @staticmethod
    def digest(data: bytes) -> str:
        """The sha256 hex digest content-addressed stores key objects by."""
        return hashlib.sha256(data).hexdigest()


@runtime_checkable
class Uploader(Protocol):
    """Stores one :class:`Upload` and returns an ``https://`` (or ``http://``) URL for it.

    A plain ``async def store(upload: Upload) -> str`` is an uploader. The URL must be
    fetchable by the provider, without credentials, for at least ``upload.valid_for``
    seconds. Raise :class:`~seedance_async.UploadError` (or anything: it is wrapped in one
    naming the file) when the media cannot be stored.
    """

    def __call__(self, upload: Upload, /) -> Awaitable[str]: ...


@runtime_checkable
class SupportsAclose(Protocol):
    """An uploader holding connections: the client closes it with itself."""

    async def aclose(self) -> None: ...


async def call_uploader(uploader: Uploader, upload: Upload) -> str:
    """``uploader(upload)``, with its failures and a URL no provider can fetch as :class:`UploadError`.

    Raises:
        UploadError: naming ``upload.field`` and the file; any other exception of the
            uploader is its cause.
    """
    try:
        url = await uploader(upload)
    except UploadError:
        raise
    except Exception as exc:
        # A user's storage code may fail any way it likes; the task must not die with an
        # exception that does not say which file was being stored.
        raise UploadError(upload.field, upload.source, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise UploadError(
            upload.field,
            upload.source,
            # Not the value itself: a URL may carry a signature.
            f"the uploader returned {'a URL' if isinstance(url, str) else type(url).__name__}"
            " that is not http(s); providers fetch references by http(s) URL",
        )
    return url
