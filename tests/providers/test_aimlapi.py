"""Golden tests for the AI/ML API adapter (docs/providers.md §4).

The § numbers below are sections of docs/providers.md; "the page" is AI/ML API's "Seedance
1.0 lite (Image-to-Video)".
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import attrs
import pytest
from hypothesis import given

from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    ModelNotServed,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownStatus,
    UnsupportedParameter,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, SubmitAccepted, create_adapter
from seedance_async.providers.aimlapi import UNIVERSAL_PATH, AimlApiAdapter
from seedance_async.spec._status import EffectiveParams, FailureCategory, TaskState, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole
from tests import imagedata
from tests.strategies import json_values, video_tasks

LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
PRO_FAST = "doubao-seedance-1-0-pro-fast-251015"
PRO_15 = "doubao-seedance-1-5-pro-251215"
MONA = "https://s2-111386.kwimgs.com/bs2/mmu-aiplatform-temp/kling/20240620/1.jpeg"
FIRST = "https://example.com/first.png"
LAST = "https://example.com/last.png"
DRAGON = "A menacing evil dragon appears in a distance above the tallest mountain."
PNG = imagedata.png(640, 640)

ADAPTER = AimlApiAdapter()


def first(url: str = FIRST) -> Image:
    return Image.from_url(url)


def last(url: str = LAST) -> Image:
    return Image.from_url(url, ImageRole.LAST_FRAME)


# (case id, VideoTask keyword arguments, expected JSON body) — h11 SIMPLE_CASES style.
SUBMIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        # The page's model, with the code sample of that page.
        "lite-i2v-doc-sample",
        {
            "model": "bytedance/seedance-1-0-lite-i2v",
            "prompt": "Mona Lisa puts on glasses with her hands.",
            "images": [first(MONA)],
        },
        {
            "model": "bytedance/seedance-1-0-lite-i2v",
            "prompt": "Mona Lisa puts on glasses with her hands.",
            "image_url": MONA,
        },
    ),
    (
        "ark-lite-i2v-id-maps",
        {"model": LITE_I2V, "prompt": "p", "images": [first()]},
        {"model": "bytedance/seedance-1-0-lite-i2v", "prompt": "p", "image_url": FIRST},
    ),
    (
        "pro-text-is-t2v",
        {"model": PRO, "prompt": DRAGON},
        {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": DRAGON},
    ),
    (
        "pro-first-frame-is-i2v",
        {"model": PRO, "prompt": "p", "images": [first()]},
        {"model": "bytedance/seedance-1-0-pro-i2v", "prompt": "p", "image_url": FIRST},
    ),
    (
        "pro-first-last-frame",
        {"model": PRO, "prompt": "p", "images": [first(), last()], "duration": 10},
        {
            "model": "bytedance/seedance-1-0-pro-i2v",
            "prompt": "p",
            "image_url": FIRST,
            "last_image_url": LAST,
            "duration": 10,
        },
    ),
    (
        "byteplus-pro-fast-id",
        {"model": "seedance-1-0-pro-fast-251015", "prompt": "p", "resolution": "1080p"},
        {"model": "bytedance/seedance-1-0-pro-fast", "prompt": "p", "resolution": "1080p"},
    ),
    (
        "lite-t2v-all-fields-false-and-zero-kept",
        {
            "model": LITE_T2V,
            "prompt": "p",
            "resolution": "480p",
            "ratio": "9:21",
            "duration": 5,
            "seed": 0,
            "watermark": False,
            "camera_fixed": False,
        },
        {
            "model": "bytedance/seedance-1-0-lite-t2v",
            "prompt": "p",
            "resolution": "480p",
            "aspect_ratio": "9:21",
            "duration": 5,
            "seed": 0,
            "watermark": False,
            "camerafixed": False,
        },
    ),
    (
        "pro-1.5-camera_fixed-and-audio",
        {
            "model": PRO_15,
            "prompt": "p",
            "images": [first(), last()],
            "ratio": "adaptive",
            "duration": 12,
            "seed": -1,
            "camera_fixed": True,
            "generate_audio": False,
            "resolution": "720p",
        },
        {
            "model": "bytedance/seedance-1-5-pro",
            "prompt": "p",
            "image_url": FIRST,
            "last_image_url": LAST,
            "aspect_ratio": "adaptive",
            "duration": 12,
            "seed": -1,
            "camera_fixed": True,
            "generate_audio": False,
            "resolution": "720p",
        },
    ),
    (
        "silent-model-drops-generate_audio-false",
        {"model": PRO, "prompt": "p", "generate_audio": False},
        {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "p"},
    ),
    (
        "aiml-id-passes-through",
        {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "p", "images": [first()]},
        {"model": "bytedance/seedance-1-0-pro-t2v", "prompt": "p", "image_url": FIRST},
    ),
    (
        "bytes-image-as-data-url",
        {"model": PRO, "prompt": "p", "images": [Image.from_bytes(PNG)]},
        {
            "model": "bytedance/seedance-1-0-pro-i2v",
            "prompt": "p",
            "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        },
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "body"), [c[1:] for c in SUBMIT_CASES], ids=[c[0] for c in SUBMIT_CASES]
)
def test_submit_golden(kwargs: dict[str, Any], body: dict[str, Any]) -> None:
    """A spec becomes exactly the documented flat body, POSTed as a paid request."""
    request = ADAPTER.build_submit(VideoTask(**kwargs))
    assert request.method == "POST"
    assert request.path == "/v2/generate/video/bytedance/generation"
    assert request.paid
    assert request.json == body
    assert json.loads(request.body_bytes() or b"") == body


def test_unknown_model_passes_through() -> None:
    """An id the adapter does not know goes out unchanged, with camera_fixed spelled as on 1.5 pro."""
    with pytest.warns(UserWarning, match="not in the capability table"):
        task = VideoTask(model="seedance-9-0-ultra", prompt="p", camera_fixed=True, duration=7)
    assert ADAPTER.check(task) == []
    assert ADAPTER.build_submit(task).json == {
        "model": "seedance-9-0-ultra",
        "prompt": "p",
        "camera_fixed": True,
        "duration": 7,
    }


@pytest.mark.parametrize(
    ("model", "option", "key"),
    [
        (LITE_I2V, "auto", "camerafixed"),
        (PRO, "auto", "camerafixed"),
        (PRO_15, "auto", "camera_fixed"),
        (LITE_I2V, "camera_fixed", "camera_fixed"),  # what the page shows
        (PRO_15, "camerafixed", "camerafixed"),
    ],
)
def test_camera_fixed_spelling(model: str, option: Any, key: str) -> None:
    """camera_fixed_field picks the key: per model on "auto", else as configured."""
    adapter = AimlApiAdapter(camera_fixed_field=option)
    body = adapter.build_submit(
        VideoTask(model=model, prompt="p", images=[first()], camera_fixed=True)
    ).json
    assert body[key] is True
    assert {"camera_fixed", "camerafixed"} & set(body) == {key}


def test_paths_are_options() -> None:
    """The universal path works for submit and status; status follows submit unless set."""
    adapter = AimlApiAdapter(submit_path=UNIVERSAL_PATH)
    assert adapter.build_submit(VideoTask(model=PRO, prompt="p")).path == UNIVERSAL_PATH
    assert adapter.build_status("x").path == UNIVERSAL_PATH
    split = AimlApiAdapter(status_path="v2/video/generations/")
    assert split.build_status("x").path == UNIVERSAL_PATH


# (case id, VideoTask kwargs, adapter options, field named by the violation)
REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "reference-images",
        {"model": LITE_I2V, "prompt": "p", "images": [Image.from_url(FIRST, "reference_image")]},
        {},
        "images",
    ),
    ("frames", {"model": PRO, "prompt": "p", "frames": 57}, {}, "frames"),
    (
        "return_last_frame",
        {"model": PRO, "prompt": "p", "return_last_frame": True},
        {},
        "return_last_frame",
    ),
    ("service_tier", {"model": PRO, "prompt": "p", "service_tier": "flex"}, {}, "service_tier"),
    (
        "expires",
        {"model": PRO, "prompt": "p", "execution_expires_after": 3600},
        {},
        "execution_expires_after",
    ),
    (
        "callback",
        {"model": PRO, "prompt": "p", "callback_url": "https://x.example/cb"},
        {},
        "callback_url",
    ),
    ("duration-1.0", {"model": PRO, "prompt": "p", "duration": 6}, {}, "duration"),
    ("duration-auto-1.5", {"model": PRO_15, "prompt": "p", "duration": -1}, {}, "duration"),
    ("ratio-on-pro", {"model": PRO, "prompt": "p", "ratio": "16:9"}, {}, "ratio"),
    (
        "ratio-on-lite-i2v",
        {"model": LITE_I2V, "prompt": "p", "images": [first()], "ratio": "adaptive"},
        {},
        "ratio",
    ),
    ("9:21-on-1.5", {"model": PRO_15, "prompt": "p", "ratio": "9:21"}, {}, "ratio"),
    (
        "last-frame-on-lite-i2v",
        {"model": LITE_I2V, "prompt": "p", "images": [first(), last()]},
        {},
        "images",
    ),
    ("empty-prompt", {"model": PRO, "images": [first()]}, {}, "prompt"),
    ("seed-below-option", {"model": PRO, "prompt": "p", "seed": -1}, {"seed_min": 0}, "seed"),
    (
        "seed-above-option",
        {"model": PRO, "prompt": "p", "seed": 2**31},
        {"seed_max": 2**31 - 1},
        "seed",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "options", "field"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_check_refuses(kwargs: dict[str, Any], options: dict[str, Any], field: str) -> None:
    """check() names the field AI/ML API cannot take, and build_submit refuses to drop it."""
    adapter = AimlApiAdapter(**options)
    task = VideoTask(**kwargs)
    assert [v.field for v in adapter.check(task)] == [field]
    assert "aimlapi" in adapter.check(task)[0].rule
    with pytest.raises(InvalidTaskSpec) as info:
        adapter.build_submit(task)
    assert info.value.fields == (field,)


def test_check_accepts_harmless_defaults() -> None:
    """Explicit defaults (return_last_frame=False, service_tier=default) need no field."""
    task = VideoTask(
        model=PRO_15, prompt="p", return_last_frame=False, service_tier="default", duration=4
    )
    assert ADAPTER.check(task) == []
    assert ADAPTER.build_submit(task).json == {
        "model": "bytedance/seedance-1-5-pro",
        "prompt": "p",
        "duration": 4,
    }


@given(video_tasks(sources=("url", "data", "data_url")))
def test_any_spec_is_sent_or_refused(task: VideoTask) -> None:
    """Every valid spec builds a body within the model's schema or is refused as a whole.

    The spec is also tried without the fields AI/ML API cannot carry: then only a missing
    prompt or an image scenario the model's schema lacks may stop it.
    """
    lean = attrs.evolve(
        task,
        frames=None,
        return_last_frame=None,
        service_tier=None,
        execution_expires_after=None,
        callback_url=None,
        duration=None,
        ratio=None,
    )
    assert {v.field for v in ADAPTER.check(lean)} <= {"prompt", "images"}
    for candidate in (task, lean):
        if ADAPTER.check(candidate):
            with pytest.raises(InvalidTaskSpec):
                ADAPTER.build_submit(candidate)
            continue
        body = ADAPTER.build_submit(candidate).json
        json.dumps(body)
        assert body["model"].startswith("bytedance/seedance-")
        assert set(body) <= _AIML_KEYS
        assert body.get("duration", 5) in range(4, 13)


_AIML_KEYS = {
    "model", "prompt", "image_url", "last_image_url", "resolution", "duration",
    "aspect_ratio", "seed", "watermark", "camerafixed", "camera_fixed", "generate_audio",
}  # fmt: skip


# -- submit answers ----------------------------------------------------------------------


def test_parse_submit_poll_shaped() -> None:
    """The create answer has the poll schema (§4.2): id plus a first status."""
    accepted = ADAPTER.parse_submit(
        HttpResponse.from_json(
            200, {"id": "60ac7c34-3224-4b14-8e7d-0aa0db708325", "status": "queued"}
        )
    )
    assert accepted.task_id == "60ac7c34-3224-4b14-8e7d-0aa0db708325"
    assert accepted.status is not None
    assert accepted.status.state is TaskState.QUEUED


@pytest.mark.parametrize("payload", [{"generation_id": "g-1"}, {"id": "g-1"}])
def test_parse_submit_id_keys(payload: dict[str, Any]) -> None:
    """Older endpoints answer {"generation_id"}; both keys are accepted (§4.2)."""
    accepted = ADAPTER.parse_submit(HttpResponse.from_json(200, payload))
    assert accepted.task_id == "g-1"
    assert accepted.status is None


# -- status ------------------------------------------------------------------------------


def test_build_status_puts_id_in_query() -> None:
    """Polling is a GET with ?generation_id=<id>; the id is not part of the path."""
    request = ADAPTER.build_status("cgt-20250718224736-699sq")
    assert request.method == "GET"
    assert request.path == "/v2/generate/video/bytedance/generation"
    assert request.query == (("generation_id", "cgt-20250718224736-699sq"),)
    assert request.json is None
    assert not request.paid


CDN = "https://cdn.aimlapi.com/generations/hedgehog/1759866285599-0cdfb138.mp4"

# (case id, poll answer, expected state, video url, usage, error code, error message)
STATUS_CASES: list[
    tuple[str, dict[str, Any], TaskState, str | None, Usage | None, str | None, str | None]
] = [
    (
        "doc-completed",  # the §4.3 example
        {
            "id": "60ac7c34-3224-4b14-8e7d-0aa0db708325",
            "status": "completed",
            "video": {"url": CDN, "duration": 8},
            "error": None,
            "meta": {"usage": {"credits_used": 120000}},
        },
        TaskState.SUCCEEDED,
        CDN,
        Usage(credits=120000.0),
        None,
        None,
    ),
    (
        "doc-sample-completed-bare",  # the pro t2v page's sample output
        {"id": "cgt-20250718224736-699sq", "status": "completed", "video": {"url": CDN}},
        TaskState.SUCCEEDED,
        CDN,
        None,
        None,
        None,
    ),
    (
        "queued",
        {"id": "g", "status": "queued", "video": None},
        TaskState.QUEUED,
        None,
        None,
        None,
        None,
    ),
    ("generating", {"id": "g", "status": "generating"}, TaskState.RUNNING, None, None, None, None),
    ("waiting", {"id": "g", "status": "waiting"}, TaskState.QUEUED, None, None, None, None),
    ("active", {"id": "g", "status": "active"}, TaskState.RUNNING, None, None, None, None),
    ("processing", {"id": "g", "status": "processing"}, TaskState.RUNNING, None, None, None, None),
    (
        # Relayed from the upstream task; it used to read as running forever.
        "upstream-succeeded",
        {"id": "g", "status": "succeeded", "video": {"url": CDN}},
        TaskState.SUCCEEDED,
        CDN,
        None,
        None,
        None,
    ),
    ("upstream-failed", {"id": "g", "status": "failed"}, TaskState.FAILED, None, None, None, None),
    (
        "case-insensitive",
        {"id": "g", "status": "Completed"},
        TaskState.SUCCEEDED,
        None,
        None,
        None,
        None,
    ),
    (
        "error-object",
        {
            "id": "g",
            "status": "error",
            "video": None,
            "error": {"name": "GenerationError", "message": "moderated"},
        },
        TaskState.FAILED,
        None,
        None,
        "GenerationError",
        "moderated",
    ),
    (
        "error-string",
        {"id": "g", "status": "error", "error": "boom"},
        TaskState.FAILED,
        None,
        None,
        None,
        "boom",
    ),
    (
        "older-tokens_used",
        {
            "id": "g",
            "status": "completed",
            "duration": 5,
            "video": {"url": CDN},
            "meta": {"usage": {"tokens_used": 108900}},
        },
        TaskState.SUCCEEDED,
        CDN,
        Usage(total_tokens=108900),
        None,
        None,
    ),
    (
        "video-list",
        {"id": "g", "status": "completed", "video": [{"url": CDN}]},
        TaskState.SUCCEEDED,
        CDN,
        None,
        None,
        None,
    ),
    (
        "meta-without-usage",
        {"id": "g", "status": "queued", "meta": {"usage": None}},
        TaskState.QUEUED,
        None,
        None,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("payload", "state", "url", "usage", "code", "message"),
    [c[1:] for c in STATUS_CASES],
    ids=[c[0] for c in STATUS_CASES],
)
def test_status_golden(
    payload: dict[str, Any],
    state: TaskState,
    url: str | None,
    usage: Usage | None,
    code: str | None,
    message: str | None,
) -> None:
    """Documented poll answers map to the neutral status."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, payload), "fallback")
    assert status.provider == "aimlapi"
    assert status.task_id == payload["id"]
    assert status.state is state
    assert status.provider_status == payload["status"]
    assert status.video_url == url
    assert status.usage == usage
    assert (status.error_code, status.error_message) == (code, message)
    assert status.raw == payload


@pytest.mark.parametrize("word", ["paused", "cancelled", "done", "pending"])
def test_unknown_status_word_is_a_typed_error(word: str) -> None:
    """A word outside AI/ML API's vocabulary raises UnknownStatus with the word and the id."""
    response = HttpResponse.from_json(200, {"id": "g-1", "status": word})
    with pytest.raises(UnknownStatus) as info:
        ADAPTER.parse_status(response, "asked")
    assert (info.value.word, info.value.task_id, info.value.path) == (word, "g-1", "$.status")


def test_unknown_status_in_a_create_answer_keeps_the_id() -> None:
    """A create answer is accepted by its id even when its status word is odd."""
    response = HttpResponse.from_json(200, {"id": "g-1", "status": "accepted"})
    assert ADAPTER.parse_submit(response) == SubmitAccepted(task_id="g-1")


# (case id, error object, state, category)
FAILURE_CASES: list[tuple[str, Any, str, FailureCategory | None]] = [
    ("timeout", {"name": "GenerationTimeout", "message": "Generation timeout"}, "error", "timeout"),
    ("moderated", {"name": "GenerationError", "message": "moderated"}, "error", "moderation"),
    (
        "nsfw",
        {"name": "ContentPolicyError", "message": "The prompt was flagged"},
        "error",
        "moderation",
    ),
    ("internal", {"name": "InternalServerError", "message": "oops"}, "error", "internal"),
    ("untyped", "boom", "error", "unknown"),
    ("none", None, "error", "unknown"),
    ("not failed", None, "completed", None),
]


@pytest.mark.parametrize(
    ("error", "word", "category"),
    [c[1:] for c in FAILURE_CASES],
    ids=[c[0] for c in FAILURE_CASES],
)
def test_failure_category(error: Any, word: str, category: FailureCategory | None) -> None:
    """AI/ML API's error name and message map to a neutral failure category."""
    body = {"id": "g", "status": word, "error": error}
    status = ADAPTER.parse_status(HttpResponse.from_json(200, body), "g")
    assert status.failure == category


@pytest.mark.parametrize(
    ("payload", "effective", "usage"),
    [
        (
            {"video": {"url": CDN, "duration": 8}, "meta": {"usage": {"credits_used": 120000}}},
            EffectiveParams(duration=8),
            Usage(credits=120000),
        ),
        (  # 2.x pages: usd_spent next to credits_used
            {
                "video": {"url": CDN, "duration": 5.04},
                "meta": {"usage": {"credits_used": 9, "usd_spent": 0.45}},
            },
            EffectiveParams(duration=5.04),
            Usage(credits=9, cost_usd=0.45),
        ),
        (  # the older schema: a top-level duration and tokens_used
            {"duration": 5, "video": {"url": CDN}, "meta": {"usage": {"tokens_used": 108900}}},
            EffectiveParams(duration=5),
            Usage(total_tokens=108900),
        ),
        (  # an odd cost or duration is dropped, not fatal
            {"video": {"url": CDN, "duration": "n/a"}, "meta": {"usage": {"usd_spent": "?"}}},
            None,
            None,
        ),
    ],
)
def test_effective_duration_and_cost(
    payload: dict[str, Any], effective: EffectiveParams | None, usage: Usage | None
) -> None:
    """The delivered duration and the reported cost come out as neutral fields."""
    body = {"id": "g", "status": "completed", **payload}
    status = ADAPTER.parse_status(HttpResponse.from_json(200, body), "g")
    assert status.effective == effective
    assert status.usage == usage


def test_status_without_id_uses_the_requested_one() -> None:
    """An answer without id belongs to the task that was asked for."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, {"status": "queued"}), "g-7")
    assert status.task_id == "g-7"


# (case id, body bytes, JSON path named by MalformedResponse)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("empty", b"", "$"),
    ("not-json", b"<html>502</html>", "$"),
    ("array-root", b"[]", "$"),
    ("no-status", b'{"id": "g"}', "$.status"),
    ("status-object", b'{"id": "g", "status": {}}', "$.status"),
    ("video-string", b'{"id": "g", "status": "completed", "video": "u"}', "$.video"),
    ("url-number-list", b'{"id": "g", "status": "completed", "video": {"url": []}}', "$.video.url"),
    ("meta-string", b'{"id": "g", "status": "completed", "meta": "m"}', "$.meta"),
    (
        "credits-text",
        b'{"id": "g", "status": "completed", "meta": {"usage": {"credits_used": "lots"}}}',
        "$.meta.usage.credits_used",
    ),
]


@pytest.mark.parametrize(
    ("body", "path"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_status(body: bytes, path: str) -> None:
    """Answers that do not fit raise MalformedResponse with the JSON path, never KeyError."""
    with pytest.raises(MalformedResponse) as info:
        ADAPTER.parse_status(HttpResponse(status=200, body=body), "g")
    assert info.value.path == path
    assert info.value.provider == "aimlapi"


@pytest.mark.parametrize("body", [b"", b"{}", b'{"status": "queued"}', b'{"id": 5.5}', b"null"])
def test_malformed_submit(body: bytes) -> None:
    """A create answer without a usable id is malformed."""
    with pytest.raises(MalformedResponse):
        ADAPTER.parse_submit(HttpResponse(status=200, body=body))


@given(json_values())
def test_any_json_raises_only_provider_errors(payload: Any) -> None:
    """Arbitrary JSON never escapes as KeyError/TypeError/AttributeError/ValueError."""
    response = HttpResponse(status=200, body=json.dumps(payload).encode())
    for parse in (
        lambda: ADAPTER.parse_status(response, "g"),
        lambda: ADAPTER.parse_submit(response),
    ):
        with contextlib.suppress(ProviderError):
            parse()


# -- errors ------------------------------------------------------------------------------


def _error_body(status: int, message: str) -> dict[str, Any]:
    # The documented envelope (§4.4): statusCode is a string.
    return {
        "message": message,
        "path": "/v2/generate/video/bytedance/generation",
        "requestId": "798b3b54-6b2c-4bb4-a4a5-b1d5c2b4f7d1",
        "statusCode": str(status),
        "timestamp": "2025-03-11T07:13:27.813Z",
    }


# (case id, HTTP status, error class)
ERROR_CASES: list[tuple[str, int, str, type[ProviderError]]] = [
    ("400-body-validation", 400, "Body validation error!", InvalidRequest),
    ("401-bad-key", 401, "Unauthorized", AuthenticationFailed),
    ("403-out-of-credits", 403, "You have run out of credits", PermissionDenied),
    ("429-rate-or-concurrency", 429, "Too Many Requests", RateLimited),
    ("500", 500, "Internal server error", ProviderUnavailable),
    ("504-generation-timeout", 504, "Generation timeout", ProviderUnavailable),
]


@pytest.mark.parametrize(
    ("status", "message", "cls"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_golden(status: int, message: str, cls: type[ProviderError]) -> None:
    """Error answers become the right class with message and the body's requestId."""
    response = HttpResponse.from_json(status, _error_body(status, message))
    error = ADAPTER.classify_error(response)
    assert type(error) is cls
    assert error.status == status
    assert error.provider_message == message
    assert error.request_id == "798b3b54-6b2c-4bb4-a4a5-b1d5c2b4f7d1"
    assert "798b3b54" in str(error)
    for parse in (
        lambda: ADAPTER.parse_submit(response),
        lambda: ADAPTER.parse_status(response, "g"),
    ):
        with pytest.raises(cls):
            parse()


def _detail(*items: tuple[list[Any], str, str]) -> HttpResponse:
    """A validation answer ``{"detail": [{"loc", "msg", "type"}, ...]}``."""
    return HttpResponse.from_json(
        422, {"detail": [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in items]}
    )


def test_validation_detail_list_keeps_code_and_message() -> None:
    """A ``detail`` list gives the error its code (the type) and a message naming the field."""
    error = ADAPTER.classify_error(
        _detail((["body", "duration"], "Input should be 5 or 10", "literal_error"))
    )
    assert type(error) is InvalidRequest
    assert error.code == "literal_error"
    assert error.provider_message == "duration: Input should be 5 or 10"


def test_validation_detail_for_an_unknown_field_is_an_unsupported_parameter() -> None:
    """A field the model's schema does not have is this provider's limit: fail over."""
    error = ADAPTER.classify_error(
        _detail((["body", "camera_fixed"], "Extra inputs are not permitted", "extra_forbidden"))
    )
    assert isinstance(error, UnsupportedParameter)
    assert isinstance(error, InvalidRequest)
    assert (error.code, error.param) == ("extra_forbidden", "camera_fixed")


def test_validation_detail_mixing_an_unknown_field_with_a_bad_value_is_invalid() -> None:
    """A bad value next to an unknown field would be refused anywhere: not a failover."""
    error = ADAPTER.classify_error(
        _detail(
            (["body", "fps"], "Extra inputs are not permitted", "extra_forbidden"),
            (["body", "duration"], "Input should be 5 or 10", "literal_error"),
        )
    )
    assert type(error) is InvalidRequest
    assert error.code == "literal_error"
    assert error.provider_message is not None
    assert "fps: Extra inputs" in error.provider_message


def test_validation_detail_refusing_the_model_is_model_not_served() -> None:
    """A model id the schema refuses means this provider does not serve it."""
    error = ADAPTER.classify_error(
        _detail(
            (
                ["body", "model"],
                "Input should be 'bytedance/seedance-1-0-lite-t2v'",
                "literal_error",
            )
        )
    )
    assert isinstance(error, ModelNotServed)
    assert error.code == "literal_error"
    missing = ADAPTER.classify_error(_detail((["body", "model"], "Field required", "missing")))
    assert type(missing) is InvalidRequest


def test_validation_detail_as_a_string_is_the_message() -> None:
    """FastAPI's ``{"detail": "..."}`` is the message."""
    error = ADAPTER.classify_error(HttpResponse.from_json(404, {"detail": "Not Found"}))
    assert error.provider_message == "Not Found"


def test_rate_limit_reads_retry_after() -> None:
    """A 429 carries Retry-After when sent."""
    response = HttpResponse.from_json(
        429, _error_body(429, "Too Many Requests"), {"Retry-After": "7"}
    )
    error = ADAPTER.classify_error(response)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_header_request_id_wins() -> None:
    """The X-Request-Id header, when present, is the request id."""
    response = HttpResponse.from_json(
        401, _error_body(401, "Unauthorized"), {"X-Request-Id": "hdr-1"}
    )
    assert ADAPTER.classify_error(response).request_id == "hdr-1"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (
            400,
            b'{"message": ["prompt must be a string", "model is required"], "statusCode": 400}',
            "prompt must be a string; model is required",
        ),
        (401, b'{"error": {"message": "bad key", "code": "invalid_api_key"}}', "bad key"),
        (400, b'{"error": "nope"}', "nope"),
        (500, b"[1, 2]", None),
    ],
)
def test_odd_error_bodies(status: int, body: bytes, message: str | None) -> None:
    """Non-JSON or differently shaped error bodies are classified by status, never crash."""
    error = ADAPTER.classify_error(HttpResponse(status=status, body=body))
    assert error.status == status
    assert error.provider_message == message


# -- cancel, list, auth, registry ----------------------------------------------------


def test_no_cancel_no_list() -> None:
    """AI/ML API has neither endpoint; calling the parsers is a configuration mistake."""
    assert ADAPTER.build_cancel("g") is None
    assert ADAPTER.build_list(ListQuery()) is None
    assert not ADAPTER.capabilities.can_cancel
    assert not ADAPTER.capabilities.can_list
    with pytest.raises(ConfigurationError, match="no cancel endpoint"):
        ADAPTER.parse_cancel(HttpResponse.from_json(200, {}), "g")
    with pytest.raises(ConfigurationError, match="no list endpoint"):
        ADAPTER.parse_list(HttpResponse.from_json(200, {}))


def test_auth_headers() -> None:
    """Bearer auth (§4.1)."""
    assert ADAPTER.auth_headers("k") == {"Authorization": "Bearer k"}


def test_registry_builds_it() -> None:
    """create_adapter("aimlapi") gives a ProviderAdapter, passing options through."""
    adapter = create_adapter("aimlapi", submit_path=UNIVERSAL_PATH)
    assert isinstance(adapter, AimlApiAdapter)
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.name == "aimlapi"
    assert adapter.submit_path == UNIVERSAL_PATH
    assert AimlApiAdapter(name="aiml-eu").name == "aiml-eu"


@pytest.mark.parametrize(
    "options", [{"camera_fixed_field": "camera"}, {"seed_min": 5, "seed_max": 1}, {"colour": "red"}]
)
def test_bad_options(options: dict[str, Any]) -> None:
    """Options outside their documented set are configuration errors."""
    with pytest.raises(ConfigurationError):
        create_adapter("aimlapi", **options)


def test_status_has_no_timestamps() -> None:
    """AI/ML API sends no task timestamps, so none are invented."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, {"id": "g", "status": "queued"}), "g")
    assert status.created_at is None
    assert status.updated_at is None
