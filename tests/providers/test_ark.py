"""Ark adapter golden tables (h11 SIMPLE_CASES style): spec -> request, answer -> status.

Wire facts: docs/providers.md §2 (Ark), §3.1 (the ``/v1/video/generations`` gateway), §3.2
(ChainHub); the § numbers below are its sections. The two gateway request bodies are the
examples of their pages, copied verbatim: "Seedance Lite Reference Image Video Generation"
(the ``/v1/video/generations`` gateway) and ChainHub's "Seedance-Lite Reference Image".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    ModelNotServed,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    TaskNotFound,
    UnknownStatus,
)
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers import ListQuery, SubmitAccepted, create_adapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._status import EffectiveParams, TaskState, TaskStatus, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole, Ratio, Resolution, ServiceTier
from tests import imagedata

LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
REF_URLS = [
    f"https://ark-project.tos-cn-beijing.volces.com/doc_image/seelite_ref_{n}.png"
    for n in (1, 2, 3)
]

# The /v1/video/generations gateway page: POST /v1/video/generations (request example, verbatim).
SEED_000_BODY: dict[str, Any] = json.loads(
    """{
    "model": "doubao-seedance-1-0-lite-i2v-250428",
    "content": [
      {
        "type": "text",
        "text": "[Image1] A boy wearing glasses and blue T-shirt with [Image2] a corgi dog, sitting on [Image3] the lawn, 3D cartoon style"
      },
      {
        "type": "image_url",
        "image_url": {
          "url": "https://ark-project.tos-cn-beijing.volces.com/doc_image/seelite_ref_1.png"
        },
        "role": "reference_image"
      },
      {
        "type": "image_url",
        "image_url": {
          "url": "https://ark-project.tos-cn-beijing.volces.com/doc_image/seelite_ref_2.png"
        },
        "role": "reference_image"
      },
      {
        "type": "image_url",
        "image_url": {
          "url": "https://ark-project.tos-cn-beijing.volces.com/doc_image/seelite_ref_3.png"
        },
        "role": "reference_image"
      }
    ]
  }"""
)

# ChainHub's page: POST /volc/v1/contents/generations/tasks (OpenAPI example, as JSON).
SEED_002_BODY: dict[str, Any] = {
    "model": "doubao-seedance-1-0-lite-i2v-250428",
    "content": [
        {
            "type": "text",
            "text": "[Figure 1] A boy wearing glasses and a blue T-shirt and [Figure 2] a corgi dog are sitting on the lawn in [Figure 3], in a 3D cartoon style.",
        },
        {"type": "image_url", "image_url": {"url": REF_URLS[0]}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": REF_URLS[1]}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": REF_URLS[2]}, "role": "reference_image"},
    ],
}


def ref_task(prompt: str) -> VideoTask:
    """The seeds' reference-image task: lite i2v, the prompt, three reference URLs."""
    return VideoTask(
        model=LITE_I2V,
        prompt=prompt,
        images=[Image.from_url(u, ImageRole.REFERENCE_IMAGE) for u in REF_URLS],
    )


SUBMIT_CASES: list[tuple[str, dict[str, Any], VideoTask, dict[str, Any]]] = [
    (
        "v1-video-generations gateway",
        {"tasks_path": "/v1/video/generations"},
        ref_task(SEED_000_BODY["content"][0]["text"]),
        {"method": "POST", "path": "/v1/video/generations", "json": SEED_000_BODY},
    ),
    (
        "chainhub",
        {"tasks_path": "/volc/v1/contents/generations/tasks"},
        ref_task(SEED_002_BODY["content"][0]["text"]),
        {"method": "POST", "path": "/volc/v1/contents/generations/tasks", "json": SEED_002_BODY},
    ),
    (
        "ark text-to-video, unset keys omitted",
        {},
        VideoTask(model=PRO, prompt="hi", resolution=Resolution.P720),
        {
            "method": "POST",
            "path": "/contents/generations/tasks",
            "json": {
                "model": PRO,
                "content": [{"type": "text", "text": "hi"}],
                "resolution": "720p",
            },
        },
    ),
    (
        "explicit false and 0 are kept",
        {},
        VideoTask(
            model=PRO,
            prompt="hi",
            watermark=False,
            camera_fixed=False,
            return_last_frame=False,
            seed=0,
            generate_audio=False,
        ),
        {
            "method": "POST",
            "path": "/contents/generations/tasks",
            "json": {
                "model": PRO,
                "content": [{"type": "text", "text": "hi"}],
                "watermark": False,
                "camera_fixed": False,
                "return_last_frame": False,
                "seed": 0,
                "generate_audio": False,
            },
        },
    ),
    (
        "every option, first and last frame",
        {"tasks_path": "contents/generations/tasks/"},
        VideoTask(
            model=PRO,
            prompt="a sunrise",
            images=[
                Image.from_url("https://e.com/first.png", ImageRole.FIRST_FRAME),
                Image.from_url("https://e.com/last.png", ImageRole.LAST_FRAME),
            ],
            resolution=Resolution.P1080,
            ratio=Ratio.ADAPTIVE,
            frames=57,
            seed=4294967295,
            camera_fixed=True,
            watermark=True,
            return_last_frame=True,
            service_tier=ServiceTier.FLEX,
            execution_expires_after=3600,
            callback_url="https://e.com/hook",
            metadata={"row": 1},
        ),
        {
            "method": "POST",
            "path": "/contents/generations/tasks",
            "json": {
                "model": PRO,
                "content": [
                    {"type": "text", "text": "a sunrise"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://e.com/first.png"},
                        "role": "first_frame",
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://e.com/last.png"},
                        "role": "last_frame",
                    },
                ],
                "resolution": "1080p",
                "ratio": "adaptive",
                "frames": 57,
                "seed": 4294967295,
                "camera_fixed": True,
                "watermark": True,
                "return_last_frame": True,
                "service_tier": "flex",
                "execution_expires_after": 3600,
                "callback_url": "https://e.com/hook",
            },
        },
    ),
    (
        "image only, no text item",
        {},
        VideoTask(model=PRO, images=[Image.from_url("https://e.com/a.png")], duration=5),
        {
            "method": "POST",
            "path": "/contents/generations/tasks",
            "json": {
                "model": PRO,
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://e.com/a.png"},
                        "role": "first_frame",
                    }
                ],
                "duration": 5,
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("options", "task", "expected"),
    [c[1:] for c in SUBMIT_CASES],
    ids=[c[0] for c in SUBMIT_CASES],
)
def test_build_submit_golden(
    options: dict[str, Any], task: VideoTask, expected: dict[str, Any]
) -> None:
    """The create request equals the documented one exactly (method, path, JSON body)."""
    request = ArkAdapter(**options).build_submit(task)
    assert {"method": request.method, "path": request.path, "json": request.json} == expected
    assert request.query == ()
    assert request.paid
    assert not request.idempotent
    assert "authorization" not in request.headers
    assert json.loads(request.body_bytes() or b"") == expected["json"]


@pytest.mark.parametrize("path", ["/v1/video/generations", "/volc/v1/contents/generations/tasks"])
def test_gateway_submitted_answer(path: str) -> None:
    """``{"id", "status": "submitted"}`` gives the id and a queued first status."""
    adapter = ArkAdapter(tasks_path=path)
    accepted = adapter.parse_submit(
        HttpResponse.from_json(200, {"id": "cgt-20250918170909-j7gxl", "status": "submitted"})
    )
    assert accepted == SubmitAccepted(
        task_id="cgt-20250918170909-j7gxl",
        status=TaskStatus(
            provider="ark",
            task_id="cgt-20250918170909-j7gxl",
            state=TaskState.QUEUED,
            provider_status="submitted",
        ),
    )
    assert accepted.status is not None
    assert not accepted.status.is_terminal


def test_ark_submit_answer_is_only_an_id() -> None:
    """Ark itself answers ``{"id"}`` only: no first status."""
    accepted = ArkAdapter().parse_submit(
        HttpResponse.from_json(200, {"id": "cgt-20260611150425-ggtng"})
    )
    assert accepted == SubmitAccepted(task_id="cgt-20260611150425-ggtng", status=None)


@pytest.mark.parametrize("body", [{}, {"id": None}, {"id": []}, [], "cgt-x", {"status": "queued"}])
def test_submit_answer_without_an_id_is_malformed(body: Any) -> None:
    """A 200 without a usable id raises MalformedResponse naming the path."""
    with pytest.raises(MalformedResponse) as info:
        ArkAdapter().parse_submit(HttpResponse.from_json(200, body))
    assert info.value.path in {"$", "$.id"}


def test_image_bytes_become_a_data_url() -> None:
    """Inline image bytes are sent as ``data:image/png;base64,...``."""
    raw = imagedata.png(640, 480)
    task = VideoTask(model=PRO, images=[Image.from_bytes(raw)])
    item = ArkAdapter().build_submit(task).json["content"][0]
    assert item == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(raw).decode()},
        "role": "first_frame",
    }


def test_jpeg_bytes_become_a_jpeg_data_url() -> None:
    """The data URL names the sniffed format, lower case."""
    task = VideoTask(model=PRO, images=[Image.from_bytes(imagedata.jpeg(800, 600))])
    url = ArkAdapter().build_submit(task).json["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")


def test_unloaded_local_image_is_an_invalid_spec() -> None:
    """A local path must be loaded first; building the request names ``images[0].path``."""
    task = VideoTask(model=PRO, images=[Image.from_path("/tmp/cat.png")])
    with pytest.raises(InvalidTaskSpec) as info:
        ArkAdapter().build_submit(task)
    assert info.value.fields == ("images[0].path",)


# -- status (§2.3) ---------------------------------------------------------------------------

RUNNING = {
    "id": "cgt-20260611150037-abcde",
    "model": "doubao-seedance-2-0-260128",
    "status": "running",
    "created_at": 1781148037,
    "updated_at": 1781148037,
    "service_tier": "default",
    "execution_expires_after": 172800,
}
SUCCEEDED = {
    "id": "cgt-20251212113435-fghij",
    "model": "doubao-seedance-1-5-pro-251215",
    "status": "succeeded",
    "content": {
        "video_url": "https://ark-content-generation-cn-beijing.tos-cn-beijing.volces.com/v.mp4",
        "last_frame_url": "https://ark-content-generation-cn-beijing.tos-cn-beijing.volces.com/l.png",
    },
    "usage": {"completion_tokens": 246840, "total_tokens": 246840},
    "created_at": 1765510475,
    "updated_at": 1765510559,
    "seed": 58944,
    "resolution": "1080p",
    "ratio": "16:9",
    "duration": 5,
    "framespersecond": 24,
    "generate_audio": True,
}
FAILED = {
    "id": "cgt-20251212113435-klmno",
    "model": "doubao-seedance-1-0-pro-250528",
    "status": "failed",
    "error": {
        "code": "OutputVideoSensitiveContentDetected.PolicyViolation",
        "message": "The request failed because the output video may be related to copyright restrictions.",
    },
    "created_at": 1765510475,
    "updated_at": 1765510559,
}
# GPTProto's Ark pass-through sends numbers as strings (§6.1).
STRINGLY = {
    "id": "cgt-20251225195352-123",
    "model": "doubao-seedance-1-5-pro-251215",
    "status": "succeeded",
    "content": {"video_url": "https://example.com/video.mp4"},
    "usage": {"completion_tokens": "260100", "total_tokens": 260100},
    "seed": "16108",
    "created_at": "1766663633",
    "updated_at": "1766663715",
}

STATUS_CASES: list[tuple[str, dict[str, Any], TaskStatus]] = [
    (
        "running",
        RUNNING,
        TaskStatus(
            provider="ark",
            task_id="cgt-20260611150037-abcde",
            state=TaskState.RUNNING,
            provider_status="running",
            effective=EffectiveParams(service_tier="default"),
            created_at=datetime(2026, 6, 11, 3, 20, 37, tzinfo=UTC),
            updated_at=datetime(2026, 6, 11, 3, 20, 37, tzinfo=UTC),
        ),
    ),
    (
        "succeeded",
        SUCCEEDED,
        TaskStatus(
            provider="ark",
            task_id="cgt-20251212113435-fghij",
            state=TaskState.SUCCEEDED,
            provider_status="succeeded",
            video_url=SUCCEEDED["content"]["video_url"],  # type: ignore[index]
            last_frame_url=SUCCEEDED["content"]["last_frame_url"],  # type: ignore[index]
            usage=Usage(completion_tokens=246840, total_tokens=246840),
            effective=EffectiveParams(
                duration=5,
                ratio="16:9",
                resolution="1080p",
                seed=58944,
                fps=24,
                generate_audio=True,
            ),
            created_at=datetime(2025, 12, 12, 3, 34, 35, tzinfo=UTC),
            updated_at=datetime(2025, 12, 12, 3, 35, 59, tzinfo=UTC),
        ),
    ),
    (
        "failed",
        FAILED,
        TaskStatus(
            provider="ark",
            task_id="cgt-20251212113435-klmno",
            state=TaskState.FAILED,
            provider_status="failed",
            error_code="OutputVideoSensitiveContentDetected.PolicyViolation",
            error_message="The request failed because the output video may be related to copyright restrictions.",
            failure="moderation",
            created_at=datetime(2025, 12, 12, 3, 34, 35, tzinfo=UTC),
            updated_at=datetime(2025, 12, 12, 3, 35, 59, tzinfo=UTC),
        ),
    ),
    (
        "numbers as strings",
        STRINGLY,
        TaskStatus(
            provider="ark",
            task_id="cgt-20251225195352-123",
            state=TaskState.SUCCEEDED,
            provider_status="succeeded",
            video_url="https://example.com/video.mp4",
            usage=Usage(completion_tokens=260100, total_tokens=260100),
            effective=EffectiveParams(seed=16108),
            created_at=datetime(2025, 12, 25, 11, 53, 53, tzinfo=UTC),
            updated_at=datetime(2025, 12, 25, 11, 55, 15, tzinfo=UTC),
        ),
    ),
    (
        "queued, sparse",
        {"id": "cgt-1", "status": "queued"},
        TaskStatus(
            provider="ark", task_id="cgt-1", state=TaskState.QUEUED, provider_status="queued"
        ),
    ),
    (
        "cancelled",
        {"id": "cgt-1", "status": "cancelled", "error": None},
        TaskStatus(
            provider="ark", task_id="cgt-1", state=TaskState.CANCELLED, provider_status="cancelled"
        ),
    ),
    (
        "expired",
        {"id": "cgt-1", "status": "expired"},
        TaskStatus(
            provider="ark",
            task_id="cgt-1",
            state=TaskState.EXPIRED,
            provider_status="expired",
            failure="expired",
        ),
    ),
    (
        "gateway processing",
        {"id": "cgt-1", "status": "processing"},
        TaskStatus(
            provider="ark", task_id="cgt-1", state=TaskState.RUNNING, provider_status="processing"
        ),
    ),
    (
        "status in upper case",
        {"id": "cgt-1", "status": "SUCCEEDED", "content": {"video_url": "https://e.com/v.mp4"}},
        TaskStatus(
            provider="ark",
            task_id="cgt-1",
            state=TaskState.SUCCEEDED,
            provider_status="SUCCEEDED",
            video_url="https://e.com/v.mp4",
        ),
    ),
    (
        "id missing: the asked id is used",
        {"status": "running"},
        TaskStatus(
            provider="ark", task_id="cgt-asked", state=TaskState.RUNNING, provider_status="running"
        ),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES]
)
def test_parse_status_golden(body: dict[str, Any], expected: TaskStatus) -> None:
    """Each documented task body maps to the expected neutral status."""
    status = ArkAdapter().parse_status(HttpResponse.from_json(200, body), "cgt-asked")
    assert status == expected
    assert status.raw == body


def test_seedance_2_answer_gives_effective_values_and_tool_usage() -> None:
    """The 2.0 GET answer's echoed values and ``usage.tool_usage`` land in neutral fields."""
    body = {
        "id": "cgt-20260414114820-abcde",
        "model": "doubao-seedance-2-0-260128",
        "status": "succeeded",
        "error": None,
        "content": {"video_url": "https://example.com/v.mp4"},
        "usage": {
            "completion_tokens": 411300,
            "total_tokens": 411300,
            "tool_usage": {"web_search": 1},
        },
        "seed": 33608,
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 11,
        "framespersecond": 24,
        "generate_audio": True,
        "service_tier": "default",
    }
    status = ArkAdapter().parse_status(HttpResponse.from_json(200, body), "x")
    assert status.usage == Usage(
        completion_tokens=411300, total_tokens=411300, tool_usage={"web_search": 1}
    )
    assert status.usage.tool_usage == (("web_search", 1),)
    assert status.effective == EffectiveParams(
        duration=11,
        ratio="16:9",
        resolution="720p",
        seed=33608,
        fps=24,
        generate_audio=True,
        service_tier="default",
    )
    assert status.failure is None


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"duration": 7.5}, EffectiveParams(duration=7.5)),
        ({"duration": -1, "ratio": "adaptive"}, EffectiveParams(ratio="adaptive")),
        ({"frames": 57, "framespersecond": "24"}, EffectiveParams(frames=57, fps=24)),
        ({"generate_audio": "false"}, EffectiveParams(generate_audio=False)),
        # An echoed value of an odd type is dropped, not fatal: the state still counts.
        ({"seed": "random", "resolution": "720p"}, EffectiveParams(resolution="720p")),
        ({"seed": [1], "generate_audio": 3}, None),
        ({}, None),
    ],
)
def test_effective_values_are_read_leniently(
    extra: dict[str, Any], expected: EffectiveParams | None
) -> None:
    """Fractional durations, -1, frames and strings parse; odd types are dropped."""
    body = {"id": "x", "status": "succeeded", **extra}
    status = ArkAdapter().parse_status(HttpResponse.from_json(200, body), "x")
    assert status.effective == expected


@pytest.mark.parametrize("word", ["paused_for_review", "", "done", "succeeded!"])
def test_unknown_status_word_is_a_typed_error_with_the_word_and_the_id(word: str) -> None:
    """A status word outside Ark's vocabulary raises UnknownStatus; it never reads as running."""
    body = {"id": "cgt-1", "status": word}
    with pytest.raises(UnknownStatus) as info:
        ArkAdapter().parse_status(HttpResponse.from_json(200, body), "cgt-asked")
    error = info.value
    assert isinstance(error, MalformedResponse)
    assert (error.word, error.task_id, error.path) == (word, "cgt-1", "$.status")
    assert (error.provider, error.status) == ("ark", 200)


def test_unknown_status_in_a_list_names_the_item() -> None:
    """In a list answer the error names the item's path and its task id."""
    body = {"total": 2, "items": [RUNNING, {"id": "cgt-odd", "status": "archived"}]}
    with pytest.raises(UnknownStatus) as info:
        ArkAdapter().parse_list(HttpResponse.from_json(200, body))
    assert (info.value.word, info.value.task_id) == ("archived", "cgt-odd")
    assert info.value.path == "$.items[1].status"


def test_unknown_status_in_a_create_answer_keeps_the_id() -> None:
    """A created task with an odd status echo is still accepted: the id is what counts."""
    response = HttpResponse.from_json(200, {"id": "cgt-1", "status": "accepted"})
    assert ArkAdapter().parse_submit(response) == SubmitAccepted(task_id="cgt-1")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"id": "x"}, "$.status"),
        ({"id": "x", "status": None}, "$.status"),
        ({"id": "x", "status": ["running"]}, "$.status"),
        ({"id": "x", "status": "running", "usage": 5}, "$.usage"),
        (
            {"id": "x", "status": "running", "usage": {"total_tokens": "many"}},
            "$.usage.total_tokens",
        ),
        ({"id": "x", "status": "running", "created_at": "yesterday"}, "$.created_at"),
        ({"id": "x", "status": "running", "created_at": 10**400}, "$.created_at"),
        ([1, 2], "$"),
    ],
)
def test_malformed_status_names_the_json_path(body: Any, path: str) -> None:
    """A body that does not fit raises MalformedResponse naming the JSON path."""
    with pytest.raises(MalformedResponse) as info:
        ArkAdapter().parse_status(HttpResponse.from_json(200, body), "x")
    assert info.value.path == path
    assert info.value.provider == "ark"


@pytest.mark.parametrize("body", [b"", b"   ", b"<html>bad gateway</html>", b"\xff\xfe"])
def test_non_json_status_body_is_malformed(body: bytes) -> None:
    """An empty or non-JSON 200 body raises MalformedResponse."""
    with pytest.raises(MalformedResponse):
        ArkAdapter().parse_status(HttpResponse(status=200, body=body), "x")


def test_build_status_and_cancel_quote_the_task_id() -> None:
    """Task ids are URL-quoted into the path (no path traversal, no query injection)."""
    adapter = ArkAdapter()
    assert adapter.build_status("cgt-1").path == "/contents/generations/tasks/cgt-1"
    assert (
        adapter.build_status("a/../b?c=d e").path
        == "/contents/generations/tasks/a%2F..%2Fb%3Fc%3Dd%20e"
    )
    cancel = adapter.build_cancel("a/b")
    assert cancel is not None
    assert cancel.path == "/contents/generations/tasks/a%2Fb"


def test_build_status_is_an_idempotent_get() -> None:
    """Polling is a GET without body, safe to retry."""
    request = ArkAdapter(tasks_path="/volc/v1/contents/generations/tasks").build_status("cgt-9")
    assert (request.method, request.path, request.json, request.query) == (
        "GET",
        "/volc/v1/contents/generations/tasks/cgt-9",
        None,
        (),
    )
    assert request.idempotent


# -- list (§2.4) -----------------------------------------------------------------------------


def test_build_list_query_string() -> None:
    """Filters go out in Ark's order, ``filter.task_ids`` repeated per id."""
    request = ArkAdapter().build_list(
        ListQuery(
            page_num=1,
            page_size=10,
            status=TaskState.SUCCEEDED,
            model="m",
            service_tier="default",
            task_ids=("a", "b"),
        )
    )
    assert request is not None
    assert (request.method, request.path, request.json) == (
        "GET",
        "/contents/generations/tasks",
        None,
    )
    assert urlencode(request.query) == (
        "page_num=1&page_size=10&filter.status=succeeded&filter.model=m"
        "&filter.service_tier=default&filter.task_ids=a&filter.task_ids=b"
    )


def test_build_list_leaves_out_unset_filters() -> None:
    """Only the page parameters are sent when no filter is set."""
    request = ArkAdapter().build_list(ListQuery())
    assert request is not None
    assert urlencode(request.query) == "page_num=1&page_size=100"


def test_parse_list() -> None:
    """``{"total", "items"}`` gives the total and one neutral status per item."""
    body = {"total": 42, "items": [RUNNING, SUCCEEDED, FAILED]}
    page = ArkAdapter().parse_list(HttpResponse.from_json(200, body))
    assert page.total == 42
    assert [(s.task_id, s.state) for s in page.items] == [
        ("cgt-20260611150037-abcde", TaskState.RUNNING),
        ("cgt-20251212113435-fghij", TaskState.SUCCEEDED),
        ("cgt-20251212113435-klmno", TaskState.FAILED),
    ]


def test_parse_empty_list() -> None:
    """An answer without items is an empty page; a missing total counts the items."""
    page = ArkAdapter().parse_list(HttpResponse.from_json(200, {}))
    assert (page.total, page.items) == (0, ())


def test_list_item_without_id_is_malformed() -> None:
    """A listed task must carry its own id; the path names the item."""
    with pytest.raises(MalformedResponse) as info:
        ArkAdapter().parse_list(HttpResponse.from_json(200, {"items": [{"status": "running"}]}))
    assert info.value.path == "$.items[0].id"


def test_gateway_without_list_and_cancel() -> None:
    """A gateway configured without list/cancel builds no such requests."""
    adapter = ArkAdapter(tasks_path="/v1/video/generations", can_list=False, can_cancel=False)
    assert adapter.build_list(ListQuery()) is None
    assert adapter.build_cancel("cgt-1") is None
    assert not adapter.capabilities.can_list
    assert adapter.capabilities.cancel_states == frozenset()


# -- cancel (§2.5) ---------------------------------------------------------------------------


def test_cancel_is_a_delete_of_the_task() -> None:
    """Cancel is ``DELETE {tasks_path}/{id}`` and a 200 ``{}`` means done."""
    adapter = ArkAdapter()
    request = adapter.build_cancel("cgt-20260611150425-ggtng")
    assert request is not None
    assert (request.method, request.path) == (
        "DELETE",
        "/contents/generations/tasks/cgt-20260611150425-ggtng",
    )
    assert request.idempotent
    adapter.parse_cancel(HttpResponse.from_json(200, {}), "cgt-20260611150425-ggtng")
    assert adapter.capabilities.cancel_states == frozenset({TaskState.QUEUED})


def test_cancel_of_unknown_task_raises_task_not_found() -> None:
    """A 404 on DELETE raises TaskNotFound."""
    body = {"error": {"code": "NotFound.Task", "message": "task not found"}}
    with pytest.raises(TaskNotFound):
        ArkAdapter().parse_cancel(HttpResponse.from_json(404, body), "cgt-x")


# -- errors (§2.8) ---------------------------------------------------------------------------


def ark_error(
    status: int, code: str, message: str = "m", headers: dict[str, str] | None = None
) -> HttpResponse:
    """An Ark error envelope answer."""
    body = {"error": {"code": code, "message": message, "param": "", "type": "X"}}
    return HttpResponse.from_json(status, body, headers)


ERROR_CASES: list[tuple[str, HttpResponse, type[ProviderError]]] = [
    ("missing parameter", ark_error(400, "MissingParameter"), InvalidRequest),
    ("invalid parameter", ark_error(400, "InvalidParameter"), InvalidRequest),
    ("401", ark_error(401, "AuthenticationError"), AuthenticationFailed),
    ("403 overdue", ark_error(403, "AccountOverdueError"), PermissionDenied),
    ("403 service not open", ark_error(403, "OperationDenied.ServiceNotOpen"), PermissionDenied),
    # "This provider does not serve the model": refused before creation, fail over.
    ("404 model not open", ark_error(404, "ModelNotOpen"), ModelNotServed),
    ("404 unknown model", ark_error(404, "InvalidEndpointOrModel.NotFound"), ModelNotServed),
    (
        "404 model id disabled",
        ark_error(404, "InvalidEndpointOrModel.ModelIDAccessDisabled"),
        ModelNotServed,
    ),
    ("400 closed endpoint", ark_error(400, "InvalidEndpoint.ClosedEndpoint"), ModelNotServed),
    ("400 empty image url", ark_error(400, "InvalidImageURL.EmptyURL"), InvalidRequest),
    ("404 task", ark_error(404, "NotFound.Task"), TaskNotFound),
    ("429 rpm", ark_error(429, "RateLimitExceeded.EndpointRPMExceeded"), RateLimited),
    ("429 model rpm", ark_error(429, "ModelAccountRpmRateLimitExceeded"), RateLimited),
    ("429 concurrency", ark_error(429, "InflightBatchsizeExceeded"), RateLimited),
    ("429 burst", ark_error(429, "RequestBurstTooFast"), RateLimited),
    ("429 overloaded", ark_error(429, "ServerOverloaded"), RateLimited),
    ("429 queue full", ark_error(429, "QuotaExceeded", "Too many queued tasks"), RateLimited),
    ("429 spend cap", ark_error(429, "SetLimitExceeded"), QuotaExhausted),
    ("429 monthly quota", ark_error(429, "AccountQuotaExceeded"), QuotaExhausted),
    ("risk detection", ark_error(400, "InputTextRiskDetection"), ContentPolicyViolation),
    ("content security", ark_error(400, "ContentSecurityDetectionError"), ContentPolicyViolation),
    (
        "output moderation",
        ark_error(400, "OutputVideoSensitiveContentDetected"),
        ContentPolicyViolation,
    ),
    (
        "input image moderation",
        ark_error(400, "InputImageSensitiveContentDetected"),
        ContentPolicyViolation,
    ),
    (
        "real face",
        ark_error(400, "InputImageSensitiveContentDetected.PrivacyInformation"),
        ContentPolicyViolation,
    ),
    ("500", ark_error(500, "InternalServiceError"), ProviderUnavailable),
    ("502 html", HttpResponse(status=502, body=b"<html>Bad Gateway</html>"), ProviderUnavailable),
    ("503 empty", HttpResponse(status=503), ProviderUnavailable),
]


@pytest.mark.parametrize(
    ("response", "expected"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_classify_error_golden(response: HttpResponse, expected: type[ProviderError]) -> None:
    """Each documented error answer maps to its class, carrying provider and status."""
    error = ArkAdapter().classify_error(response)
    assert type(error) is expected
    assert error.provider == "ark"
    assert error.status == response.status


_PARSERS: dict[str, Callable[[ArkAdapter, HttpResponse], object]] = {
    "submit": lambda a, r: a.parse_submit(r),
    "status": lambda a, r: a.parse_status(r, "x"),
    "list": lambda a, r: a.parse_list(r),
    "cancel": lambda a, r: a.parse_cancel(r, "x"),
}


@pytest.mark.parametrize("method", sorted(_PARSERS))
def test_every_parse_raises_the_classified_error(method: str) -> None:
    """Error answers raise the classified error from every parse method."""
    parse = _PARSERS[method]
    with pytest.raises(AuthenticationFailed):
        parse(ArkAdapter(), ark_error(401, "AuthenticationError"))


def test_error_envelope_code_message_and_request_id() -> None:
    """§2.8's envelope gives code, message and the request id found in the message."""
    body = {
        "error": {
            "code": "MissingParameter",
            "message": "The request failed because it is missing `content` parameter. Request id: 0217811615abcDEF-12",
            "param": "content",
            "type": "BadRequest",
        }
    }
    error = ArkAdapter().classify_error(HttpResponse.from_json(400, body))
    assert isinstance(error, InvalidRequest)
    assert error.code == "MissingParameter"
    assert error.provider_message is not None
    assert "missing `content` parameter" in error.provider_message
    assert error.request_id == "0217811615abcDEF-12"


def test_request_id_header_wins_over_message() -> None:
    """The X-Request-Id header is the request id when present."""
    response = ark_error(
        400, "InvalidParameter", "bad. Request id: 111", {"X-Request-Id": "hdr-222"}
    )
    assert ArkAdapter().classify_error(response).request_id == "hdr-222"


def test_rate_limit_retry_after_seconds() -> None:
    """EndpointRPMExceeded is retryable and carries Retry-After seconds."""
    error = ArkAdapter().classify_error(
        ark_error(429, "RateLimitExceeded.EndpointRPMExceeded", headers={"Retry-After": "30"})
    )
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert error.retry_after == 30.0
    assert error.retry_at is None
    assert error.code == "RateLimitExceeded.EndpointRPMExceeded"


def test_rate_limit_retry_after_http_date() -> None:
    """A Retry-After HTTP date becomes an absolute UTC time."""
    error = ArkAdapter().classify_error(
        ark_error(
            429,
            "RateLimitExceeded.EndpointRPMExceeded",
            headers={"Retry-After": "Thu, 11 Jun 2026 12:00:05 GMT"},
        )
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after is None
    assert error.retry_at == datetime(2026, 6, 11, 12, 0, 5, tzinfo=UTC)


def test_rate_limit_retry_after_ms() -> None:
    """``retry-after-ms`` is read in milliseconds."""
    error = ArkAdapter().classify_error(
        ark_error(429, "RequestBurstTooFast", headers={"retry-after-ms": "1500"})
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == 1.5


def test_rate_limit_garbage_retry_after_is_ignored() -> None:
    """An unreadable Retry-After gives no hint rather than an exception."""
    error = ArkAdapter().classify_error(
        ark_error(429, "ServerOverloaded", headers={"Retry-After": "soon"})
    )
    assert isinstance(error, RateLimited)
    assert (error.retry_after, error.retry_at) == (None, None)


@pytest.mark.parametrize("value", ["inf", "nan", "1e999", "-inf"])
def test_rate_limit_non_finite_retry_after_is_ignored(value: str) -> None:
    """``inf``/``nan`` delays would mean waiting forever or not at all: no hint instead."""
    for header in ("Retry-After", "retry-after-ms"):
        error = ArkAdapter().classify_error(
            ark_error(429, "ServerOverloaded", headers={header: value})
        )
        assert isinstance(error, RateLimited)
        assert (error.retry_after, error.retry_at) == (None, None)


def test_spend_cap_is_not_retryable() -> None:
    """SetLimitExceeded (user spend cap) is a 429 that waiting does not fix."""
    error = ArkAdapter().classify_error(
        ark_error(429, "SetLimitExceeded", headers={"Retry-After": "30"})
    )
    assert isinstance(error, RateLimited)
    assert not error.retryable


def test_monthly_account_quota_is_exhausted_until_its_reset() -> None:
    """AccountQuotaExceeded is a quota, not a short rate limit: never retried, with its reset."""
    error = ArkAdapter().classify_error(
        ark_error(
            429,
            "AccountQuotaExceeded",
            "You have exceeded the monthly quota of this model, which will reset at "
            "2026-12-01 00:00:00 +08:00. Request id: 021781161500",
        )
    )
    assert isinstance(error, QuotaExhausted)
    assert not error.retryable
    assert error.resets_at == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert error.request_id == "021781161500"
    assert error.code == "AccountQuotaExceeded"


def test_free_quota_exhausted_is_not_retryable() -> None:
    """QuotaExceeded for used-up free quota is not retryable; for a full queue it is."""
    adapter = ArkAdapter()
    free = adapter.classify_error(
        ark_error(429, "QuotaExceeded", "Your free quota has been used up")
    )
    queue = adapter.classify_error(ark_error(429, "QuotaExceeded", "Too many queued tasks"))
    assert isinstance(free, QuotaExhausted)
    assert type(queue) is RateLimited
    assert not free.retryable
    assert queue.retryable


def test_non_json_error_body_keeps_the_text() -> None:
    """A plain-text error body becomes the provider message."""
    error = ArkAdapter().classify_error(HttpResponse(status=500, body=b"upstream exploded"))
    assert error.provider_message == "upstream exploded"
    assert error.code is None


def test_openai_style_error_envelope() -> None:
    """``{"error": {"message", "type", "code"}}`` (GPTProto) is read too."""
    body = {
        "error": {
            "message": "Incorrect API key",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    error = ArkAdapter().classify_error(HttpResponse.from_json(401, body))
    assert isinstance(error, AuthenticationFailed)
    assert (error.code, error.provider_message) == ("invalid_api_key", "Incorrect API key")


# -- configuration ---------------------------------------------------------------------------


def test_create_adapter_builds_ark_with_options() -> None:
    """The registry builds Ark with gateway options."""
    adapter = create_adapter(
        "ark", tasks_path="/volc/v1/contents/generations/tasks", name="chainhub"
    )
    assert isinstance(adapter, ArkAdapter)
    assert adapter.name == "chainhub"
    assert adapter.build_status("x").path == "/volc/v1/contents/generations/tasks/x"
    assert adapter.auth_headers("k") == {"Authorization": "Bearer k"}


def test_extra_status_map() -> None:
    """A gateway's own status words can be mapped; unknown neutral names are config errors."""
    adapter = ArkAdapter(status_map={"DONE": "succeeded"})
    status = adapter.parse_status(HttpResponse.from_json(200, {"id": "x", "status": "done"}), "x")
    assert status.state is TaskState.SUCCEEDED
    with pytest.raises(ConfigurationError, match="finished"):
        ArkAdapter(status_map={"done": "finished"})


def test_metadata_is_not_sent() -> None:
    """Caller metadata stays out of the request body."""
    task = VideoTask(model=PRO, prompt="x", metadata={"row": 17, "secret": "do-not-send"})
    request: HttpRequest = ArkAdapter().build_submit(task)
    assert "do-not-send" not in json.dumps(request.json)
