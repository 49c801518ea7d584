"""Tiny but valid result files: an MP4 per task and a PNG last frame.

Real results are signed links to TOS objects (Ark's "Query a video generation task"): an MP4 video
and, with ``return_last_frame``, a PNG "same size as the video, no watermark". The simulator
serves files that every parser accepts and that differ per task, without encoding video:

* MP4: ``ftyp`` + ``moov``/``mvhd`` (duration in ms) + ``mdat`` with bytes derived from the
  task id, a few hundred bytes in all.
* PNG: one solid colour (chosen by the task id) at the video's pixel size; solid rows
  compress to a few kilobytes even at 1920x1088, and the result is cached per size/colour.

Reference clips for Seedance 2.x (what a client sends, which the simulated providers read
back from their headers): :func:`reference_video` (MP4/MOV with a video track: duration,
size, frame rate and codec in ``tkhd``/``mdhd``/``stsd``/``stts``), :func:`reference_audio`
(PCM WAV or MPEG-1 layer III at 128 kbit/s). They hold headers and silence, no pictures.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

__all__ = [
    "MP4_MAJOR_BRAND",
    "PNG_SIGNATURE",
    "mp4_bytes",
    "png_bytes",
    "png_for_task",
    "reference_audio",
    "reference_video",
]

MP4_MAJOR_BRAND = b"isom"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MDAT_SIZE = 256
_UNITY_MATRIX = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
# Sixteen muted colours: enough variety that two tasks rarely share a frame.
_PALETTE = tuple((40 + (i * 53) % 176, 60 + (i * 97) % 156, 80 + (i * 31) % 136) for i in range(16))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _mvhd(duration_ms: int) -> bytes:
    # Version 0 movie header (ISO/IEC 14496-12 §8.2.2): times are 32-bit, timescale 1000.
    payload = struct.pack(
        ">B3xIIII",
        0,  # version (flags follow as 3 zero bytes)
        0,  # creation_time: fixed so the file is deterministic
        0,  # modification_time
        1000,  # timescale: milliseconds
        duration_ms,
    )
    payload += struct.pack(">IH10x", 0x00010000, 0x0100)  # rate 1.0, volume 1.0, reserved
    payload += struct.pack(">9I", *_UNITY_MATRIX)
    payload += bytes(24)  # pre_defined
    payload += struct.pack(">I", 2)  # next_track_ID
    return _box(b"mvhd", payload)


def mp4_bytes(task_id: str, duration_s: float) -> bytes:
    """A minimal valid MP4 (``ftyp``, ``moov``/``mvhd``, ``mdat``), deterministic per task.

    Args:
        task_id: seeds the ``mdat`` payload so that every task's file differs.
        duration_s: written to ``mvhd`` in milliseconds.

    Returns:
        The file's bytes (about 400).
    """
    ftyp = _box(b"ftyp", MP4_MAJOR_BRAND + struct.pack(">I", 0x200) + b"isomiso2mp41")
    moov = _box(b"moov", _mvhd(max(0, round(duration_s * 1000))))
    seed = hashlib.sha256(task_id.encode()).digest()
    mdat = _box(b"mdat", (seed * (_MDAT_SIZE // len(seed) + 1))[:_MDAT_SIZE])
    return ftyp + moov + mdat


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@functools.lru_cache(maxsize=32)
def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid 8-bit RGB PNG of one colour.

    Args:
        width: pixels, at least 1.
        height: pixels, at least 1.
        rgb: the colour.

    Returns:
        The file's bytes; cached, since solid frames of one size and colour are identical.
    """
    width, height = max(1, width), max(1, height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (None) per scanline
    compressor = zlib.compressobj(6)
    # Feed row by row: never holds the whole raw image (6 MB at 1080p) in memory.
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def png_for_task(task_id: str, width: int, height: int) -> bytes:
    """The last frame PNG of a task: its pixel size, a colour picked by its id."""
    colour = _PALETTE[hashlib.sha256(task_id.encode()).digest()[0] % len(_PALETTE)]
    return png_bytes(width, height, colour)


def _full_box(kind: bytes, payload: bytes) -> bytes:
    return _box(kind, bytes(4) + payload)  # version 0, no flags


def _trak(handler: bytes, codec: bytes, seconds: float, size: tuple[int, int], fps: float) -> bytes:
    timescale = 12_800  # what common encoders use for 24/25/30 fps video
    ticks = round(seconds * timescale)
    width, height = size
    tkhd = _full_box(
        b"tkhd",
        struct.pack(">IIII", 0, 0, 1, 0)
        + struct.pack(">I", ticks)
        + bytes(8)
        + struct.pack(">hhhh", 0, 0, 0, 0)
        + struct.pack(">9I", *_UNITY_MATRIX)
        + struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, timescale, ticks, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", struct.pack(">I4s12x", 0, handler) + b"\0")
    sample_entry = bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", width, height)
    stsd = _full_box(b"stsd", struct.pack(">I", 1) + _box(codec, sample_entry))
    rate = fps if fps > 0 else 44_100 / 1024  # audio: one AAC frame per 1024 samples
    samples = max(1, round(seconds * rate))
    stts = _full_box(b"stts", struct.pack(">III", 1, samples, round(ticks / samples)))
    minf = _box(b"minf", _box(b"stbl", stsd + stts))
    return _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))


def reference_video(
    *,
    seconds: float = 5.0,
    width: int = 1280,
    height: int = 720,
    fps: float = 24.0,
    codec: str = "avc1",
    container: str = "mp4",
    audio: bool = True,
    moov_last: bool = False,
    media_bytes: int = _MDAT_SIZE,
) -> bytes:
    """A reference clip whose headers say what you ask (no real pictures).

    Args:
        seconds / width / height / fps: what ``mvhd``, ``tkhd``, ``mdhd`` and ``stts`` report.
        codec: the video sample entry: ``avc1`` (H.264), ``hvc1`` (H.265), ``av01``...
        container: ``mp4`` or ``mov`` (the ``qt  `` brand).
        audio: add an AAC track.
        moov_last: put the headers after the media data (a file not made for streaming:
            a reader must look at its end).
        media_bytes: size of the (zero-filled) media data.
    """
    brand = b"qt  " if container == "mov" else MP4_MAJOR_BRAND
    ftyp = _box(b"ftyp", brand + struct.pack(">I", 0x200) + brand)
    tracks = _trak(b"vide", codec.encode("latin-1")[:4].ljust(4), seconds, (width, height), fps)
    if audio:
        tracks += _trak(b"soun", b"mp4a", seconds, (0, 0), 0)
    moov = _box(b"moov", _mvhd(max(0, round(seconds * 1000))) + tracks)
    mdat = _box(b"mdat", bytes(media_bytes))
    return ftyp + (mdat + moov if moov_last else moov + mdat)


_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0x44])  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
_MP3_FRAME_BYTES = 144 * 128_000 // 44_100


def reference_audio(*, seconds: float = 5.0, container: str = "wav") -> bytes:
    """A silent reference track: 8 kHz mono PCM ``wav``, or a constant-bitrate ``mp3``."""
    if container == "mp3":
        frames = max(1, round(seconds * 44_100 / 1152))
        return (_MP3_FRAME + bytes(_MP3_FRAME_BYTES - 4)) * frames
    rate = 8000
    data = bytes(round(seconds * rate) * 2)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + _box_le(b"fmt ", fmt) + _box_le(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _box_le(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload
