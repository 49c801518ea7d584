"""Reference media read from their headers: MP4/MOV, WAV, MP3; and the file rules on them."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedance_async import InvalidTaskSpec, validate
from seedance_async.spec._media_sniff import (
    MediaInfo,
    NotMedia,
    sniff_media_bytes,
    sniff_media_file,
)
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, Video
from tests import mediadata

V20 = "doubao-seedance-2-0-260128"
V25 = "dreamina-seedance-2-5-260628"
IMG = Image.from_url("https://example.com/a.png", role="reference_image")

# -- the parser -------------------------------------------------------------------------------


def test_mp4_header_facts() -> None:
    info = sniff_media_bytes(mediadata.mp4(seconds=7.5, width=1920, height=1080, fps=30))
    assert info == MediaInfo(
        kind="video",
        container="mp4",
        duration=7.5,
        width=1920,
        height=1080,
        fps=30.0,
        video_codec="h264",
        audio_codec="aac",
    )


def test_mov_with_moov_after_the_media_and_hevc() -> None:
    data = mediadata.mp4(brand=b"qt  ", codec=b"hvc1", audio=None, moov_last=True, mdat_bytes=5000)
    info = sniff_media_bytes(data)
    assert (info.container, info.video_codec, info.audio_codec) == ("mov", "hevc", None)


def test_an_mp4_with_only_sound_is_audio() -> None:
    data = mediadata.mp4()
    # Turn the video track's handler into a second sound track.
    data = data.replace(b"vide", b"soun", 1)
    assert sniff_media_bytes(data).kind == "audio"


def test_wav_and_mp3_durations() -> None:
    assert sniff_media_bytes(mediadata.wav(seconds=4.5, rate=16000)).duration == 4.5
    assert sniff_media_bytes(mediadata.mp3(seconds=6)).duration == pytest.approx(6, abs=0.05)
    cbr = sniff_media_bytes(mediadata.mp3(seconds=6, xing=False, id3=False))
    assert cbr.container == "mp3"
    assert cbr.duration == pytest.approx(6, abs=0.05)


def test_file_and_bytes_agree(tmp_path: Path) -> None:
    data = mediadata.mp4(moov_last=True, mdat_bytes=100_000)
    (tmp_path / "v.mp4").write_bytes(data)
    assert sniff_media_file(tmp_path / "v.mp4") == sniff_media_bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF\x00\x00\x00\x00WAVE",
        b"\x00\x00\x00\x08ftyp" + b"\x00" * 8,
        struct.pack(">I4s", 0xFFFFFFF0, b"ftyp") + b"isom",
        b"GIF89a" + bytes(20),
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(100),
    ],
)
def test_malformed_input_is_not_media(data: bytes) -> None:
    with pytest.raises(NotMedia):
        sniff_media_bytes(data)


_VALID = [mediadata.mp4(), mediadata.mp4(moov_last=True), mediadata.wav(), mediadata.mp3()]


@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(NotMedia):
        sniff_media_bytes(data)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(
    st.sampled_from(_VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_and_cut_files_never_crash(
    data: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    """Corrupted sizes, counts and truncations give a MediaInfo or NotMedia, nothing else."""
    buf = bytearray(data)
    for at, value in flips:
        buf[at % len(buf)] = value
    with contextlib.suppress(NotMedia):
        sniff_media_bytes(bytes(buf[: max(0, len(buf) - cut)]))


# -- local files against the model's limits -----------------------------------------------------


def _check(tmp_path: Path, model: str = V20, **media: bytes) -> tuple[str, ...]:
    videos, audios = [], []
    for name, data in media.items():
        path = tmp_path / name.replace("_", ".")
        path.write_bytes(data)
        if name.startswith("v"):
            videos.append(Video.from_path(path))
        else:
            audios.append(Audio.from_path(path))
    task = VideoTask(model=model, prompt="p", images=[IMG], videos=videos, audios=audios)
    try:
        validate(task)
    except InvalidTaskSpec as exc:
        return exc.fields
    return ()


def test_good_local_clips_pass(tmp_path: Path) -> None:
    assert (
        _check(tmp_path, v1_mp4=mediadata.mp4(), a1_wav=mediadata.wav(), a2_mp3=mediadata.mp3())
        == ()
    )


@pytest.mark.parametrize(
    "clip",
    [
        mediadata.mp4(seconds=16),
        mediadata.mp4(seconds=1.5),
        mediadata.mp4(fps=20),
        mediadata.mp4(fps=120),
        mediadata.mp4(width=640, height=480),  # 307,200 pixels: under the floor
        mediadata.mp4(width=2000, height=400),  # aspect 5
        mediadata.mp4(codec=b"vp09"),
        mediadata.wav(),  # a header that is not a video
        b"not a video",
    ],
)
def test_bad_local_videos_are_refused(tmp_path: Path, clip: bytes) -> None:
    assert _check(tmp_path, v1_mp4=clip) == ("videos[0].path",)


def test_2_5_takes_longer_clips(tmp_path: Path) -> None:
    assert _check(tmp_path, V25, v1_mp4=mediadata.mp4(seconds=25)) == ()


def test_total_video_length(tmp_path: Path) -> None:
    assert _check(tmp_path, v1_mp4=mediadata.mp4(seconds=8), v2_mp4=mediadata.mp4(seconds=8)) == (
        "videos",
    )
    assert _check(tmp_path, v1_mp4=mediadata.mp4(seconds=7), v2_mp4=mediadata.mp4(seconds=8)) == ()


def test_bad_local_audio_is_refused(tmp_path: Path) -> None:
    assert _check(tmp_path, a1_wav=mediadata.wav(seconds=16)) == ("audios[0].path",)
    assert _check(tmp_path, a1_mp3=mediadata.mp4()) == ("audios[0].path",)
    assert _check(tmp_path, a1_wav=mediadata.wav(seconds=8), a2_wav=mediadata.wav(seconds=8)) == (
        "audios",
    )


def test_unreadable_local_file(tmp_path: Path) -> None:
    task = VideoTask(
        model=V20, prompt="p", images=[IMG], videos=[Video.from_path(tmp_path / "none.mp4")]
    )
    with pytest.raises(InvalidTaskSpec) as info:
        validate(task)
    assert info.value.fields == ("videos[0].path",)
    assert "readable" in info.value.violations[0].rule
    validate(task, check_files=False)
