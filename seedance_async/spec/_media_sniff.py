"""What a reference video or audio clip is, read from its header: MP4/MOV, WAV, MP3.

Before paying for a task whose reference would be refused, the library reads the container,
codec, duration, frame rate and size of each local clip. Only the metadata boxes and
chunks are read (``moov`` of an MP4/MOV, ``fmt``/``data`` of a WAV, the first frame and its
Xing/VBRI header of an MP3), never the media data, so a 200 MB clip costs a few reads.

Why a parser of our own: the libraries that read these headers in pure Python, mutagen
(audio only: no video dimensions or frame rate) and hachoir, are GPL-licensed, and this
package is MIT; pymediainfo wraps the native libmediainfo. The fields needed are few and
their layout fixed (ISO/IEC 14496-12 boxes, RIFF chunks, MPEG audio frame headers), so a
small parser, fuzzed with hypothesis (``tests/spec/test_media_sniff.py``), does the job.

Every malformed input raises :class:`NotMedia` with a reason; nothing else escapes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator

import attrs

__all__ = [
    "MediaInfo",
    "NeedBytes",
    "NotMedia",
    "RangedMedia",
    "sniff_media_bytes",
    "sniff_media_file",
]

# Boxes nest a few levels deep (moov/trak/mdia/minf/stbl/stsd); a file claiming more is
# either hostile or not an MP4.
_MAX_DEPTH = 8
_MAX_BOXES = 4096
_MP3_SCAN = 64 * 1024


class NotMedia(ValueError):
    """The bytes are not a video or audio file this library can read (the reason says why)."""


class NeedBytes(Exception):
    """:class:`RangedMedia` needs the bytes at ``offset`` before it can say more."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class RangedMedia:
    """The header facts of a clip known only in pieces (a remote file read by ranges).

    Sans-I/O: feed it the ranges you have; :meth:`sniff` either answers or raises
    :class:`NeedBytes` with the offset to fetch next (an MP4's ``moov`` box often sits
    after the media data, at the end of the file).

    Args:
        size: the whole file's size in bytes (from ``Content-Range``).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._pieces: list[tuple[int, bytes]] = []

    def feed(self, offset: int, data: bytes) -> None:
        """Add the bytes found at ``offset``."""
        if data:
            self._pieces.append((offset, bytes(data)))

    def _read_at(self, offset: int, n: int) -> bytes:
        for start, data in self._pieces:
            if start <= offset and offset + n <= start + len(data):
                return data[offset - start : offset - start + n]
        raise NeedBytes(offset)

    def sniff(self) -> MediaInfo:
        """The facts, once enough pieces were fed.

        Raises:
            NeedBytes: fetch the bytes at its offset, feed them, and call again.
            NotMedia: not an MP4, MOV, WAV or MP3 this parser can read.
        """
        return _sniff(_Source(self._read_at, self.size))


@attrs.frozen(kw_only=True)
class MediaInfo:
    """The header facts of one clip (None where the header does not say).

    Attributes:
        kind: ``video`` (an MP4/MOV with a video track) or ``audio``.
        container: ``mp4``, ``mov``, ``wav`` or ``mp3``.
        duration: seconds.
        width / height: pixels of the video track.
        fps: frames per second of the video track.
        video_codec: ``h264``, ``hevc``, or the sample entry's four characters.
        audio_codec: ``aac``, ``mp3``, ``pcm``... of the audio track.
    """

    kind: str
    container: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None


class _Source:
    """Reads at offsets of a file or a bytes object; short reads are :class:`NotMedia`."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self._read_at = read_at
        self.size = size

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise NotMedia("the file ends inside a header")
        data = self._read_at(offset, n)
        if len(data) != n:
            raise NotMedia("the file ends inside a header")
        return data


def sniff_media_bytes(data: bytes) -> MediaInfo:
    """The header facts of a clip held in memory.

    Raises:
        NotMedia: not an MP4, MOV, WAV or MP3 this parser can read.
    """
    view = memoryview(data)
    return _sniff(_Source(lambda o, n: bytes(view[o : o + n]), len(data)))


def sniff_media_file(path: str | os.PathLike[str]) -> MediaInfo:
    """The header facts of a local clip (blocking reads of its headers only).

    Raises:
        OSError: the file cannot be read.
        NotMedia: not an MP4, MOV, WAV or MP3 this parser can read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size

        def read_at(offset: int, n: int) -> bytes:
            fh.seek(offset)
            return fh.read(n)

        return _sniff(_Source(read_at, size))


def _sniff(src: _Source) -> MediaInfo:
    if src.size < 12:
        raise NotMedia("too short to be a video or audio file")
    head = src.read(0, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav(src)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return _isobmff(src)
    if head[:3] == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return _mp3(src)
    raise NotMedia("not an MP4, MOV, WAV or MP3 file")


# -- MP4 / MOV (ISO base media file format) -----------------------------------------------


def _boxes(src: _Source, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in [start, end)."""
    offset = start
    count = 0
    while offset + 8 <= end:
        count += 1
        if count > _MAX_BOXES:
            raise NotMedia("too many boxes")
        size, kind = struct.unpack(">I4s", src.read(offset, 8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", src.read(offset + 8, 8))
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise NotMedia(f"box {kind!r} has a size outside its parent")
        yield kind, offset + header, offset + size
        offset += size


def _child(src: _Source, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, s, e in _boxes(src, start, end):
        if found == kind:
            return s, e
    return None


def _full_box(src: _Source, start: int, end: int, v0: str, v1: str) -> tuple[int, ...]:
    """The fields of a version 0 or 1 full box (after its version and flags)."""
    version = src.read(start, 1)[0]
    fmt = ">" + (v1 if version == 1 else v0)
    need = struct.calcsize(fmt)
    if start + 4 + need > end:
        raise NotMedia("a header box is too short")
    return struct.unpack(fmt, src.read(start + 4, need))


_VIDEO_CODECS = {
    b"avc1": "h264",
    b"avc3": "h264",
    b"hvc1": "hevc",
    b"hev1": "hevc",
    b"av01": "av1",
    b"vp09": "vp9",
    b"mp4v": "mpeg4",
    b"apcn": "prores",
    b"apch": "prores",
    b"jpeg": "mjpeg",
}
_AUDIO_CODECS = {
    b"mp4a": "aac",
    b".mp3": "mp3",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
    b"Opus": "opus",
    b"fLaC": "flac",
    b"lpcm": "pcm",
    b"sowt": "pcm",
    b"twos": "pcm",
    b"in24": "pcm",
}


@attrs.define
class _Track:
    handler: bytes = b""
    codec: bytes = b""
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    samples: int | None = None


def _track(src: _Source, start: int, end: int) -> _Track:
    track = _Track()
    tkhd = _child(src, start, end, b"tkhd")
    if tkhd is not None:
        fields = _full_box(src, *tkhd, "IIIII8xhhhh36xII", "QQIIQ8xhhhh36xII")
        # Width and height are 16.16 fixed point.
        track.width, track.height = fields[-2] >> 16, fields[-1] >> 16
    mdia = _child(src, start, end, b"mdia")
    if mdia is None:
        return track
    mdhd = _child(src, *mdia, b"mdhd")
    if mdhd is not None:
        _, _, timescale, duration = _full_box(src, *mdhd, "IIII", "QQIQ")
        if timescale:
            track.seconds = duration / timescale
    hdlr = _child(src, *mdia, b"hdlr")
    if hdlr is not None and hdlr[0] + 12 <= hdlr[1]:
        track.handler = src.read(hdlr[0] + 8, 4)
    minf = _child(src, *mdia, b"minf")
    stbl = None if minf is None else _child(src, *minf, b"stbl")
    if stbl is None:
        return track
    stsd = _child(src, *stbl, b"stsd")
    if stsd is not None and stsd[0] + 16 <= stsd[1]:
        track.codec = src.read(stsd[0] + 12, 4)
    stts = _child(src, *stbl, b"stts")
    if stts is not None and stts[0] + 8 <= stts[1]:
        (entries,) = struct.unpack(">I", src.read(stts[0] + 4, 4))
        if stts[0] + 8 + entries * 8 > stts[1]:
            raise NotMedia("the sample table is longer than its box")
        table = src.read(stts[0] + 8, entries * 8)
        track.samples = sum(count for count, _ in struct.iter_unpack(">II", table))
    return track


def _isobmff(src: _Source) -> MediaInfo:
    container = "mov"
    moov: tuple[int, int] | None = None
    for kind, s, e in _boxes(src, 0, src.size):
        if kind == b"ftyp":
            brand = src.read(s, 4) if s + 4 <= e else b""
            container = "mov" if brand == b"qt  " else "mp4"
        elif kind == b"moov":
            moov = (s, e)
            break
    if moov is None:
        raise NotMedia("no moov box: not a playable MP4/MOV (or the file is cut short)")
    duration: float | None = None
    mvhd = _child(src, *moov, b"mvhd")
    if mvhd is not None:
        _, _, timescale, length = _full_box(src, *mvhd, "IIII", "QQIQ")
        if timescale:
            duration = length / timescale
    video = audio = None
    for kind, s, e in _boxes(src, *moov):
        if kind != b"trak":
            continue
        track = _track(src, s, e)
        if track.handler == b"vide" and video is None:
            video = track
        elif track.handler == b"soun" and audio is None:
            audio = track
    audio_codec = None
    if audio is not None:
        audio_codec = _AUDIO_CODECS.get(audio.codec, _fourcc(audio.codec))
    if video is None:
        return MediaInfo(
            kind="audio", container=container, duration=duration, audio_codec=audio_codec
        )
    fps = None
    if video.samples and video.seconds:
        fps = round(video.samples / video.seconds, 3)
    return MediaInfo(
        kind="video",
        container=container,
        duration=duration if duration is not None else video.seconds,
        width=video.width or None,
        height=video.height or None,
        fps=fps,
        video_codec=_VIDEO_CODECS.get(video.codec, _fourcc(video.codec)),
        audio_codec=audio_codec,
    )


def _fourcc(code: bytes) -> str | None:
    text = code.decode("latin-1").strip()
    return text if text.isprintable() and text else None


# -- WAV ------------------------------------------------------------------------------


def _wav(src: _Source) -> MediaInfo:
    byte_rate = 0
    data_size: int | None = None
    offset = 12
    count = 0
    while offset + 8 <= src.size:
        count += 1
        if count > _MAX_BOXES:
            raise NotMedia("too many chunks")
        kind, size = struct.unpack("<4sI", src.read(offset, 8))
        if kind == b"fmt ":
            if size < 16:
                raise NotMedia("the WAV fmt chunk is too short")
            (byte_rate,) = struct.unpack("<I", src.read(offset + 16, 4))
        elif kind == b"data":
            # Streamed WAVs leave the size at 0 or 0xFFFFFFFF: the rest of the file is data.
            rest = src.size - offset - 8
            data_size = rest if size in (0, 0xFFFFFFFF) or size > rest else size
            break
        offset += 8 + size + (size & 1)
    if not byte_rate:
        raise NotMedia("a WAV without a readable fmt chunk")
    if data_size is None:
        raise NotMedia("a WAV without a data chunk")
    return MediaInfo(
        kind="audio", container="wav", duration=data_size / byte_rate, audio_codec="pcm"
    )


# -- MP3 ------------------------------------------------------------------------------

_BITRATES = {  # kbit/s by (MPEG-1?, index), layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3(src: _Source) -> MediaInfo:
    start = 0
    head = src.read(0, 10)
    if head[:3] == b"ID3":
        size = (
            (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
        )
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    window = src.read(start, max(0, min(_MP3_SCAN, src.size - start)))
    for i in range(len(window) - 4):
        if window[i] != 0xFF or window[i + 1] & 0xE0 != 0xE0:
            continue
        info = _mp3_frame(src, start + i, window[i : i + 4])
        if info is not None:
            return info
    raise NotMedia("no MPEG audio layer III frame found")


def _mp3_frame(src: _Source, at: int, header: bytes) -> MediaInfo | None:
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (header[1] >> 1) & 3  # 1: layer III
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    rate = _RATES[version][rate_index]
    bitrate = _BITRATES[mpeg1][bitrate_index] * 1000
    samples_per_frame = 1152 if mpeg1 else 576
    mono = header[3] >> 6 == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    frames = _xing_frames(src, at + 4 + side) or _vbri_frames(src, at + 36)
    if frames:
        duration = frames * samples_per_frame / rate
    else:
        end = src.size - (128 if src.size >= 128 and src.read(src.size - 128, 3) == b"TAG" else 0)
        duration = max(0, end - at) * 8 / bitrate
    return MediaInfo(kind="audio", container="mp3", duration=duration, audio_codec="mp3")


def _xing_frames(src: _Source, at: int) -> int | None:
    if at + 12 > src.size:
        return None
    tag, flags, frames = struct.unpack(">4sII", src.read(at, 12))
    if tag in (b"Xing", b"Info") and flags & 1:
        return frames or None
    return None


def _vbri_frames(src: _Source, at: int) -> int | None:
    if at + 18 > src.size:
        return None
    block = src.read(at, 18)
    if block[:4] != b"VBRI":
        return None
    (frames,) = struct.unpack(">I", block[14:18])
    return frames or None
