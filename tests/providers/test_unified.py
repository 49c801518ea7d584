"""Golden tests for the "unified interface" adapter (docs/providers.md §5).

Bodies and answers are the examples of YutoAI's "Seedance Image-to-Video" page (Unified
Interface Format); the § numbers below are sections of docs/providers.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given

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
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    TaskNotFound,
    UnknownStatus,
    UnsupportedParameter,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, SubmitAccepted, create_adapter
from seedance_async.providers.unified import UnifiedAdapter
from seedance_async.spec._status import EffectiveParams, FailureCategory, TaskState, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole
from tests import imagedata
from tests.strategies import json_values, video_tasks

LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
PRO_15 = "doubao-seedance-1-5-pro-251215"
DEMO = "https://webstatic.aiproxy.vip/dist/demo.jpg"
FIRST = "https://example.com/first.png"
LAST = "https://example.com/last.png"
PNG = imagedata.png(640, 480)

ADAPTER = UnifiedAdapter()

SEED_003_BODY = {
    "prompt": "dance",
    "model": "doubao-seedance-1-0-lite-t2v-250428",
    "images": ["https://webstatic.aiproxy.vip/dist/demo.jpg"],
}


def test_seed_003_example() -> None:
    """The unified page's example body, with the one change our model table forces.

    The page pairs the text-to-video model lite-t2v with an image, which the capability
    table refuses (§7: lite-t2v has no image scenario), so the spec uses lite-i2v, the model
    of the page's own title ("Image-to-Video"); everything else is byte-for-byte the page's.
    """
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(model=LITE_T2V, prompt="dance", images=[Image.from_url(DEMO)])
    assert "images" in info.value.fields
    request = ADAPTER.build_submit(
        VideoTask(model=LITE_I2V, prompt="dance", images=[Image.from_url(DEMO)])
    )
    assert request.method == "POST"
    assert request.path == "/v2/videos/generations"
    assert request.paid
    assert request.json == {**SEED_003_BODY, "model": LITE_I2V}
    assert (
        request.body_bytes()
        == json.dumps({**SEED_003_BODY, "model": LITE_I2V}, separators=(",", ":")).encode()
    )


# (case id, VideoTask kwargs, adapter options, expected body)
SUBMIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "text-only",
        {"model": LITE_T2V, "prompt": "a kitten runs under the moonlight"},
        {},
        {"prompt": "a kitten runs under the moonlight", "model": LITE_T2V},
    ),
    (
        "every-field-false-and-zero-kept",
        {
            "model": LITE_I2V,
            "prompt": "p",
            "images": [Image.from_url(FIRST)],
            "duration": 10,
            "resolution": "1080p",
            "ratio": "keep_ratio",
            "watermark": False,
            "seed": 0,
            "camera_fixed": False,
            "return_last_frame": False,
            "generate_audio": False,
        },
        {},
        {
            "prompt": "p",
            "model": LITE_I2V,
            "images": [FIRST],
            "duration": 10,
            "resolution": "1080p",
            "ratio": "keep_ratio",
            "watermark": False,
            "seed": 0,
            "camerafixed": False,
            "return_last_frame": False,
            "generate_audio": False,
        },
    ),
    (
        "first-then-last-frame",
        {
            "model": PRO,
            "prompt": "p",
            "images": [Image.from_url(FIRST), Image.from_url(LAST, ImageRole.LAST_FRAME)],
            "seed": 2147483647,
            "camera_fixed": True,
            "return_last_frame": True,
            "ratio": "9:21",
        },
        {},
        {
            "prompt": "p",
            "model": PRO,
            "images": [FIRST, LAST],
            "seed": 2147483647,
            "camerafixed": True,
            "return_last_frame": True,
            "ratio": "9:21",
        },
    ),
    (
        "bytes-image-as-data-url",
        {"model": PRO, "prompt": "p", "images": [Image.from_bytes(PNG)]},
        {},
        {
            "prompt": "p",
            "model": PRO,
            "images": ["data:image/png;base64," + base64.b64encode(PNG).decode()],
        },
    ),
    (
        "audio-on-1.5-pro",
        {"model": PRO_15, "prompt": "p", "generate_audio": True, "duration": 5},
        {},
        {"prompt": "p", "model": PRO_15, "generate_audio": True, "duration": 5},
    ),
    (
        "reference-images-when-enabled",
        {
            "model": LITE_I2V,
            "prompt": "[Image1] and [Image2] dance",
            "images": [
                Image.from_url(FIRST, ImageRole.REFERENCE_IMAGE),
                Image.from_url(LAST, ImageRole.REFERENCE_IMAGE),
            ],
        },
        {"reference_images": True},
        {"prompt": "[Image1] and [Image2] dance", "model": LITE_I2V, "images": [FIRST, LAST]},
    ),
    (
        "model-passed-as-given",
        {"model": "seedance-1-0-pro-250528", "prompt": "p"},
        {"path": "/v2/videos/generations/"},
        {"prompt": "p", "model": "seedance-1-0-pro-250528"},
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "options", "body"), [c[1:] for c in SUBMIT_CASES], ids=[c[0] for c in SUBMIT_CASES]
)
def test_submit_golden(
    kwargs: dict[str, Any], options: dict[str, Any], body: dict[str, Any]
) -> None:
    """A spec becomes exactly the §5 body, POSTed as a paid request."""
    request = UnifiedAdapter(**options).build_submit(VideoTask(**kwargs))
    assert request.path == "/v2/videos/generations"
    assert request.paid
    assert request.json == body


# (case id, VideoTask kwargs, adapter options, field named by the violation)
REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("frames", {"model": PRO, "prompt": "p", "frames": 57}, {}, "frames"),
    ("duration-6", {"model": PRO, "prompt": "p", "duration": 6}, {}, "duration"),
    ("seed-minus-one", {"model": PRO, "prompt": "p", "seed": -1}, {}, "seed"),
    ("seed-above-int32", {"model": PRO, "prompt": "p", "seed": 2**31}, {}, "seed"),
    ("prompt-801", {"model": PRO, "prompt": "a" * 801}, {}, "prompt"),
    ("prompt-over-option", {"model": PRO, "prompt": "a" * 11}, {"max_prompt_chars": 10}, "prompt"),
    ("empty-prompt", {"model": PRO, "images": [Image.from_url(FIRST)]}, {}, "prompt"),
    (
        "reference-images",
        {"model": LITE_I2V, "prompt": "p", "images": [Image.from_url(FIRST, "reference_image")]},
        {},
        "images",
    ),
    ("service_tier", {"model": PRO, "prompt": "p", "service_tier": "flex"}, {}, "service_tier"),
    (
        "expires",
        {"model": PRO, "prompt": "p", "execution_expires_after": 7200},
        {},
        "execution_expires_after",
    ),
    (
        "callback",
        {"model": PRO, "prompt": "p", "callback_url": "https://x.example/cb"},
        {},
        "callback_url",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "options", "field"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_check_refuses(kwargs: dict[str, Any], options: dict[str, Any], field: str) -> None:
    """check() names the field this format cannot carry; build_submit will not drop it."""
    adapter = UnifiedAdapter(**options)
    task = VideoTask(**kwargs)
    assert [v.field for v in adapter.check(task)] == [field]
    with pytest.raises(InvalidTaskSpec) as info:
        adapter.build_submit(task)
    assert info.value.fields == (field,)


def test_prompt_limit_can_be_lifted() -> None:
    """max_prompt_chars=None sends long prompts (the gateway then truncates them)."""
    task = VideoTask(model=PRO, prompt="a" * 801)
    assert UnifiedAdapter(max_prompt_chars=None).check(task) == []
    assert ADAPTER.capabilities.max_prompt_chars == 800


def test_capabilities() -> None:
    """Roles are not on the wire; ratios include the gateway-only 9:21 and keep_ratio."""
    caps = ADAPTER.capabilities
    assert not caps.image_roles_on_wire
    assert not caps.reference_images
    assert UnifiedAdapter(reference_images=True).capabilities.reference_images
    assert (caps.seed_min, caps.seed_max) == (0, 2147483647)
    assert caps.durations == frozenset({5, 10})
    assert {"9:21", "keep_ratio", "adaptive"} <= {r.value for r in caps.ratios}


@given(video_tasks(sources=("url", "data", "data_url")))
def test_any_spec_is_sent_or_refused(task: VideoTask) -> None:
    """Every valid spec builds a body within the §5 limits or is refused as a whole.

    The spec is also tried without the fields this format cannot carry: then only a missing
    prompt or the image scenarios it cannot express may stop it.
    """
    lean = attrs.evolve(
        task,
        frames=None,
        service_tier=None,
        execution_expires_after=None,
        callback_url=None,
        duration=None,
        seed=None,
    )
    assert {v.field for v in ADAPTER.check(lean)} <= {"prompt", "images"}
    for candidate in (task, lean):
        if ADAPTER.check(candidate):
            with pytest.raises(InvalidTaskSpec):
                ADAPTER.build_submit(candidate)
            continue
        body = ADAPTER.build_submit(candidate).json
        json.dumps(body)
        assert set(body) <= {
            "prompt", "model", "images", "duration", "resolution", "ratio", "watermark",
            "seed", "camerafixed", "return_last_frame", "generate_audio",
        }  # fmt: skip
        assert body.get("duration", 5) in (5, 10)
        assert 0 <= body.get("seed", 0) <= 2147483647
        assert len(body["prompt"]) <= 800


# -- submit answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"task_id": "cgt-20250831141439-sqmgf"},  # the unified page's example
        {"code": "success", "message": "", "data": {"task_id": "cgt-20250831141439-sqmgf"}},
        {"code": 0, "data": {"task_id": "cgt-20250831141439-sqmgf"}},
    ],
)
def test_parse_submit(payload: dict[str, Any]) -> None:
    """The task id comes bare or inside the {code, message, data} wrapper."""
    accepted = ADAPTER.parse_submit(HttpResponse.from_json(200, payload))
    assert accepted.task_id == "cgt-20250831141439-sqmgf"
    assert accepted.status is None


def test_parse_submit_new_api_bare_id() -> None:
    """new-api answers a submit with the id as a bare string in ``data``."""
    response = HttpResponse.from_json(200, {"code": "success", "message": "", "data": "task_1"})
    assert ADAPTER.parse_submit(response) == SubmitAccepted(task_id="task_1")


def test_parse_submit_wrapped_error_at_200() -> None:
    """A 200 whose wrapper carries an error code is a rejection, with code and message."""
    response = HttpResponse.from_json(
        200, {"code": "insufficient_user_quota", "message": "quota exhausted", "data": None}
    )
    with pytest.raises(ProviderRejected) as info:
        ADAPTER.parse_submit(response)
    assert info.value.code == "insufficient_user_quota"
    assert info.value.provider_message == "quota exhausted"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"", "$"),
        (b"oops", "$"),
        (b"[]", "$"),
        (b"{}", "$.task_id"),
        (b'{"code": "success", "data": {}}', "$.data.task_id"),
        (b'{"code": "success", "data": ["x"]}', "$.data"),
        (b'{"code": "success", "data": " "}', "$.data"),
        (b'{"task_id": ["x"]}', "$.task_id"),
    ],
)
def test_malformed_submit(body: bytes, path: str) -> None:
    """A create answer without a usable task_id is malformed, with the path."""
    with pytest.raises(MalformedResponse) as info:
        ADAPTER.parse_submit(HttpResponse(status=200, body=body))
    assert info.value.path == path


# -- status ------------------------------------------------------------------------------


def test_build_status_quotes_the_id() -> None:
    """GET {path}/{task_id}, the id escaped as one path segment."""
    request = ADAPTER.build_status("cgt-1/../x y")
    assert request.method == "GET"
    assert request.path == "/v2/videos/generations/cgt-1%2F..%2Fx%20y"
    assert not request.paid


T0 = datetime.fromtimestamp(1716192124, tz=UTC)
URL = "https://cdn.example.com/out.mp4"
DOC_SUCCESS = {
    "task_id": "cgt-20250831141439-sqmgf",
    "status": "SUCCESS",
    "fail_reason": "",
    "submit_time": 1716192124,
    "start_time": 1716192124,
    "finish_time": 1716192124,
    "progress": "100%",
    "data": {"output": URL, "outputs": [URL]},
}


def test_status_doc_example() -> None:
    """The documented query answer (§5): succeeded, url, times, progress 1.0."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, DOC_SUCCESS), "asked")
    assert status.provider == "unified"
    assert status.task_id == "cgt-20250831141439-sqmgf"
    assert status.state is TaskState.SUCCEEDED
    assert status.provider_status == "SUCCESS"
    assert status.video_url == URL
    assert status.created_at == T0
    assert status.updated_at == T0
    assert status.progress == 1.0
    assert status.error_message is None
    assert status.raw == DOC_SUCCESS


# (case id, answer, state, progress, video url, error code, error message)
STATUS_CASES: list[
    tuple[str, dict[str, Any], TaskState, float | None, str | None, str | None, str | None]
] = [
    (
        "not-start",
        {"task_id": "t", "status": "NOT_START", "progress": "0%"},
        TaskState.QUEUED,
        0.0,
        None,
        None,
        None,
    ),
    (
        "submitted",
        {"task_id": "t", "status": "SUBMITTED"},
        TaskState.QUEUED,
        None,
        None,
        None,
        None,
    ),
    (
        "queued",
        {"task_id": "t", "status": "QUEUED", "progress": ""},
        TaskState.QUEUED,
        None,
        None,
        None,
        None,
    ),
    (
        "in-progress",
        {"task_id": "t", "status": "IN_PROGRESS", "progress": "45%"},
        TaskState.RUNNING,
        0.45,
        None,
        None,
        None,
    ),
    (
        "numeric-progress",
        {"task_id": "t", "status": "IN_PROGRESS", "progress": 30},
        TaskState.RUNNING,
        0.3,
        None,
        None,
        None,
    ),
    (
        "lower-case",
        {"task_id": "t", "status": "success", "data": {"outputs": [URL]}},
        TaskState.SUCCEEDED,
        None,
        URL,
        None,
        None,
    ),
    (
        "failure",
        {
            "task_id": "t",
            "status": "FAILURE",
            "fail_reason": "task timed out",
            "progress": "100%",
            "data": None,
        },
        TaskState.FAILED,
        1.0,
        None,
        None,
        "task timed out",
    ),
    (
        "upstream-ark-error",
        {
            "task_id": "t",
            "status": "FAILURE",
            "fail_reason": "",
            "data": {
                "id": "cgt-x",
                "status": "failed",
                "error": {
                    "code": "OutputVideoSensitiveContentDetected.PolicyViolation",
                    "message": "The request failed because the output video may be related to copyright restrictions.",
                },
            },
        },
        TaskState.FAILED,
        None,
        None,
        "OutputVideoSensitiveContentDetected.PolicyViolation",
        "The request failed because the output video may be related to copyright restrictions.",
    ),
    (
        "upstream-ark-content",
        {
            "task_id": "t",
            "status": "SUCCESS",
            "data": {"id": "cgt-x", "status": "succeeded", "content": {"video_url": URL}},
        },
        TaskState.SUCCEEDED,
        None,
        URL,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("payload", "state", "progress", "url", "code", "message"),
    [c[1:] for c in STATUS_CASES],
    ids=[c[0] for c in STATUS_CASES],
)
def test_status_golden(
    payload: dict[str, Any],
    state: TaskState,
    progress: float | None,
    url: str | None,
    code: str | None,
    message: str | None,
) -> None:
    """Each documented status word, progress form and failure form maps to the neutral status."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, payload), "t")
    assert status.state is state
    if progress is None:
        assert status.progress is None
    else:
        assert status.progress == pytest.approx(progress)
    assert status.video_url == url
    assert (status.error_code, status.error_message) == (code, message)


def test_status_wrapped_variant() -> None:
    """{"code": "success", "message": "", "data": {...}} wraps the same object (§5)."""
    upstream = {
        "id": "cgt-x",
        "status": "succeeded",
        "content": {"video_url": URL, "last_frame_url": "https://cdn.example.com/last.png"},
        "usage": {"completion_tokens": 108900, "total_tokens": 108900},
    }
    wrapped = {
        "code": "success",
        "message": "",
        "data": {**DOC_SUCCESS, "task_id": "task_abc", "data": upstream},
    }
    status = ADAPTER.parse_status(HttpResponse.from_json(200, wrapped), "task_abc")
    assert status.task_id == "task_abc"
    assert status.state is TaskState.SUCCEEDED
    assert status.video_url == URL
    assert status.last_frame_url == "https://cdn.example.com/last.png"
    assert status.usage == Usage(completion_tokens=108900, total_tokens=108900)
    assert status.created_at == T0


def test_new_api_task_record_gives_the_result_url() -> None:
    """new-api's task record names the video in ``result_url``; it used to come out empty."""
    record = {
        "code": "success",
        "message": "",
        "data": {
            "task_id": "task_abc",
            "action": "generate",
            "status": "SUCCESS",
            "fail_reason": "",
            "result_url": URL,
            "submit_time": 1716192124,
            "finish_time": 1716192124,
            "progress": "100%",
        },
    }
    status = ADAPTER.parse_status(HttpResponse.from_json(200, record), "task_abc")
    assert status.state is TaskState.SUCCEEDED
    assert status.video_url == URL
    assert status.failure is None


def test_upstream_ark_task_gives_effective_values() -> None:
    """A relayed Ark task's echoed values and tool usage land in the neutral fields."""
    upstream = {
        "id": "cgt-x",
        "status": "succeeded",
        "content": {"video_url": URL},
        "usage": {"completion_tokens": 9, "total_tokens": 9, "tool_usage": {"web_search": 0}},
        "ratio": "9:16",
        "duration": 6,
        "seed": 7,
        "resolution": "720p",
    }
    body = {"task_id": "t", "status": "SUCCESS", "data": upstream}
    status = ADAPTER.parse_status(HttpResponse.from_json(200, body), "t")
    assert status.effective == EffectiveParams(duration=6, ratio="9:16", seed=7, resolution="720p")
    assert status.usage == Usage(completion_tokens=9, total_tokens=9, tool_usage={"web_search": 0})
    bare = ADAPTER.parse_status(HttpResponse.from_json(200, DOC_SUCCESS), "t")
    assert bare.effective is None


# (case id, fail_reason, upstream error, category)
FAILURE_CASES: list[tuple[str, str, Any, FailureCategory]] = [
    # The moderation verdict may be in fail_reason words alone: never resubmit those.
    (
        "moderation-in-words",
        "The request failed because the output video may be related to copyright restrictions.",
        None,
        "moderation",
    ),
    ("moderation-code-in-words", "OutputVideoSensitiveContentDetected", None, "moderation"),
    ("moderation-chinese", "输出视频可能包含敏感信息", None, "moderation"),
    (
        "moderation-upstream-code",
        "task failed",
        {"code": "OutputVideoSensitiveContentDetected.PolicyViolation", "message": "m"},
        "moderation",
    ),
    ("timeout", "task timed out", None, "timeout"),
    ("timeout-chinese", "任务超时", None, "timeout"),
    ("internal-upstream", "", {"code": "InternalServiceError", "message": "x"}, "internal"),
    ("internal-words", "upstream internal error", None, "internal"),
    (
        "expired",
        "",
        {"code": "TaskExpired", "message": "The task expired before it finished."},
        "expired",
    ),
    ("bad-input", "InvalidParameter: the prompt is too long", None, "bad_input"),
    ("quota", "insufficient balance", None, "quota"),
    ("nothing-said", "", None, "unknown"),
    ("unclassified-words", "something went wrong", None, "unknown"),
]


@pytest.mark.parametrize(
    ("reason", "upstream_error", "category"),
    [c[1:] for c in FAILURE_CASES],
    ids=[c[0] for c in FAILURE_CASES],
)
def test_failure_category(reason: str, upstream_error: Any, category: FailureCategory) -> None:
    """A FAILURE answer's fail_reason and upstream error map to a neutral category."""
    data = None if upstream_error is None else {"status": "failed", "error": upstream_error}
    body = {"task_id": "t", "status": "FAILURE", "fail_reason": reason, "data": data}
    status = ADAPTER.parse_status(HttpResponse.from_json(200, body), "t")
    assert status.state is TaskState.FAILED
    assert status.failure == category


@pytest.mark.parametrize("word", ["PAUSED", "UNKNOWN", "completed", "cancel"])
def test_unknown_status_word_is_a_typed_error(word: str) -> None:
    """A word outside the vocabulary (new-api's own UNKNOWN too) raises UnknownStatus."""
    body = {"code": "success", "message": "", "data": {"task_id": "task_9", "status": word}}
    with pytest.raises(UnknownStatus) as info:
        ADAPTER.parse_status(HttpResponse.from_json(200, body), "asked")
    assert (info.value.word, info.value.task_id) == (word, "task_9")
    assert info.value.path == "$.data.status"


def test_status_wrapped_error_at_200() -> None:
    """A wrapper with an error code and no task is raised, not read as a task."""
    response = HttpResponse.from_json(200, {"code": "task_not_exist", "message": "task not exist"})
    with pytest.raises(ProviderRejected) as info:
        ADAPTER.parse_status(response, "t")
    assert info.value.code == "task_not_exist"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"", "$"),
        (b"<html/>", "$"),
        (b'"SUCCESS"', "$"),
        (b'{"task_id": "t"}', "$.status"),
        (b'{"task_id": "t", "status": null}', "$.status"),
        (b'{"task_id": "t", "status": "SUCCESS", "data": "u"}', "$.data"),
        (b'{"task_id": "t", "status": "SUCCESS", "data": {"outputs": {"a": 1}}}', "$.data.outputs"),
        (b'{"task_id": "t", "status": "SUCCESS", "data": {"outputs": [{}]}}', "$.data.outputs[0]"),
        (b'{"task_id": "t", "status": "IN_PROGRESS", "progress": "half"}', "$.progress"),
        (b'{"task_id": "t", "status": "SUCCESS", "submit_time": "yesterday"}', "$.submit_time"),
        (b'{"code": "success", "data": {"task_id": "t", "status": 1.5}}', "$.data.status"),
    ],
)
def test_malformed_status(body: bytes, path: str) -> None:
    """Answers that do not fit raise MalformedResponse naming the JSON path."""
    with pytest.raises(MalformedResponse) as info:
        ADAPTER.parse_status(HttpResponse(status=200, body=body), "t")
    assert info.value.path == path


@given(json_values())
def test_any_json_raises_only_provider_errors(payload: Any) -> None:
    """Arbitrary JSON never escapes as KeyError/TypeError/AttributeError/ValueError."""
    response = HttpResponse(status=200, body=json.dumps(payload).encode())
    for parse in (
        lambda: ADAPTER.parse_status(response, "t"),
        lambda: ADAPTER.parse_submit(response),
    ):
        with contextlib.suppress(ProviderError):
            parse()


# -- errors ------------------------------------------------------------------------------

# (case id, HTTP status, body, class, code, message)
ERROR_CASES: list[tuple[str, int, Any, type[ProviderError], str | None, str | None]] = [
    (
        "401-error-object",
        401,
        {"error": {"message": "invalid token", "type": "new_api_error", "code": "invalid_api_key"}},
        AuthenticationFailed,
        "invalid_api_key",
        "invalid token",
    ),
    (
        "401-message-and-label",
        401,
        {"message": "Invalid token.", "error": "unauthorized"},
        AuthenticationFailed,
        "unauthorized",
        "Invalid token.",
    ),
    ("429-message", 429, {"message": "too many requests"}, RateLimited, None, "too many requests"),
    (
        "400-error-string",
        400,
        {"error": "images must be URLs"},
        InvalidRequest,
        None,
        "images must be URLs",
    ),
    (
        "400-wrapper-code",
        400,
        {"code": "invalid_request", "message": "model not supported", "data": None},
        InvalidRequest,
        "invalid_request",
        "model not supported",
    ),
    (
        "400-moderation",
        400,
        {"error": {"code": "InputTextSensitiveContentDetected", "message": "sensitive"}},
        ContentPolicyViolation,
        "InputTextSensitiveContentDetected",
        "sensitive",
    ),
    (
        "500-fail_reason",
        500,
        {"fail_reason": "upstream error"},
        ProviderUnavailable,
        None,
        "upstream error",
    ),
    ("404-task", 404, {"message": "task not found"}, TaskNotFound, None, "task not found"),
    (
        "model-not-found",
        503,
        {
            "error": {
                "message": "no channel for model",
                "type": "new_api_error",
                "code": "model_not_found",
            }
        },
        ModelNotServed,
        "model_not_found",
        "no channel for model",
    ),
    (
        "unsupported-parameter",
        400,
        {
            "error": {
                "message": "seed",
                "type": "invalid_request_error",
                "code": "unsupported_parameter",
            }
        },
        UnsupportedParameter,
        "unsupported_parameter",
        "seed",
    ),
    (
        "upstream-unknown-model",
        404,
        {"error": {"code": "InvalidEndpointOrModel.NotFound", "message": "no such model"}},
        ModelNotServed,
        "InvalidEndpointOrModel.NotFound",
        "no such model",
    ),
    (
        "user-quota",
        403,
        {
            "error": {
                "message": "quota used up",
                "type": "new_api_error",
                "code": "insufficient_user_quota",
            }
        },
        PermissionDenied,
        "insufficient_user_quota",
        "quota used up",
    ),
]


@pytest.mark.parametrize(
    ("status", "payload", "cls", "code", "message"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_error_golden(
    status: int, payload: Any, cls: type[ProviderError], code: str | None, message: str | None
) -> None:
    """Error answers are read from message / error / fail_reason and classified."""
    response = HttpResponse.from_json(status, payload, {"X-Request-Id": "rid-9"})
    error = ADAPTER.classify_error(response)
    assert type(error) is cls
    assert (error.status, error.code, error.provider_message) == (status, code, message)
    assert error.request_id == "rid-9"
    with pytest.raises(cls):
        ADAPTER.parse_status(response, "t")
    with pytest.raises(cls):
        ADAPTER.parse_submit(response)


def test_non_json_error() -> None:
    """A non-JSON error page is classified by status with its text as the message."""
    error = ADAPTER.classify_error(HttpResponse(status=502, body=b"Bad Gateway"))
    assert isinstance(error, ProviderUnavailable)
    assert error.provider_message == "Bad Gateway"


# -- cancel, list, auth, registry ----------------------------------------------------


def test_no_cancel_no_list() -> None:
    """No cancel or list endpoint is documented; the parsers refuse to be called."""
    assert ADAPTER.build_cancel("t") is None
    assert ADAPTER.build_list(ListQuery()) is None
    with pytest.raises(ConfigurationError, match="no cancel endpoint"):
        ADAPTER.parse_cancel(HttpResponse.from_json(200, {}), "t")
    with pytest.raises(ConfigurationError, match="no list endpoint"):
        ADAPTER.parse_list(HttpResponse.from_json(200, {}))


def test_auth_and_registry() -> None:
    """Bearer auth; create_adapter("unified") builds a ProviderAdapter with options."""
    adapter = create_adapter("unified", path="/api/v2/videos/generations", reference_images=True)
    assert isinstance(adapter, UnifiedAdapter)
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.name == "unified"
    assert adapter.build_status("t").path == "/api/v2/videos/generations/t"
    assert adapter.auth_headers("k") == {"Authorization": "Bearer k"}
    assert UnifiedAdapter(name="yuto").name == "yuto"


def test_last_frame_is_sent_last_whatever_the_spec_order() -> None:
    """Roles travel by position on this wire, so a last frame listed first is moved last."""
    task = VideoTask(
        model=PRO, prompt="p", images=[Image.from_url(LAST, "last_frame"), Image.from_url(FIRST)]
    )
    assert UnifiedAdapter().build_submit(task).json["images"] == [FIRST, LAST]
