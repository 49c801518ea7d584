"""Local media to URLs: the :class:`Uploader` protocol and an S3 implementation.

Providers fetch reference media by URL. Local reference videos need an uploader (no provider
takes them inline); local images and audio go inline as base64 data URLs where the provider
takes them, or through the uploader with ``Client(uploader=..., upload_all=True)``. Any ``async def store(upload: Upload) -> str`` is an
uploader; :class:`S3Uploader` (the ``s3`` extra) stores in S3 or an S3-compatible store.
"""

from __future__ import annotations

from seedance_async.core._errors import UploadError
from seedance_async.upload._protocol import (
    SupportsAclose,
    Upload,
    Uploader,
    call_uploader,
    extension_for,
)
from seedance_async.upload._s3 import PRESIGN_MAX_SECONDS, S3Uploader, parse_s3_url

__all__ = [
    "PRESIGN_MAX_SECONDS",
    "S3Uploader",
    "SupportsAclose",
    "Upload",
    "UploadError",
    "Uploader",
    "call_uploader",
    "extension_for",
    "parse_s3_url",
]
