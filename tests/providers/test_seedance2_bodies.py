"""Seedance 2.x on the wire: the Ark body (and Ark-format gateways), and what the other
adapters refuse until they can express it. Bodies are asserted whole: a provider may ignore
a field silently, so only the outgoing body shows that nothing extra is sent."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from seedance_async.core._errors import InvalidTaskSpec
from seedance_async.providers.aimlapi import AimlApiAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.providers.gptproto import GptProtoAdapter
from seedance_async.providers.unified import UnifiedAdapter
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, Video
from tests import mediadata

V20 = "doubao-seedance-2-0-260128"
V25 = "dreamina-seedance-2-5-260628"

ARK = ArkAdapter()
MULTI = VideoTask(
    model=V20,
    prompt="Image 1 in the style of Video 1, Audio 1 as music",
    images=[
        Image.from_url("https://e.com/1.jpg", role="reference_image"),
        Image.from_url("asset://portrait-7", role="reference_image"),
    ],
    videos=[Video.from_url("https://e.com/v.mp4")],
    audios=[Audio.from_url("https://e.com/a.mp3")],
    generate_audio=True,
    ratio="16:9",
    duration=11,
    watermark=True,
    tools=["web_search"],
    priority=4,
    safety_identifier="u-9f86d0",
    extra={"future_flag": {"on": True}},
)


def test_ark_multimodal_body() -> None:
    request = ARK.build_submit(MULTI)
    assert ARK.check(MULTI) == []
    assert request.json == {
        "model": V20,
        "content": [
            {"type": "text", "text": "Image 1 in the style of Video 1, Audio 1 as music"},
            {
                "type": "image_url",
                "image_url": {"url": "https://e.com/1.jpg"},
                "role": "reference_image",
            },
            {
                "type": "image_url",
                "image_url": {"url": "asset://portrait-7"},
                "role": "reference_image",
            },
            {
                "type": "video_url",
                "video_url": {"url": "https://e.com/v.mp4"},
                "role": "reference_video",
            },
            {
                "type": "audio_url",
                "audio_url": {"url": "https://e.com/a.mp3"},
                "role": "reference_audio",
            },
        ],
        "generate_audio": True,
        "watermark": True,
        "ratio": "16:9",
        "duration": 11,
        "priority": 4,
        "safety_identifier": "u-9f86d0",
        "tools": [{"type": "web_search"}],
        "future_flag": {"on": True},
    }


def test_ark_audio_bytes_go_inline_as_a_lowercase_data_url() -> None:
    wav = mediadata.wav(seconds=3)
    task = VideoTask(
        model=V20,
        prompt="p",
        images=[Image.from_url("https://e.com/1.jpg", role="reference_image")],
        audios=[Audio.from_bytes(wav)],
    )
    item = ARK.build_submit(task).json["content"][-1]
    assert item == {
        "type": "audio_url",
        "audio_url": {"url": "data:audio/wav;base64," + base64.b64encode(wav).decode()},
        "role": "reference_audio",
    }


def test_ark_2_5_fields_and_task_type_spelling() -> None:
    task = VideoTask(
        model=V25,
        prompt="extend it",
        videos=[Video.from_url("https://e.com/v.mp4")],
        omni_reference_task_type="extend",
        output_format="mov",
        draft=True,
    )
    body = ARK.build_submit(task).json
    assert (body["omni_reference_task_type"], body["output_format"], body["draft"]) == (
        "extend",
        "mov",
        True,
    )
    renamed = ArkAdapter(task_type_names={"extend": "extend_video"})
    assert renamed.build_submit(task).json["omni_reference_task_type"] == "extend_video"


def test_local_or_inline_videos_need_an_upload_first() -> None:
    task = VideoTask(model=V20, prompt="p", videos=[Video.from_path("clip.mp4")])
    assert [v.field for v in ARK.check(task)] == ["videos[0]"]
    assert "upload" in ARK.check(task)[0].rule
    with pytest.raises(InvalidTaskSpec):
        ARK.build_submit(task)


def test_extra_never_overrides_what_the_adapter_writes() -> None:
    gp = GptProtoAdapter(camera_fixed_field="camerafixed")
    task = VideoTask(
        model="doubao-seedance-1-0-pro-250528", prompt="p", extra={"camerafixed": True}
    )
    assert [v.field for v in gp.check(task)] == ["extra.camerafixed"]
    with pytest.raises(InvalidTaskSpec) as info:
        gp.build_submit(task)
    assert info.value.fields == ("extra.camerafixed",)


@pytest.mark.parametrize(
    "adapter",
    [AimlApiAdapter(), UnifiedAdapter(), GptProtoAdapter()],
    ids=["aimlapi", "unified", "gptproto"],
)
def test_adapters_without_2x_media_refuse_it(adapter: Any) -> None:
    fields = {v.field for v in adapter.check(MULTI)}
    assert {"videos", "audios", "tools"} <= fields


def test_gptproto_sends_reference_media_when_told() -> None:
    gp = GptProtoAdapter(reference_media=True, undocumented_fields=True)
    assert gp.check(MULTI) == []
    kinds = [item["type"] for item in gp.build_submit(MULTI).json["content"]]
    assert kinds == ["text", "image_url", "image_url", "video_url", "audio_url"]
