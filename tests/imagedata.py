"""Small real image files built by hand (struct/zlib, no Pillow) for sniffing and validation.

Each builder returns the bytes of a file whose header states the given width and height.
PNG files are complete (1-bit greyscale, zlib-compressed zero rows) so any decoder would
open them; the other formats carry a valid header and a minimal body.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = [
    "bmp",
    "bmp_os2",
    "gif",
    "heic",
    "jpeg",
    "png",
    "sparse_copy",
    "tiff",
    "webp_vp8",
    "webp_vp8l",
    "webp_vp8x",
]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width: int, height: int) -> bytes:
    """A complete 1-bit greyscale PNG of ``width`` x ``height`` black pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    """A GIF with a logical screen of ``width`` x ``height`` and one 1x1 image."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # global colour table, 2 colours
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    data = b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator
    return b"GIF" + version + screen + palette + image + data + b"\x3b"


def bmp(width: int, height: int) -> bytes:
    """A 24-bit BMP with a BITMAPINFOHEADER; a negative height means top-down rows."""
    row = (abs(width) * 3 + 3) // 4 * 4
    pixels = b"\x00" * (row * min(abs(height), 2))  # a couple of rows are enough
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + pixels


def bmp_os2(width: int, height: int) -> bytes:
    """An OS/2 BMP with the 12-byte BITMAPCOREHEADER (16-bit width and height)."""
    info = struct.pack("<IHHHH", 12, width, height, 1, 24)
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset, 0, 0, offset) + info


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width: int, height: int, *, exif_thumbnail: bool = True, sof: int = 0xC0) -> bytes:
    """A baseline JPEG header: SOI, APP1 (EXIF with a decoy thumbnail SOF), SOF, SOS, EOI.

    The APP1 segment embeds a thumbnail whose own SOF0 says 160x120, so a reader that
    scans for the first ``FF C0`` instead of walking segments reports the wrong size.
    """
    out = b"\xff\xd8"
    if exif_thumbnail:
        thumb = b"\xff\xd8" + _segment(0xC0, struct.pack(">BHHB", 8, 120, 160, 1) + b"\x01\x11\x00")
        out += _segment(0xE1, b"Exif\x00\x00" + b"MM\x00*" + thumb + b"\xff\xd9")
    out += _segment(0xDB, b"\x00" + bytes(range(64)))  # a quantisation table
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += _segment(sof, struct.pack(">BHHB", 8, height, width, 3) + components)
    out += _segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00") + b"\x00\x00"
    return out + b"\xff\xd9"


def _riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8(width: int, height: int) -> bytes:
    """A lossy WebP: frame tag, start code 9d 01 2a, 14-bit width and height."""
    payload = b"\x9d\x01\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8
    return _riff(b"VP8 ", payload)


def webp_vp8l(width: int, height: int) -> bytes:
    """A lossless WebP: signature 0x2f, then 14-bit (width-1) and (height-1)."""
    bits = (width - 1) | ((height - 1) << 14)
    return _riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 4)


def webp_vp8x(width: int, height: int) -> bytes:
    """An extended WebP: flags, 24-bit (canvas width-1) and (canvas height-1)."""
    payload = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    payload += (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X", payload)


def tiff(width: int, height: int, *, big_endian: bool = False) -> bytes:
    """A TIFF with one IFD: ImageWidth as SHORT, ImageLength as LONG."""
    order = ">" if big_endian else "<"
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8)
    entries = struct.pack(order + "HHIH2x", 256, 3, 1, width)  # SHORT, left-justified
    entries += struct.pack(order + "HHII", 257, 4, 1, height)  # LONG
    entries += struct.pack(order + "HHIH2x", 259, 3, 1, 1)  # Compression: none
    return head + struct.pack(order + "H", 3) + entries + struct.pack(order + "I", 0)


def heic(brand: bytes = b"heic") -> bytes:
    """An HEIF/HEIC ``ftyp`` box with the given major brand."""
    box = b"ftyp" + brand + struct.pack(">I", 0) + b"mif1" + brand
    return struct.pack(">I", len(box) + 4) + box + b"\x00" * 16


def sparse_copy(path: Path, header: bytes, size: int) -> Path:
    """Write ``header`` then extend the file to ``size`` bytes without writing the rest."""
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(size)
    return path
