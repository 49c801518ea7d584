"""HTTP I/O: the one-method transport, its aiohttp implementation, and result downloads."""

from __future__ import annotations

from seedance_async.transport._aiohttp import AiohttpTransport, Transport
from seedance_async.transport._download import DOWNLOAD_RETRY, DownloadResult

__all__ = ["DOWNLOAD_RETRY", "AiohttpTransport", "DownloadResult", "Transport"]
