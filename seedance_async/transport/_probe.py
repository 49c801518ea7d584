"""Reading a remote reference clip's header with ranged GETs, before a task pays for it.

A provider fetches reference videos and audio itself and fails the task (after queueing it)
when one is too long, too small or not a video at all. Reading the first bytes of each URL
(and, for an MP4 whose ``moov`` box sits after the media, a few bytes near its end) tells
the same before anything is sent. Only ``Range`` requests are made, a few at most, and no
credentials are sent.
"""

from __future__ import annotations

import re

import aiohttp
import attrs
from yarl import URL

from seedance_async.spec._media_sniff import MediaInfo, NeedBytes, NotMedia, RangedMedia

__all__ = ["ProbeResult", "probe_media_url"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_CHUNK = 64 * 1024
_MAX_FETCHES = 4


@attrs.frozen(kw_only=True)
class ProbeResult:
    """What a probe found: the header facts and the size, or why it could not tell.

    Attributes:
        info: the clip's header facts, when read.
        size: the file's size in bytes, when the server said.
        refused: the URL answered with an error a provider would meet too (4xx), or the
            bytes are not a clip; the reason is in ``reason``.
        reason: why ``info`` is None.
    """

    info: MediaInfo | None = None
    size: int | None = None
    refused: bool = False
    reason: str | None = None


async def _get_range(
    session: aiohttp.ClientSession, url: URL, offset: int, limits: aiohttp.ClientTimeout
) -> tuple[int, bytes, int | None, int]:
    """(HTTP status, bytes at ``offset``, total size, offset the bytes start at)."""
    headers = {"Range": f"bytes={offset}-{offset + _CHUNK - 1}", "Accept-Encoding": "identity"}
    async with session.get(url, headers=headers, timeout=limits, allow_redirects=True) as resp:
        if resp.status >= 400:
            return resp.status, b"", None, offset
        # A server that ignores Range sends the whole file from 0: read the first chunk only.
        data = await resp.content.read(_CHUNK)
        if resp.status == 206:
            found = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if found is None:
                return resp.status, data, None, offset
            total = None if found.group(3) == "*" else int(found.group(3))
            return resp.status, data, total, int(found.group(1))
        length = resp.headers.get("Content-Length")
        return resp.status, data, int(length) if length and length.isdigit() else None, 0


async def probe_media_url(
    url: str, *, session: aiohttp.ClientSession, seconds: float = 30.0
) -> ProbeResult:
    """The header facts of the clip at ``url``, read with at most four ranged GETs, each
    limited to ``seconds``.

    Never raises for what the network or the server does: a probe is advice, so a timeout
    or a 5xx gives a result with ``info`` None and ``refused`` False (the provider may fare
    better), while a 4xx or bytes that are not a clip give ``refused`` True.
    """
    target = URL(url, encoded=True)
    # A limit on the whole exchange, in aiohttp's own terms: a probe is advice, never a wait.
    limits = aiohttp.ClientTimeout(total=seconds)
    media: RangedMedia | None = None
    offset = 0
    total: int | None = None
    for _ in range(_MAX_FETCHES):
        try:
            status, data, size, start = await _get_range(session, target, offset, limits)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return ProbeResult(size=total, reason=f"could not fetch: {type(exc).__name__}")
        if status >= 500:
            return ProbeResult(size=total, reason=f"HTTP {status}")
        if status >= 400:
            return ProbeResult(refused=True, reason=f"the URL answers HTTP {status}")
        if media is None:
            total = size if size is not None else len(data)
            media = RangedMedia(total)
        elif start != offset:
            return ProbeResult(size=total, reason="the server does not serve byte ranges")
        media.feed(start, data)
        try:
            return ProbeResult(info=media.sniff(), size=total)
        except NeedBytes as more:
            if more.offset == offset or more.offset >= media.size:
                return ProbeResult(size=total, reason="the header is larger than a probe reads")
            offset = more.offset
        except NotMedia as exc:
            return ProbeResult(size=total, refused=True, reason=str(exc))
    return ProbeResult(size=total, reason="the header is spread over too many places")
