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
    [UnifiedAdapter(), GptProtoAdapter()],
    ids=["unified", "gptproto"],
)
def test_adapters_without_2x_media_refuse_it(adapter: Any) -> None:
    fields = {v.field for v in adapter.check(MULTI)}
    assert {"videos", "audios", "tools"} <= fields


def test_gptproto_sends_reference_media_when_told() -> None:
    gp = GptProtoAdapter(reference_media=True, undocumented_fields=True)
    assert gp.check(MULTI) == []
    kinds = [item["type"] for item in gp.build_submit(MULTI).json["content"]]
    assert kinds == ["text", "image_url", "image_url", "video_url", "audio_url"]


# -- AI/ML API: flat fields on the universal path ---------------------------------------------

AIML = AimlApiAdapter(submit_path="/v2/video/generations")


def test_aimlapi_2x_flat_body() -> None:
    task = VideoTask(
        model="seedance-2.0",
        prompt="@Image1 walks through @Video1 to @Audio1",
        images=[Image.from_url("https://e.com/1.jpg", role="reference_image")],
        videos=[Video.from_url("https://e.com/v.mp4")],
        audios=[Audio.from_url("https://e.com/a.mp3"), Audio.from_url("https://e.com/b.mp3")],
        ratio="16:9",
        duration=10,
        resolution="1080p",
        generate_audio=True,
        watermark=False,
        extra={"future_knob": 2},
    )
    assert AIML.check(task) == []
    request = AIML.build_submit(task)
    assert request.path == "/v2/video/generations"
    assert request.json == {
        "model": "bytedance/seedance-2-0",
        "prompt": "@Image1 walks through @Video1 to @Audio1",
        "image_urls": ["https://e.com/1.jpg"],
        "video_urls": ["https://e.com/v.mp4"],
        "audio_urls": ["https://e.com/a.mp3", "https://e.com/b.mp3"],
        "aspect_ratio": "16:9",
        "duration": 10,
        "resolution": "1080p",
        "generate_audio": True,
        "watermark": False,
        "provider": "bytedance",
        "future_knob": 2,
    }
    assert AIML.build_status("abc").path == "/v2/video/generations"


def test_aimlapi_2x_first_and_last_frame() -> None:
    task = VideoTask(
        model="dreamina-seedance-2-0-fast-260128",
        prompt="p",
        images=[
            Image.from_url("https://e.com/1.jpg"),
            Image.from_url("https://e.com/2.jpg", role="last_frame"),
        ],
    )
    body = AimlApiAdapter(submit_path="/v2/video/generations", upstream_provider=None).submit_body(
        task
    )
    assert body == {
        "model": "bytedance/seedance-2-0-fast",
        "prompt": "p",
        "image_url": "https://e.com/1.jpg",
        "last_image_url": "https://e.com/2.jpg",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": "adaptive"}, "ratio"),
        ({"duration": -1}, "duration"),
        ({"model": "seedance-2.0-fast", "watermark": True}, "watermark"),
        ({"model": "seedance-2.5", "resolution": "1080p"}, "resolution"),
        ({"tools": ["web_search"]}, "tools"),
        ({"priority": 3}, "priority"),
        (
            {
                "audios": [Audio.from_bytes(mediadata.wav())],
                "images": [Image.from_url("https://e.com/1.jpg", role="reference_image")],
            },
            "audios[0]",
        ),
        ({"extra": {"aspect_ratio": "1:1"}}, "extra.aspect_ratio"),
    ],
)
def test_aimlapi_2x_refusals(kwargs: dict[str, Any], field: str) -> None:
    task = VideoTask(**{"model": "seedance-2.0", "prompt": "p", **kwargs})
    assert field in [v.field for v in AIML.check(task)]


def test_aimlapi_2x_needs_the_universal_path() -> None:
    task = VideoTask(model="seedance-2.0", prompt="p")
    violations = AimlApiAdapter().check(task)
    assert [v.field for v in violations] == ["model"]
    assert "/v2/video/generations" in violations[0].rule


# -- 2.x answers ------------------------------------------------------------------------------


def test_ark_parses_a_2x_answer_fully() -> None:
    from seedance_async.core._wire import HttpResponse
    from seedance_async.spec._status import EffectiveParams, TaskState, Usage

    body = (
        b'{"id":"cgt-20260414114820-abcde","model":"doubao-seedance-2-0-260128",'
        b'"status":"succeeded","error":null,'
        b'"content":{"video_url":"https://cdn/v.mp4","last_frame_url":"https://cdn/f.png"},'
        b'"usage":{"completion_tokens":411300,"total_tokens":411300,"tool_usage":{"web_search":1}},'
        b'"created_at":1776138520,"updated_at":1776139219,"seed":33608,"resolution":"720p",'
        b'"ratio":"16:9","duration":11,"framespersecond":24,"generate_audio":true,"draft":false,'
        b'"tools":[{"type":"web_search"}],"safety_identifier":"u-1","priority":0,'
        b'"service_tier":"default","execution_expires_after":172800}'
    )
    status = ARK.parse_status(HttpResponse(status=200, body=body), "cgt-20260414114820-abcde")
    assert status.state is TaskState.SUCCEEDED
    assert (status.video_url, status.last_frame_url) == ("https://cdn/v.mp4", "https://cdn/f.png")
    assert status.usage == Usage(
        completion_tokens=411300, total_tokens=411300, tool_usage={"web_search": 1}
    )
    assert status.effective == EffectiveParams(
        duration=11,
        ratio="16:9",
        resolution="720p",
        seed=33608,
        fps=24,
        generate_audio=True,
        service_tier="default",
        draft=False,
        tools=("web_search",),
        priority=0,
    )


def test_ark_parses_a_final_made_from_a_draft() -> None:
    from seedance_async.core._wire import HttpResponse

    body = (
        b'{"id":"cgt-2","status":"running","draft_task_id":"cgt-1",'
        b'"content":{"output_format":"mov"},"duration":-1,"tools":"odd"}'
    )
    effective = ARK.parse_status(HttpResponse(status=200, body=body), "cgt-2").effective
    assert effective is not None
    assert (effective.draft_task_id, effective.output_format, effective.duration) == (
        "cgt-1",
        "mov",
        None,
    )
    assert effective.tools == ()


# -- through the client, on the function-based test transport ----------------------------------


def test_client_sends_a_2x_task_with_local_audio_as_byteplus_ids(tmp_path: Any) -> None:
    """A neutral name, a local WAV read off the loop and sent inline; BytePlus's id on the wire."""
    import anyio

    from seedance_async import ApiKey, Client, ProviderConfig
    from seedance_async.core._wire import HttpRequest, HttpResponse
    from seedance_async.testing import FunctionTransport

    wav = mediadata.wav(seconds=3)
    (tmp_path / "bgm.wav").write_bytes(wav)
    seen: list[HttpRequest] = []

    def handler(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse.from_json(200, {"id": "cgt-20260101-x"})

    config = ProviderConfig(
        alias="bp",
        adapter="ark",
        base_url="https://bp.example/api/v3",
        api_key=ApiKey("sk-test"),
        options={"model_naming": "byteplus"},
    )
    task = VideoTask(
        model="seedance-2.0-fast",
        prompt="Image 1 dances to Audio 1",
        images=[Image.from_url("https://e.com/1.jpg", role="reference_image")],
        audios=[Audio.from_path(tmp_path / "bgm.wav")],
        tools=["web_search"],
    )

    async def main() -> str:
        async with Client([config], transport_factory=lambda *_: FunctionTransport(handler)) as c:
            handle = await c.submit(task)
        return handle.task_id

    assert anyio.run(main) == "cgt-20260101-x"
    (request,) = seen
    assert request.json["model"] == "dreamina-seedance-2-0-fast-260128"
    assert request.json["content"][-1] == {
        "type": "audio_url",
        "audio_url": {"url": "data:audio/wav;base64," + base64.b64encode(wav).decode()},
        "role": "reference_audio",
    }
    assert request.json["tools"] == [{"type": "web_search"}]


def test_client_refuses_a_bad_local_clip_before_sending(tmp_path: Any) -> None:
    import anyio

    from seedance_async import ApiKey, Client, ProviderConfig
    from seedance_async.core._wire import HttpRequest, HttpResponse
    from seedance_async.testing import FunctionTransport

    (tmp_path / "long.wav").write_bytes(mediadata.wav(seconds=20))
    sent: list[HttpRequest] = []

    def handler(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return HttpResponse.from_json(200, {"id": "cgt-1"})

    config = ProviderConfig(
        alias="ark", adapter="ark", base_url="https://a.example/api/v3", api_key=ApiKey("k")
    )
    task = VideoTask(
        model=V20,
        prompt="p",
        images=[Image.from_url("https://e.com/1.jpg", role="reference_image")],
        audios=[Audio.from_path(tmp_path / "long.wav")],
    )

    async def main() -> None:
        async with Client([config], transport_factory=lambda *_: FunctionTransport(handler)) as c:
            await c.submit(task)

    with pytest.raises(InvalidTaskSpec) as info:
        anyio.run(main)
    assert info.value.fields == ("audios[0].path",)
    assert sent == []


def test_unified_gateway_says_no_to_2x_unless_configured() -> None:
    """No unified page shows a 2.x model: the alias default refuses it, `models` opts in."""
    from seedance_async.config import ProviderConfig

    text_only = VideoTask(model=V20, prompt="a heron at dawn")
    default = ProviderConfig(alias="gw", adapter="unified", base_url="https://gw.example")
    assert not default.serves(V20)
    opted_in = ProviderConfig(
        alias="gw", adapter="unified", base_url="https://gw.example", models=["seedance-2-0"]
    )
    assert opted_in.serves(V20)
    assert UnifiedAdapter().check(text_only) == []
    fields = {v.field for v in UnifiedAdapter().check(MULTI)}
    assert {"videos", "audios"} <= fields


def test_aimlapi_refuses_a_known_model_it_does_not_list() -> None:
    """2.5 premium is BytePlus-only: AI/ML API would answer its id with a 404."""
    task = VideoTask(model="dreamina-seedance-2-5-premium-260915", prompt="p")
    assert [v.field for v in AIML.check(task)] == ["model"]
    from seedance_async.spec import UnknownModelWarning

    with pytest.warns(UnknownModelWarning):
        unknown = VideoTask(model="bytedance/seedance-9-0", prompt="p")
    assert AIML.check(unknown) == []  # an id it may know and we do not: passed through


def test_a_provider_400_the_rules_missed_names_the_parameter() -> None:
    """An unforeseen refusal is typed and names the field, so the rule can be added."""
    from seedance_async.core._errors import InvalidRequest
    from seedance_async.core._wire import HttpResponse

    answer = HttpResponse.from_json(
        400,
        {
            "error": {
                "code": "InvalidParameter",
                "message": "The parameter `video_url` specified in the request is not valid: "
                "the video resolution is too low. Request id: 021abc",
                "param": "",
                "type": "BadRequest",
            }
        },
    )
    for adapter in (ARK, GptProtoAdapter()):
        error = adapter.classify_error(answer)
        assert isinstance(error, InvalidRequest)
        assert error.param == "video_url"
        assert "param=video_url" in str(error)
    named = HttpResponse.from_json(
        400, {"error": {"code": "MissingParameter", "message": "missing", "param": "content"}}
    )
    error = ARK.classify_error(named)
    assert isinstance(error, InvalidRequest)
    assert error.param == "content"
