"""Header sniffing (format and pixel size without decoding) and data URL parsing."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.spec._image_sniff import (
    ImageInfo,
    NotAnImage,
    parse_data_url,
    sniff_bytes,
    sniff_file,
)
from tests import imagedata

SNIFF_CASES: list[tuple[str, bytes, ImageInfo]] = [
    ("png IHDR", imagedata.png(1280, 720), ImageInfo("png", 1280, 720)),
    ("gif89a", imagedata.gif(640, 480), ImageInfo("gif", 640, 480)),
    ("gif87a", imagedata.gif(1000, 999, b"87a"), ImageInfo("gif", 1000, 999)),
    ("bmp bottom-up", imagedata.bmp(800, 600), ImageInfo("bmp", 800, 600)),
    ("bmp top-down (negative height)", imagedata.bmp(800, -600), ImageInfo("bmp", 800, 600)),
    ("bmp OS/2 core header", imagedata.bmp_os2(1024, 768), ImageInfo("bmp", 1024, 768)),
    ("webp VP8 lossy", imagedata.webp_vp8(1920, 1080), ImageInfo("webp", 1920, 1080)),
    ("webp VP8L lossless", imagedata.webp_vp8l(16383, 301), ImageInfo("webp", 16383, 301)),
    ("webp VP8X extended", imagedata.webp_vp8x(5000, 4000), ImageInfo("webp", 5000, 4000)),
    ("jpeg with APP1 before SOF0", imagedata.jpeg(1024, 768), ImageInfo("jpeg", 1024, 768)),
    (
        "jpeg without APP1",
        imagedata.jpeg(640, 480, exif_thumbnail=False),
        ImageInfo("jpeg", 640, 480),
    ),
    ("jpeg progressive SOF2", imagedata.jpeg(333, 444, sof=0xC2), ImageInfo("jpeg", 333, 444)),
    ("tiff little-endian II", imagedata.tiff(3000, 2000), ImageInfo("tiff", 3000, 2000)),
    (
        "tiff big-endian MM",
        imagedata.tiff(2000, 70000, big_endian=True),
        ImageInfo("tiff", 2000, 70000),
    ),
    ("heic ftyp heic", imagedata.heic(b"heic"), ImageInfo("heic")),
    ("heic ftyp heix", imagedata.heic(b"heix"), ImageInfo("heic")),
    ("heif ftyp mif1", imagedata.heic(b"mif1"), ImageInfo("heif")),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in SNIFF_CASES], ids=[c[0] for c in SNIFF_CASES]
)
def test_sniff_bytes_reads_format_and_size(data: bytes, expected: ImageInfo) -> None:
    """Each format's header gives the right format name, width and height."""
    assert sniff_bytes(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in SNIFF_CASES], ids=[c[0] for c in SNIFF_CASES]
)
def test_file_and_bytes_readers_agree(tmp_path: Path, data: bytes, expected: ImageInfo) -> None:
    """Reading the same image from disk and from memory gives the same answer."""
    path = tmp_path / "image.bin"
    path.write_bytes(data)
    assert sniff_file(path) == sniff_bytes(data) == expected


def test_jpeg_size_comes_from_the_frame_not_the_exif_thumbnail() -> None:
    """The decoy thumbnail SOF inside APP1 (160x120) is skipped by segment length."""
    data = imagedata.jpeg(2000, 1500)
    assert b"\xff\xc0" in data[: data.index(b"\xff\xdb")]  # the decoy is really there
    assert sniff_bytes(data) == ImageInfo("jpeg", 2000, 1500)


def test_jpeg_fill_bytes_between_segments_are_skipped() -> None:
    """0xFF fill bytes before a marker do not stop the segment walk."""
    data = imagedata.jpeg(700, 500, exif_thumbnail=False)
    padded = data[:2] + b"\xff\xff\xff" + data[2:]
    assert sniff_bytes(padded) == ImageInfo("jpeg", 700, 500)


def test_jpeg_without_frame_header_has_unknown_size() -> None:
    """A JPEG whose scan starts before any SOF is still a JPEG, with no size."""
    data = b"\xff\xd8" + b"\xff\xda\x00\x02" + b"\x00" * 8 + b"\xff\xd9"
    assert sniff_bytes(data) == ImageInfo("jpeg", None, None)


def test_tiff_ifd_beyond_the_end_has_unknown_size() -> None:
    """A TIFF whose IFD offset points past the data is a TIFF of unknown size."""
    assert sniff_bytes(b"II*\x00" + b"\xff\xff\x00\x00") == ImageInfo("tiff", None, None)


GARBAGE: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("text", b"hello, world"),
    ("html", b"<!doctype html><html></html>"),
    ("png signature only", b"\x89PNG\r\n\x1a\n"),
    ("gif truncated", b"GIF89a\x01"),
    ("bmp truncated", b"BM\x00\x00"),
    ("webp VP8 truncated", imagedata.webp_vp8(100, 100)[:27]),
    ("webp VP8L truncated", imagedata.webp_vp8l(100, 100)[:22]),
    ("webp VP8X truncated", imagedata.webp_vp8x(100, 100)[:27]),
    ("tiff truncated", b"II*\x00\x08"),
    ("ftyp of a video", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"),
    ("riff but not webp", b"RIFF\x24\x00\x00\x00WAVEfmt "),
]


@pytest.mark.parametrize("data", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_is_not_an_image(tmp_path: Path, data: bytes) -> None:
    """Unknown or truncated headers raise NotAnImage from both readers."""
    with pytest.raises(NotAnImage):
        sniff_bytes(data)
    path = tmp_path / "garbage.bin"
    path.write_bytes(data)
    with pytest.raises(NotAnImage):
        sniff_file(path)


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    """A path that cannot be opened raises OSError, not NotAnImage."""
    with pytest.raises(FileNotFoundError):
        sniff_file(tmp_path / "missing.png")


MAGICS = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic",
]


@given(st.sampled_from(MAGICS), st.binary(max_size=300))
def test_random_bytes_raise_only_not_an_image(magic: bytes, tail: bytes) -> None:
    """Any byte string sniffs to an ImageInfo or raises NotAnImage, never anything else."""
    try:
        info = sniff_bytes(magic + tail)
    except NotAnImage:
        return
    assert info.format in {"png", "jpeg", "gif", "bmp", "webp", "tiff", "heic", "heif"}
    assert info.width is None or info.width >= 0
    assert info.height is None or info.height >= 0


@given(st.sampled_from(MAGICS), st.binary(max_size=200))
def test_random_files_agree_with_bytes(
    tmp_path_factory: pytest.TempPathFactory, magic: bytes, tail: bytes
) -> None:
    """For any content the file reader and the bytes reader give the same outcome."""
    data = magic + tail
    path = tmp_path_factory.mktemp("sniff") / "random.bin"
    path.write_bytes(data)
    try:
        expected: ImageInfo | None = sniff_bytes(data)
    except NotAnImage:
        expected = None
    try:
        got: ImageInfo | None = sniff_file(path)
    except NotAnImage:
        got = None
    assert got == expected


def test_parse_data_url_returns_format_and_bytes() -> None:
    """``data:image/png;base64,...`` splits into the declared format and the decoded bytes."""
    raw = imagedata.png(400, 400)
    assert parse_data_url("data:image/png;base64," + base64.b64encode(raw).decode()) == ("png", raw)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/png,AAAA", "expected data:image/<format>;base64"),
        ("data:text/plain;base64,AAAA", "expected data:image/<format>;base64"),
        ("data:image/png;base64", "expected data:image/<format>;base64"),
        ("https://example.com/a.png", "expected data:image/<format>;base64"),
        ("data:image/png;base64,@@@@", "not valid base64"),
        ("data:image/png;base64,AAA", "not valid base64"),
    ],
)
def test_parse_data_url_rejects_malformed_urls(url: str, message: str) -> None:
    """Wrong prefixes and broken base64 raise ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_data_url(url)
