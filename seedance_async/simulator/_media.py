"""Tiny but valid result files: an MP4 per task and a PNG last frame.

Real results are signed links to TOS objects (Ark's "Query a video generation task"): an MP4 video
and, with ``return_last_frame``, a PNG "same size as the video, no watermark". The simulator
serves files that every parser accepts and that differ per task, without encoding video:

* MP4: ``ftyp`` + ``moov``/``mvhd`` (duration in ms) + ``mdat`` with bytes derived from the
  task id, a few hundred bytes in all.
* PNG: one solid colour (chosen by the task id) at the video's pixel size; solid rows
  compress to a few kilobytes even at 1920x1088, and the result is cached per size/colour.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

__all__ = ["MP4_MAJOR_BRAND", "PNG_SIGNATURE", "mp4_bytes", "png_bytes", "png_for_task"]

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
