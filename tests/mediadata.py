"""Tiny but structurally real media files for the tests: MP4/MOV headers, WAV, MP3.

Each builder writes only what a header reader looks at (the ``moov`` boxes of an MP4, the
``fmt``/``data`` chunks of a WAV, MPEG frame headers of an MP3) with the values asked for,
so a test can say "a 16 s clip at 30 fps, 1280x720, H.265" in one call.
"""

from __future__ import annotations

import struct

__all__ = ["mp3", "mp4", "wav"]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]) + payload)


def _track(
    handler: bytes, codec: bytes, seconds: float, width: int, height: int, fps: float
) -> bytes:
    timescale = 12800
    duration = round(seconds * timescale)
    tkhd = _full(
        b"tkhd",
        struct.pack(
            ">IIIII8xhhhh36xII", 0, 0, 1, 0, duration, 0, 0, 0, 0, width << 16, height << 16
        ),
    )
    mdhd = _full(b"mdhd", struct.pack(">IIIIhh", 0, 0, timescale, duration, 0, 0))
    hdlr = _full(b"hdlr", struct.pack(">I4s12x", 0, handler) + b"\0")
    entry = _box(
        codec, bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", width, height)
    )
    stsd = _full(b"stsd", struct.pack(">I", 1) + entry)
    samples = round(seconds * fps) if fps else round(seconds * 43)
    delta = round(duration / samples) if samples else 0
    stts = _full(b"stts", struct.pack(">III", 1, samples, delta))
    stbl = _box(b"stbl", stsd + stts)
    minf = _box(b"minf", stbl)
    mdia = _box(b"mdia", mdhd + hdlr + minf)
    return _box(b"trak", tkhd + mdia)


def mp4(
    *,
    seconds: float = 5.0,
    width: int = 1280,
    height: int = 720,
    fps: float = 24.0,
    codec: bytes = b"avc1",
    audio: bytes | None = b"mp4a",
    brand: bytes = b"isom",
    moov_last: bool = False,
    mdat_bytes: int = 64,
) -> bytes:
    """An MP4 (``brand=b"qt  "``: a MOV) with one video track and optionally one audio track."""
    ftyp = _box(b"ftyp", brand + struct.pack(">I", 512) + brand)
    mvhd = _full(b"mvhd", struct.pack(">IIII", 0, 0, 1000, round(seconds * 1000)) + bytes(80))
    tracks = _track(b"vide", codec, seconds, width, height, fps)
    if audio is not None:
        tracks += _track(b"soun", audio, seconds, 0, 0, 0)
    moov = _box(b"moov", mvhd + tracks)
    mdat = _box(b"mdat", bytes(mdat_bytes))
    return ftyp + (mdat + moov if moov_last else moov + mdat)


def wav(*, seconds: float = 3.0, rate: int = 8000, channels: int = 1, bits: int = 16) -> bytes:
    """A PCM WAV of silence."""
    block = channels * bits // 8
    data = bytes(round(seconds * rate) * block)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    body = (
        b"WAVE"
        + struct.pack("<4sI", b"fmt ", 16)
        + fmt
        + struct.pack("<4sI", b"data", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp3(*, seconds: float = 3.0, xing: bool = True, id3: bool = True) -> bytes:
    """An MPEG-1 layer III stream at 128 kbit/s, 44.1 kHz (frames of silence)."""
    frame_len = 144 * 128000 // 44100  # 417 bytes, no padding
    frames = round(seconds * 44100 / 1152)
    header = bytes([0xFF, 0xFB, 0x90, 0x44])  # MPEG-1 L3, 128 kbit/s, 44.1 kHz, joint stereo
    out = bytearray()
    if id3:
        out += b"ID3" + bytes([4, 0, 0, 0, 0, 0, 10]) + bytes(10)
    if xing:
        first = header + bytes(32) + b"Xing" + struct.pack(">II", 1, frames)
        out += first + bytes(frame_len - len(first))
    for _ in range(frames):
        out += header + bytes(frame_len - 4)
    return bytes(out)
