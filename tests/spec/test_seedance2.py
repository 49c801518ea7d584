"""Seedance 2.x in the spec: reference videos and audio, the new fields, the refused 1.x
fields, ``extra``, and the JSONL format; each rule with a failing and a passing case."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from seedance_async import InvalidTaskSpec, dump_task, load_task
from seedance_async.spec import task_hash
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, Video
from tests import mediadata

V20 = "doubao-seedance-2-0-260128"
FAST = "dreamina-seedance-2-0-fast-260128"
MINI = "bytedance/dreamina-seedance-2-0-mini"
V25 = "dreamina-seedance-2-5-260628"
PRO15 = "doubao-seedance-1-5-pro-251215"
PRO10 = "doubao-seedance-1-0-pro-250528"

IMG = Image.from_url("https://example.com/a.png", role="reference_image")
VID = Video.from_url("https://example.com/a.mp4")
AUD = Audio.from_url("https://example.com/a.mp3")


def _fields(**kwargs: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(**kwargs)
    return info.value.fields


# -- the JSONL format -------------------------------------------------------------------------

LINE = {
    "model": "seedance-2.0",
    "prompt": "Image 1 walks through Video 1 to Audio 1",
    "images": [{"url": "https://example.com/boy.png", "role": "reference_image"}],
    "videos": [{"url": "asset://asset-20260101-abc", "role": "reference_video"}],
    "audios": [{"path": "bgm.mp3", "role": "reference_audio"}],
    "duration": -1,
    "ratio": "adaptive",
    "resolution": "4k",
    "generate_audio": True,
    "tools": ["web_search"],
    "priority": 3,
    "safety_identifier": "9f86d081884c7d65",
    "extra": {"some_new_field": {"x": 1}},
    "metadata": {"row": 1},
}


def test_the_batch_line_loads_and_dumps_back_unchanged() -> None:
    """The issue's line format: images/videos/audios with roles, every 2.x field, extra."""
    task = load_task(json.loads(json.dumps(LINE)))
    assert task.scenario == "multimodal_reference"
    assert task.videos == (Video(url="asset://asset-20260101-abc"),)
    assert task.audios == (Audio(path="bgm.mp3"),)
    assert task.tools == ("web_search",)
    assert dump_task(task) == LINE
    assert load_task(dump_task(task)) == task


def test_roles_may_be_left_out_and_are_written_back() -> None:
    """``{"url"}`` alone is a reference video / audio: there is no other role."""
    task = load_task({"model": V20, "videos": [{"url": "https://e.com/v.mp4"}], "prompt": "p"})
    assert dump_task(task)["videos"] == [{"url": "https://e.com/v.mp4", "role": "reference_video"}]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ({"videos": [{"url": "https://e.com/v.mp4", "role": "reference_image"}]}, "videos[0].role"),
        ({"audios": "https://e.com/a.mp3"}, "audios"),
        ({"tools": "web_search"}, "tools"),
        ({"tools": ["web_browse"]}, "tools[0]"),
        ({"priority": "3"}, "priority"),
        ({"extra": ["x"]}, "extra"),
        ({"videos": [{"uri": "https://e.com/v.mp4"}]}, "videos[0].uri"),
    ],
)
def test_wrong_shapes_name_their_json_path(line: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidTaskSpec) as info:
        load_task({"model": V20, "prompt": "p", **line})
    assert path in info.value.fields


# The hashes of these 1.x specs as the library computed them before 2.x existed: journals on
# disk key their rows by them, so they must never change.
LEGACY_HASHES = [
    (
        {
            "model": PRO15,
            "prompt": "a corgi",
            "images": [{"url": "https://e.com/a.png", "role": "first_frame"}],
            "resolution": "720p",
            "ratio": "adaptive",
            "duration": -1,
            "seed": 7,
            "camera_fixed": False,
            "watermark": True,
            "return_last_frame": True,
            "generate_audio": True,
            "service_tier": "flex",
            "execution_expires_after": 3600,
            "callback_url": "https://cb",
            "metadata": {"row": 1},
        },
        "7b2a8cb23a7121df10a02ed616c721c5c0b23018f55ac4250b387c9496465059",
    ),
    (
        {
            "model": "doubao-seedance-1-0-lite-i2v-250428",
            "prompt": "x",
            "images": [
                {"url": "https://e.com/a.png", "role": "reference_image"},
                {"path": "a.png", "role": "reference_image"},
            ],
            "frames": 29,
        },
        "ab876d13761a82ec60d8574174378d6382b239f35b7c1c0d8fceb62cfc55847c",
    ),
]


@pytest.mark.parametrize(("line", "expected"), LEGACY_HASHES)
def test_task_hash_of_1x_specs_is_unchanged(line: dict[str, Any], expected: str) -> None:
    assert task_hash(load_task(line)) == expected


def test_new_fields_change_the_hash() -> None:
    base = VideoTask(model=V20, prompt="p")
    assert task_hash(base) != task_hash(VideoTask(model=V20, prompt="p", priority=1))
    assert task_hash(base) != task_hash(VideoTask(model=V20, prompt="p", extra={"a": 1}))


# -- sources ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "item", "ok"),
    [
        ("videos", Video.from_url("https://e.com/v.mp4"), True),
        ("videos", Video.from_url("asset://asset-1"), True),
        ("videos", Video.from_url("ftp://e.com/v.mp4"), False),
        ("videos", Video.from_url("asset://"), False),
        ("videos", Video.from_url("data:video/mp4;base64,AAAA"), False),
        ("videos", Video(url="https://e.com/v.mp4", path="v.mp4"), False),
        ("audios", Audio.from_url("asset://asset-2"), True),
        ("audios", Audio.from_url("file:///a.mp3"), False),
        ("audios", Audio.from_url("data:text/plain;base64,AAAA"), False),
        ("audios", Audio(), False),
    ],
)
def test_reference_sources(kind: str, item: Video | Audio, ok: bool) -> None:
    kwargs: dict[str, Any] = {"model": V20, "prompt": "p", "images": [IMG], kind: [item]}
    if ok:
        VideoTask(**kwargs)
    else:
        assert all(f.startswith(f"{kind}[0]") for f in _fields(**kwargs))


def test_image_asset_ids_are_accepted() -> None:
    VideoTask(model=V20, images=[Image.from_url("asset://portrait-1", role="reference_image")])
    assert _fields(model=V20, images=[Image.from_url("ftp://x")]) == ("images[0].url",)


def test_inline_audio_is_checked_from_its_bytes() -> None:
    wav = mediadata.wav(seconds=3)
    VideoTask(model=V20, prompt="p", images=[IMG], audios=[Audio.from_bytes(wav)])
    lying = "data:audio/mp3;base64," + base64.b64encode(wav).decode()
    assert _fields(model=V20, prompt="p", images=[IMG], audios=[Audio.from_url(lying)]) == (
        "audios[0].url",
    )
    assert _fields(
        model=V20, prompt="p", images=[IMG], audios=[Audio.from_bytes(b"not audio at all")]
    ) == ("audios[0]",)
    long = mediadata.wav(seconds=16)
    assert _fields(model=V20, prompt="p", images=[IMG], audios=[Audio.from_bytes(long)]) == (
        "audios[0]",
    )


# -- counts and scenarios ---------------------------------------------------------------------


def test_reference_counts_per_model() -> None:
    VideoTask(model=V20, images=[IMG] * 9, videos=[VID] * 3, audios=[AUD] * 3)
    assert _fields(model=V20, images=[IMG] * 10) == ("images",)
    assert _fields(model=V20, images=[IMG], videos=[VID] * 4) == ("videos",)
    assert _fields(model=V20, images=[IMG], audios=[AUD] * 4) == ("audios",)
    VideoTask(model=V25, images=[IMG] * 30, videos=[VID] * 10, audios=[AUD] * 10)
    assert _fields(model=V25, images=[IMG], videos=[VID] * 11) == ("videos",)


def test_1x_models_take_no_reference_media() -> None:
    assert _fields(model=PRO15, prompt="p", videos=[VID]) == ("videos",)
    assert _fields(model=PRO15, prompt="p", audios=[AUD]) == ("audios",)


def test_audio_only_references_are_refused_on_2_0_and_taken_on_2_5() -> None:
    for model in (V20, FAST, MINI):
        assert _fields(model=model, prompt="p", audios=[AUD] * 3) == ("audios",)
    VideoTask(model=V20, prompt="p", audios=[AUD], images=[IMG])
    VideoTask(model=V20, prompt="p", audios=[AUD], videos=[VID])
    VideoTask(model=V25, prompt="p", audios=[AUD] * 3)


def test_frames_never_sit_beside_reference_media() -> None:
    first = Image.from_url("https://e.com/a.png")
    assert _fields(model=V20, prompt="p", images=[first], videos=[VID]) == ("images",)
    task = VideoTask(model=V20, prompt="p", images=[first])
    assert task.scenario == "first_frame"
    assert VideoTask(model=V20, prompt="p", images=[IMG]).scenario == "reference_images"


# -- output -----------------------------------------------------------------------------------


def test_4k_is_2_0_standard_only() -> None:
    VideoTask(model=V20, prompt="p", resolution="4k")
    assert _fields(model=FAST, prompt="p", resolution="4k") == ("resolution",)
    assert _fields(model=PRO10, prompt="p", resolution="4k") == ("resolution",)


def test_durations_adaptive_and_model_choice() -> None:
    VideoTask(model=V20, prompt="p", duration=-1, ratio="adaptive")
    VideoTask(model=V20, prompt="p", duration=15)
    assert _fields(model=V20, prompt="p", duration=16) == ("duration",)
    VideoTask(model=V25, prompt="p", duration=30)
    assert _fields(model=V20, prompt="p", duration=3) == ("duration",)


# -- fields 2.x dropped -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("frames", 29), ("camera_fixed", False), ("service_tier", "default"), ("seed", 42)],
)
def test_1x_fields_are_refused_on_2x(field: str, value: Any) -> None:
    """Omit, don't null: even an explicit default is refused before any request."""
    assert _fields(model=V20, prompt="p", **{field: value}) == (field,)
    VideoTask(model=PRO10, prompt="p", **{field: value})


# -- fields 2.x added -------------------------------------------------------------------------


def test_tools_per_model() -> None:
    VideoTask(model=V20, prompt="p", tools=["web_search"])
    assert _fields(model=MINI, prompt="p", tools=["web_search"]) == ("tools[0]",)
    assert _fields(model=PRO15, prompt="p", tools=["web_search"]) == ("tools[0]",)
    assert _fields(model=V20, prompt="p", tools=["web_search", "web_search"]) == ("tools[1]",)
    with pytest.raises(InvalidTaskSpec):
        VideoTask(model=V20, prompt="p", tools="web_search")  # type: ignore[arg-type]


def test_priority_and_safety_identifier() -> None:
    VideoTask(model=V20, prompt="p", priority=0, safety_identifier="x" * 64)
    VideoTask(model=V20, prompt="p", priority=9)
    assert _fields(model=V20, prompt="p", priority=10) == ("priority",)
    assert _fields(model=V20, prompt="p", priority=-1) == ("priority",)
    assert _fields(model=V20, prompt="p", safety_identifier="x" * 65) == ("safety_identifier",)
    assert _fields(model=V20, prompt="p", safety_identifier="") == ("safety_identifier",)
    assert _fields(model=PRO10, prompt="p", priority=1) == ("priority",)


def test_draft_rules() -> None:
    VideoTask(model=PRO15, prompt="p", draft=True, resolution="480p")
    VideoTask(model=V25, prompt="p", draft=True)
    assert _fields(model=PRO15, prompt="p", draft=True, resolution="720p") == ("resolution",)
    assert _fields(model=V20, prompt="p", draft=True) == ("draft",)
    assert _fields(model=PRO15, prompt="p", draft=True, return_last_frame=True) == (
        "return_last_frame",
    )


def test_2_5_fields() -> None:
    VideoTask(model=V25, prompt="p", output_format="mov", omni_reference_task_type="auto")
    assert _fields(model=V20, prompt="p", output_format="mov") == ("output_format",)
    assert _fields(model=V25, prompt="p", output_format="avi") == ("output_format",)
    assert _fields(model=V25, prompt="p", images=[IMG], omni_reference_task_type="edit") == (
        "omni_reference_task_type",
    )
    VideoTask(model=V25, prompt="p", videos=[VID], omni_reference_task_type="edit", duration=-1)
    assert _fields(
        model=V25, prompt="p", videos=[VID], omni_reference_task_type="edit", duration=5
    ) == ("duration",)


# -- extra ------------------------------------------------------------------------------------


def test_extra_may_not_name_a_modelled_field() -> None:
    VideoTask(model=V20, prompt="p", extra={"future_knob": 1})
    assert _fields(model=V20, prompt="p", extra={"ratio": "1:1", "model": "x"}) == (
        "extra.model",
        "extra.ratio",
    )
    assert _fields(model=V20, prompt="p", extra={"x": object()}) == ("extra",)


def test_extra_is_frozen() -> None:
    mine = {"k": 1}
    task = VideoTask(model=V20, prompt="p", extra=mine)
    mine["k"] = 2
    assert task.extra == {"k": 1}


# -- every violation at once ------------------------------------------------------------------


def test_all_violations_come_back_at_once_with_paths() -> None:
    with pytest.raises(InvalidTaskSpec) as info:
        load_task(
            {
                "model": FAST,
                "prompt": "p",
                "resolution": "4k",
                "frames": 29,
                "audios": [{"url": "https://e.com/a.mp3"}] * 3,
                "videos": [{"url": "ftp://e.com/v.mp4"}],
                "priority": 12,
                "extra": {"duration": 5},
            }
        )
    assert set(info.value.fields) == {
        "frames",
        "resolution",
        "videos[0].url",
        "priority",
        "extra.duration",
    }
