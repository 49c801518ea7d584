"""Image facts read from headers only: format, width and height, without decoding pixels.

Providers refuse images by format, size, dimensions and aspect ratio after an upload and a
round trip; reading a few header bytes lets us refuse them first (the limits themselves are
in ``catalog/seedance.toml``).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Callable
from typing import BinaryIO

import attrs

__all__ = [
    "ImageInfo",
    "parse_data_url",
    "sniff_bytes",
    "sniff_file",
]

ReadAt = Callable[[int, int], bytes]


@attrs.frozen
class ImageInfo:
    """Format (``png``, ``jpeg``...) and pixel size; size is None where the header hides it."""

    format: str
    width: int | None = None
    height: int | None = None


class NotAnImage(ValueError):
    """The bytes are not in any image format we know."""


def _png(read: ReadAt) -> ImageInfo:
    w, h = struct.unpack(">II", read(16, 8))
    return ImageInfo("png", w, h)


def _gif(read: ReadAt) -> ImageInfo:
    w, h = struct.unpack("<HH", read(6, 4))
    return ImageInfo("gif", w, h)


def _bmp(read: ReadAt) -> ImageInfo:
    (header_size,) = struct.unpack("<I", read(14, 4))
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit width and height
        w, h = struct.unpack("<HH", read(18, 4))
        return ImageInfo("bmp", w, h)
    w, h = struct.unpack("<ii", read(18, 8))
    return ImageInfo("bmp", abs(w), abs(h))


def _webp(read: ReadAt) -> ImageInfo:
    chunk = read(12, 4)
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", read(26, 4))
        return ImageInfo("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", read(21, 4))
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        b = read(24, 6)
        if len(b) < 6:
            raise struct.error("truncated VP8X header")
        return ImageInfo(
            "webp", int.from_bytes(b[:3], "little") + 1, int.from_bytes(b[3:], "little") + 1
        )
    return ImageInfo("webp")


_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _jpeg(read: ReadAt) -> ImageInfo:
    # Walk the marker segments to the first start-of-frame; EXIF thumbnails sit in APP1
    # segments that are skipped by length, so their SOF markers are never mistaken for ours.
    offset = 2
    for _ in range(10_000):
        head = read(offset, 4)
        if len(head) < 4 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        length = struct.unpack(">H", head[2:4])[0]
        if marker in _SOF_MARKERS:
            body = read(offset + 5, 4)
            if len(body) == 4:
                h, w = struct.unpack(">HH", body)
                return ImageInfo("jpeg", w, h)
            break
        if marker == 0xDA:  # start of scan: no frame header before it
            break
        offset += 2 + length
    return ImageInfo("jpeg")


def _tiff(read: ReadAt) -> ImageInfo:
    order = "<" if read(0, 2) == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", read(4, 4))
    raw_count = read(ifd, 2)
    if len(raw_count) < 2:
        return ImageInfo("tiff")
    (count,) = struct.unpack(order + "H", raw_count)
    dims: dict[int, int] = {}
    for i in range(min(count, 512)):
        entry = read(ifd + 2 + 12 * i, 12)
        if len(entry) < 12:
            break
        tag, typ = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if typ == 3 else "I"
            value = struct.unpack(order + fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
            dims[tag] = value
    return ImageInfo("tiff", dims.get(256), dims.get(257))


_HEIF_BRANDS = {
    b"heic": "heic",
    b"heix": "heic",
    b"hevc": "heic",
    b"heim": "heic",
    b"heis": "heic",
    b"mif1": "heif",
    b"msf1": "heif",
    b"heif": "heif",
}


def _sniff(read: ReadAt) -> ImageInfo:
    head = read(0, 32)
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(read)
        if head.startswith(b"\xff\xd8\xff"):
            return _jpeg(read)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(read)
        if head.startswith(b"BM"):
            return _bmp(read)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _webp(read)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(read)
        if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
            return ImageInfo(_HEIF_BRANDS[head[8:12]])
    except struct.error as exc:
        raise NotAnImage("truncated image header") from exc
    raise NotAnImage("not a known image format")


def sniff_bytes(data: bytes) -> ImageInfo:
    """Format and size of an in-memory image.

    Raises:
        NotAnImage: unknown format or truncated header.
    """
    view = memoryview(data)
    return _sniff(lambda off, n: bytes(view[off : off + n]))


def sniff_file(path: str | os.PathLike[str]) -> ImageInfo:
    """Format and size of an image file, reading only the header segments.

    Raises:
        NotAnImage: unknown format or truncated header.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        return _sniff(_file_reader(fh))


def _file_reader(fh: BinaryIO) -> ReadAt:
    def read(offset: int, n: int) -> bytes:
        fh.seek(offset)
        return fh.read(n)

    return read


def parse_data_url(url: str) -> tuple[str, bytes]:
    """Split ``data:image/<fmt>;base64,<data>`` into the declared format and the bytes.

    Raises:
        ValueError: not a base64 image data URL.
    """
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:image/") or not header.endswith(";base64"):
        raise ValueError("expected data:image/<format>;base64,<data>")
    fmt = header[len("data:image/") : -len(";base64")]
    try:
        return fmt, base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError("data URL payload is not valid base64") from exc
