"""Reference media as the providers check them: read each clip's header, hold it to the rules.

Ark reads the reference videos and audio tracks of a Seedance 2.x request itself and
refuses the request (HTTP 400) when one breaks its input rules (Ark's 2.0 create-task page:
MP4/MOV with H.264/H.265 video, each clip 2-15 s and at most 15 s in all, 24-60 fps, sides
300-6000 px, 409,600-8,295,044 pixels, aspect 0.4-2.5, at most 200 MB; WAV/MP3 audio of
2-15 s each, 15 s in all, at most 15 MB; 2.5 doubles the lengths to 30 s). The simulator
does the same with a few ranged GETs: the first 64 KiB, then the ``moov`` box wherever it
is (a file not made for streaming keeps it at the end).

It reads only what it can reach without leaving the machine: loopback URLs (its own CDN's
``/media/`` route, or a server a test starts) and ``data:`` URLs. Any other URL and
``asset://`` ids are taken on trust (the simulator has no internet and no asset library).

Simulator choices where the documentation is silent: a clip that cannot be fetched, or
whose header is not a video/audio the rules know, answers 400 ``InvalidParameter`` naming
``content[i].video_url`` / ``content[i].audio_url`` (AI/ML API: ``video_urls[i]`` /
``audio_urls[i]``); rule texts say which rule and the value read.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import attrs

from seedance_async.simulator._params import ModelInfo

__all__ = [
    "HEAD_BYTES",
    "Kind",
    "MediaFacts",
    "RefItem",
    "Unreadable",
    "check_references",
    "parse_header",
    "reachable",
    "read_reference",
]

HEAD_BYTES = 64 * 1024
_MAX_MOOV = 8 * 1024 * 1024
_MAX_BOXES = 4096

Kind = Literal["video", "audio"]


class Unreadable(Exception):
    """A reference the simulator could not fetch or could not read as media."""


@attrs.frozen(kw_only=True)
class MediaFacts:
    """What a reference clip's header says.

    Attributes:
        kind: ``video`` (has a video track) or ``audio``.
        container: ``mp4``, ``mov``, ``wav`` or ``mp3``.
        seconds: duration.
        size: bytes of the whole file.
        width / height / fps / codec: of the video track (0 / "" for audio).
    """

    kind: Kind
    container: str
    seconds: float
    size: int
    width: int = 0
    height: int = 0
    fps: float = 0.0
    codec: str = ""


@attrs.frozen(kw_only=True)
class RefItem:
    """One reference clip of a request: its kind, URL and the field that named it."""

    kind: Kind
    url: str
    field: str


# -- reading headers ----------------------------------------------------------------------

_CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "h265", b"hev1": "h265"}


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(kind, payload start, payload end) of the boxes in ``data[start:end]``."""
    found: list[tuple[bytes, int, int]] = []
    at = start
    while at + 8 <= end and len(found) < _MAX_BOXES:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        head = 8
        if size == 1 and at + 16 <= end:
            (size,) = struct.unpack(">Q", data[at + 8 : at + 16])
            head = 16
        elif size == 0:
            size = end - at
        if size < head or at + size > end:
            break
        found.append((kind, at + head, at + size))
        at += size
    return found


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, s, e in _boxes(data, start, end):
        if found == kind:
            return s, e
    return None


def _moov_facts(moov: bytes, container: str, size: int) -> MediaFacts:
    seconds = 0.0
    mvhd = _child(moov, 0, len(moov), b"mvhd")
    if mvhd is not None:
        s, _ = mvhd
        if moov[s] == 1:
            scale, duration = struct.unpack(">IQ", moov[s + 20 : s + 32])
        else:
            scale, duration = struct.unpack(">II", moov[s + 12 : s + 20])
        seconds = duration / scale if scale else 0.0
    for kind, s, e in _boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        mdia = _child(moov, s, e, b"mdia")
        if mdia is None:
            continue
        hdlr = _child(moov, *mdia, b"hdlr")
        if hdlr is None or moov[hdlr[0] + 8 : hdlr[0] + 12] != b"vide":
            continue
        width = height = 0
        tkhd = _child(moov, s, e, b"tkhd")
        if tkhd is not None:
            w_at = tkhd[1] - 8
            width, height = (v >> 16 for v in struct.unpack(">II", moov[w_at : w_at + 8]))
        timescale, ticks = 0, 0
        mdhd = _child(moov, *mdia, b"mdhd")
        if mdhd is not None:
            m = mdhd[0]
            if moov[m] == 1:
                timescale, ticks = struct.unpack(">IQ", moov[m + 20 : m + 32])
            else:
                timescale, ticks = struct.unpack(">II", moov[m + 12 : m + 20])
        codec, fps = "", 0.0
        minf = _child(moov, *mdia, b"minf")
        stbl = None if minf is None else _child(moov, *minf, b"stbl")
        if stbl is not None:
            stsd = _child(moov, *stbl, b"stsd")
            if stsd is not None and stsd[0] + 16 <= stsd[1]:
                fourcc = moov[stsd[0] + 12 : stsd[0] + 16]
                codec = _CODECS.get(fourcc, fourcc.decode("latin-1").strip())
            stts = _child(moov, *stbl, b"stts")
            if stts is not None and ticks and timescale:
                (entries,) = struct.unpack(">I", moov[stts[0] + 4 : stts[0] + 8])
                samples = sum(
                    struct.unpack(">I", moov[stts[0] + 8 + 8 * i : stts[0] + 12 + 8 * i])[0]
                    for i in range(min(entries, (stts[1] - stts[0] - 8) // 8))
                )
                fps = samples * timescale / ticks
        if timescale and ticks:
            seconds = ticks / timescale
        return MediaFacts(
            kind="video",
            container=container,
            seconds=seconds,
            size=size,
            width=width,
            height=height,
            fps=round(fps, 3),
            codec=codec,
        )
    raise Unreadable("the file has no video track")


def _wav_facts(head: bytes, size: int) -> MediaFacts:
    byte_rate = 0
    for kind, s, e in _riff_chunks(head):
        if kind == b"fmt " and e - s >= 16:
            (byte_rate,) = struct.unpack("<I", head[s + 8 : s + 12])
        elif kind == b"data" and byte_rate:
            # The data chunk may run past the bytes read: its declared size is what counts.
            (declared,) = struct.unpack("<I", head[s - 4 : s])
            length = min(declared, size - s) if declared not in (0, 0xFFFFFFFF) else size - s
            return MediaFacts(kind="audio", container="wav", seconds=length / byte_rate, size=size)
    raise Unreadable("a WAV file without fmt and data chunks")


def _riff_chunks(head: bytes) -> list[tuple[bytes, int, int]]:
    found: list[tuple[bytes, int, int]] = []
    at = 12
    while at + 8 <= len(head) and len(found) < _MAX_BOXES:
        kind, length = struct.unpack("<4sI", head[at : at + 8])
        found.append((kind, at + 8, min(len(head), at + 8 + length)))
        at += 8 + length + (length & 1)
    return found


_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def _mp3_facts(head: bytes, size: int) -> MediaFacts:
    at = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        tag = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9]
        at = 10 + tag
    for i in range(at, min(len(head) - 4, at + 8192)):
        b1, b2 = head[i + 1], head[i + 2]
        # MPEG-1 layer III only: what the simulator's own clips and most encoders write.
        if head[i] != 0xFF or b1 & 0xFE != 0xFA or b2 >> 4 in (0, 15) or (b2 >> 2) & 3 == 3:
            continue
        bitrate = _MP3_KBPS[b2 >> 4] * 1000
        return MediaFacts(
            kind="audio", container="mp3", seconds=(size - i) * 8 / bitrate, size=size
        )
    raise Unreadable("no MPEG audio frame found")


async def _iso_facts(
    read: Callable[[int, int], Awaitable[bytes]], head: bytes, size: int
) -> MediaFacts:
    container = "mov" if head[8:12] == b"qt  " else "mp4"
    at, seen = 0, 0
    while at + 8 <= size and seen < _MAX_BOXES:
        seen += 1
        top = head[at : at + 16] if at + 16 <= len(head) else await read(at, 16)
        box, kind = struct.unpack(">I4s", top[:8])
        head_len = 8
        if box == 1:
            (box,) = struct.unpack(">Q", top[8:16])
            head_len = 16
        elif box == 0:
            box = size - at
        if box < head_len:
            break
        if kind == b"moov":
            if box > _MAX_MOOV:
                raise Unreadable("the moov box is too large to read")
            body = head[at + head_len : at + box]
            if len(body) < box - head_len:
                body = await read(at + head_len, box - head_len)
            return _moov_facts(body, container, size)
        at += box
    raise Unreadable("an MP4/MOV file without a moov box")


async def parse_header(data: bytes, size: int | None = None) -> MediaFacts:
    """The facts of a whole file (or of its first bytes, with ``size`` the full length).

    Raises:
        Unreadable: not an MP4/MOV with a video track, a WAV or an MP3 (or the headers lie
            beyond ``data``).
    """
    full = len(data) if size is None else size

    async def read(offset: int, n: int) -> bytes:
        if offset + n > len(data):
            raise Unreadable("the header lies beyond the bytes read")
        return data[offset : offset + n]

    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav_facts(data, full)
    if data[4:8] == b"ftyp":
        return await _iso_facts(read, data, full)
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xfa"):
        return _mp3_facts(data, full)
    raise Unreadable("not an MP4, MOV, WAV or MP3 file")


# -- fetching -----------------------------------------------------------------------------


def reachable(url: str) -> bool:
    """True for URLs the simulator reads: ``data:`` and http(s) on a loopback host."""
    if url.startswith("data:"):
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


async def read_reference(session: aiohttp.ClientSession, url: str) -> MediaFacts:
    """Fetch a clip's header with ranged GETs (or decode a ``data:`` URL) and read it.

    Raises:
        Unreadable: the clip could not be fetched or is not media the rules know.
    """
    if url.startswith("data:"):
        meta, _, payload = url.partition(",")
        try:
            raw = base64.b64decode(payload, validate=True) if meta.endswith(";base64") else b""
        except (binascii.Error, ValueError):
            raise Unreadable("the data URL is not valid base64") from None
        return await parse_header(raw)
    total: list[int] = []

    async def read(offset: int, n: int) -> bytes:
        headers = {"Range": f"bytes={offset}-{offset + n - 1}"}
        try:
            async with session.get(url, headers=headers) as response:
                if response.status not in (200, 206):
                    raise Unreadable(f"fetching it answered HTTP {response.status}")
                body = await response.read()
                span = response.headers.get("Content-Range", "")
                if not total:
                    whole = span.rpartition("/")[2]
                    total.append(int(whole) if whole.isdigit() else len(body))
                # A server that ignores Range sends the whole file: take the part asked for.
                return body[offset : offset + n] if response.status == 200 else body
        except aiohttp.ClientError as exc:
            raise Unreadable(f"it could not be fetched ({type(exc).__name__})") from None

    head = await read(0, HEAD_BYTES)
    size = total[0]
    if head[4:8] == b"ftyp":
        return await _iso_facts(read, head, size)
    return await parse_header(head, size)


# -- the rules ------------------------------------------------------------------------------

_VIDEO_CONTAINERS = frozenset({"mp4", "mov"})
_VIDEO_CODECS = frozenset({"h264", "h265"})
_MIN_CLIP, _MIN_PIXELS, _MAX_PIXELS = 2.0, 409_600, 8_295_044
_MAX_VIDEO_BYTES, _MAX_AUDIO_BYTES = 200 * 1024 * 1024, 15 * 1024 * 1024
# Container durations round a little: a 15 s clip may say 15.04 s (client code allows 0.2 s).
_TOLERANCE = 0.2


def _video_problem(facts: MediaFacts, limit: float) -> str | None:
    if facts.kind != "video" or facts.container not in _VIDEO_CONTAINERS:
        return f"a reference video must be MP4 or MOV with a video track, got {facts.container}"
    if facts.codec not in _VIDEO_CODECS:
        return f"the video codec must be H.264 or H.265, got {facts.codec or 'none'}"
    if not _MIN_CLIP <= facts.seconds <= limit + _TOLERANCE:
        return f"each reference video must last {_MIN_CLIP:g}-{limit:g} s, got {facts.seconds:g} s"
    if not 24 <= facts.fps <= 60:
        return f"the frame rate must be within [24, 60] fps, got {facts.fps:g}"
    w, h = facts.width, facts.height
    if not (300 <= w <= 6000 and 300 <= h <= 6000):
        return f"each side must be within [300, 6000] px, got {w}x{h}"
    if not _MIN_PIXELS <= w * h <= _MAX_PIXELS:
        return f"width x height must be within [{_MIN_PIXELS}, {_MAX_PIXELS}], got {w * h}"
    if not 0.4 <= w / h <= 2.5:
        return f"the aspect ratio must be within [0.4, 2.5], got {w / h:.2f}"
    if facts.size > _MAX_VIDEO_BYTES:
        return f"a reference video may have at most 200 MB, got {facts.size} bytes"
    return None


def _audio_problem(facts: MediaFacts, limit: float) -> str | None:
    if facts.container not in ("wav", "mp3"):
        return f"a reference audio must be WAV or MP3, got {facts.container}"
    if not _MIN_CLIP <= facts.seconds <= limit + _TOLERANCE:
        return f"each reference audio must last {_MIN_CLIP:g}-{limit:g} s, got {facts.seconds:g} s"
    if facts.size > _MAX_AUDIO_BYTES:
        return f"a reference audio may have at most 15 MB, got {facts.size} bytes"
    return None


async def check_references(
    session: aiohttp.ClientSession | None, items: Sequence[RefItem], info: ModelInfo
) -> tuple[list[MediaFacts | None], tuple[str, str] | None]:
    """Read every reachable clip and check the rules, the first problem only (as Ark does).

    Returns:
        The facts per item (None where the clip was taken on trust) and the problem as
        ``(field, why)``, or None when every rule holds.
    """
    limit = info.max_reference_seconds
    facts: list[MediaFacts | None] = []
    for item in items:
        if session is None or not reachable(item.url):
            facts.append(None)
            continue
        if item.kind == "video" and item.url.startswith("data:"):
            return facts, (item.field, "a reference video must be a URL or an asset, not base64")
        try:
            found = await read_reference(session, item.url)
        except Unreadable as exc:
            return facts, (item.field, f"the reference {item.kind} is not readable: {exc}")
        problem = (_video_problem if item.kind == "video" else _audio_problem)(found, limit)
        if problem is not None:
            return facts, (item.field, problem)
        facts.append(found)
    for kind in ("video", "audio"):
        total = sum(f.seconds for f, i in zip(facts, items, strict=False) if f and i.kind == kind)
        if total > limit + _TOLERANCE:
            field = next(i.field for i in items if i.kind == kind)
            return facts, (
                field,
                f"the reference {kind}s may last {limit:g} s in all, got {total:g} s",
            )
    return facts, None
