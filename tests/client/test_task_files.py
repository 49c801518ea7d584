"""Which files already at a destination count as whole (and are not downloaded again)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from seedance_async.client._task_files import looks_whole
from seedance_async.simulator._media import mp4_bytes, png_bytes

MP4 = mp4_bytes("cgt-1", 5)
PNG = png_bytes(16, 9, (10, 20, 30))
# An mdat with a 64-bit size (size field 1), then a box that runs to the end (size 0).
LARGE = MP4[:-264] + struct.pack(">I4sQ", 1, b"mdat", 16 + 8) + b"x" * 8
TO_END = MP4 + struct.pack(">I4s", 0, b"free") + b"tail bytes"

CASES = [
    ("a whole mp4", MP4, True),
    ("an mp4 cut short", MP4[: len(MP4) // 2], False),
    ("an mp4 cut one byte short", MP4[:-1], False),
    ("an mp4 with a 64-bit box", LARGE, True),
    ("an mp4 whose last box runs to the end", TO_END, True),
    ("an mp4 cut inside a box header", MP4 + b"\0\0\0", False),
    ("a whole png", PNG, True),
    ("a png without its end chunk", PNG[:-12], False),
    ("another format", b"GIF89a...", True),
    ("an empty file", b"", False),
]


@pytest.mark.parametrize(("data", "whole"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_files_cut_short_are_told_apart(data: bytes, whole: bool, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert looks_whole(path) is whole


def test_a_missing_file_is_not_whole(tmp_path: Path) -> None:
    assert not looks_whole(tmp_path / "nothing.mp4")
