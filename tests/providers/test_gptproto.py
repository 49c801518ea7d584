"""Golden tests for the GPTProto adapter (docs/providers.md §6.1).

The § numbers below are sections of docs/providers.md; the parameter and error tables are
those of GPTProto's "Seedance-1-0-Lite-I2v-250428 - Image To Video" page.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given

from seedance_async.config._catalog import wire_facts
from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    PermissionDenied,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    UnknownStatus,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, SubmitAccepted, create_adapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.providers.gptproto import GptProtoAdapter
from seedance_async.spec._status import EffectiveParams, FailureCategory, TaskState, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole
from tests.strategies import json_values, video_tasks

LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
PRO_15 = "doubao-seedance-1-5-pro-251215"
FIRST = "https://example.com/first.png"
LAST = "https://example.com/last.png"

ADAPTER = GptProtoAdapter()


def _text(prompt: str) -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def _image(url: str, role: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "role": role}


# (case id, VideoTask kwargs, adapter options, expected body) — GPTProto's parameter table.
SUBMIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "doc-first-frame",
        {"model": LITE_I2V, "prompt": "a cat stretches", "images": [Image.from_url(FIRST)]},
        {},
        {
            "model": LITE_I2V,
            "content": [_text("a cat stretches"), _image(FIRST, "first_frame")],
        },
    ),
    (
        "doc-first-last-frame",
        {
            "model": LITE_I2V,
            "prompt": "p",
            "images": [Image.from_url(FIRST), Image.from_url(LAST, ImageRole.LAST_FRAME)],
        },
        {},
        {
            "model": LITE_I2V,
            "content": [_text("p"), _image(FIRST, "first_frame"), _image(LAST, "last_frame")],
        },
    ),
    (
        "doc-reference-images",
        {
            "model": LITE_I2V,
            "prompt": "[Image1] meets [Image2]",
            "images": [
                Image.from_url(FIRST, ImageRole.REFERENCE_IMAGE),
                Image.from_url(LAST, ImageRole.REFERENCE_IMAGE),
            ],
            "ratio": "16:9",
            "resolution": "720p",
        },
        {},
        {
            "model": LITE_I2V,
            "content": [
                _text("[Image1] meets [Image2]"),
                _image(FIRST, "reference_image"),
                _image(LAST, "reference_image"),
            ],
            "ratio": "16:9",
            "resolution": "720p",
        },
    ),
    (
        "doc-advanced-fields",
        {
            "model": PRO,
            "prompt": "p",
            "frames": 57,
            "seed": -1,
            "camera_fixed": False,
            "watermark": False,
            "resolution": "1080p",
        },
        {},
        {
            "model": PRO,
            "content": [_text("p")],
            "frames": 57,
            "seed": -1,
            "camera_fixed": False,
            "watermark": False,
            "resolution": "1080p",
        },
    ),
    (
        "audio-1.5-pro",
        {
            "model": PRO_15,
            "prompt": "p",
            "generate_audio": True,
            "duration": 12,
            "ratio": "adaptive",
        },
        {},
        {
            "model": PRO_15,
            "content": [_text("p")],
            "generate_audio": True,
            "duration": 12,
            "ratio": "adaptive",
        },
    ),
    (
        "camerafixed-spelling",
        {"model": PRO, "prompt": "p", "camera_fixed": True},
        {"camera_fixed_field": "camerafixed"},
        {"model": PRO, "content": [_text("p")], "camerafixed": True},
    ),
    (
        "undocumented-fields-when-enabled",
        {
            "model": PRO,
            "prompt": "p",
            "return_last_frame": True,
            "service_tier": "flex",
            "execution_expires_after": 3600,
            "callback_url": "https://hooks.example.com/cb",
        },
        {"undocumented_fields": True},
        {
            "model": PRO,
            "content": [_text("p")],
            "return_last_frame": True,
            "service_tier": "flex",
            "execution_expires_after": 3600,
            "callback_url": "https://hooks.example.com/cb",
        },
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "options", "body"), [c[1:] for c in SUBMIT_CASES], ids=[c[0] for c in SUBMIT_CASES]
)
def test_submit_golden(
    kwargs: dict[str, Any], options: dict[str, Any], body: dict[str, Any]
) -> None:
    """A spec becomes the Ark body GPTProto documents, POSTed to the tasks path."""
    request = GptProtoAdapter(**options).build_submit(VideoTask(**kwargs))
    assert request.method == "POST"
    assert request.path == "/contents/generations/tasks"
    assert request.paid
    assert request.json == body


UNDOCUMENTED_FIELDS = wire_facts("gptproto").undocumented_fields


@pytest.mark.parametrize("field", sorted(UNDOCUMENTED_FIELDS))
def test_undocumented_fields_refused(field: str) -> None:
    """Fields GPTProto's table does not list are refused by default, naming the field."""
    model, value = {
        "return_last_frame": (PRO, True),
        "service_tier": (PRO, "flex"),
        "execution_expires_after": (PRO, 3600),
        "callback_url": (PRO, "https://hooks.example.com/cb"),
        "priority": ("doubao-seedance-2-0-260128", 5),
        "safety_identifier": ("doubao-seedance-2-0-260128", "user-hash"),
        "draft": ("doubao-seedance-1-5-pro-251215", True),
        "omni_reference_task_type": ("doubao-seedance-2-5-260628", "reference"),
        "output_format": ("doubao-seedance-2-5-260628", "mov"),
        "from_draft": ("doubao-seedance-1-5-pro-251215", "cgt-20260101000000-abcde"),
    }[field]
    prompt = "" if field == "from_draft" else "p"  # a final reuses its draft's prompt
    task = VideoTask(model=model, prompt=prompt, **{field: value})  # type: ignore[arg-type]
    assert [v.field for v in ADAPTER.check(task)] == [field]
    with pytest.raises(InvalidTaskSpec) as info:
        ADAPTER.build_submit(task)
    assert info.value.fields == (field,)
    # Explicit defaults ask for nothing the provider does differently.
    assert ADAPTER.check(VideoTask(model=PRO, prompt="p", return_last_frame=False)) == []


@given(video_tasks(sources=("url", "data", "data_url")))
def test_any_spec_is_sent_or_refused(task: VideoTask) -> None:
    """Every valid spec builds an Ark body, unless it uses a field GPTProto does not list."""
    violations = ADAPTER.check(task)
    assert {v.field for v in violations} <= UNDOCUMENTED_FIELDS
    if violations:
        with pytest.raises(InvalidTaskSpec):
            ADAPTER.build_submit(task)
    lean = attrs.evolve(
        task,
        return_last_frame=None,
        service_tier=None,
        execution_expires_after=None,
        callback_url=None,
    )
    body = ADAPTER.build_submit(lean).json
    json.dumps(body)
    assert body["model"] == task.model
    assert not set(body) & UNDOCUMENTED_FIELDS


# -- submit answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "cgt-20251225201056-abc"},  # §6.1
        {"code": 0, "message": "Success", "data": {"task_id": "cgt-20251225201056-abc"}},
    ],
)
def test_parse_submit(payload: dict[str, Any]) -> None:
    """The id comes as Ark's {"id"} or inside the older {code, message, data} wrapper."""
    accepted = ADAPTER.parse_submit(HttpResponse.from_json(200, payload))
    assert accepted.task_id == "cgt-20251225201056-abc"


def test_parse_submit_legacy_with_status() -> None:
    """A wrapper that also says the status gives a first status."""
    payload = {"code": 0, "message": "Success", "data": {"task_id": "t", "status": "pending"}}
    accepted = ADAPTER.parse_submit(HttpResponse.from_json(200, payload))
    assert accepted.status is not None
    assert accepted.status.state is TaskState.QUEUED


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"", "$"),
        (b"{", "$"),
        (b"[]", "$"),
        (b"{}", "$.id"),
        (b'{"code": 0, "data": {}}', "$.data.task_id"),
    ],
)
def test_malformed_submit(body: bytes, path: str) -> None:
    """A create answer without an id is malformed, with the path."""
    with pytest.raises(MalformedResponse) as info:
        ADAPTER.parse_submit(HttpResponse(status=200, body=body))
    assert info.value.path == path


def test_wrapper_error_at_200() -> None:
    """A wrapper with a non-zero code and no data is raised as the provider's refusal."""
    response = HttpResponse.from_json(
        200, {"code": 401, "message": "Invalid signature", "data": None}
    )
    for parse in (
        lambda: ADAPTER.parse_submit(response),
        lambda: ADAPTER.parse_status(response, "t"),
    ):
        with pytest.raises(ProviderRejected) as info:
            parse()
        assert info.value.code == "401"
        assert info.value.provider_message == "Invalid signature"


# -- status ------------------------------------------------------------------------------

DOC_SUCCEEDED = {  # §6.1 "Query Result", numbers as strings
    "id": "cgt-20251225195352-123",
    "model": "doubao-seedance-1-5-pro-251215",
    "status": "succeeded",
    "content": {"video_url": "https://example.com/video.mp4"},
    "usage": {"completion_tokens": 260100, "total_tokens": 260100},
    "seed": "16108",
    "resolution": "720p",
    "duration": 12,
    "ratio": "16:9",
    "created_at": "1766663633",
    "updated_at": "1766663715",
    "framespersecond": 24,
}


def test_status_doc_example() -> None:
    """The documented Ark-shaped answer with string numbers parses completely."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, DOC_SUCCEEDED), "asked")
    assert status.provider == "gptproto"
    assert status.task_id == "cgt-20251225195352-123"
    assert status.state is TaskState.SUCCEEDED
    assert status.video_url == "https://example.com/video.mp4"
    assert status.usage == Usage(completion_tokens=260100, total_tokens=260100)
    assert status.created_at == datetime.fromtimestamp(1766663633, tz=UTC)
    assert status.updated_at == datetime.fromtimestamp(1766663715, tz=UTC)
    assert status.effective == EffectiveParams(
        duration=12, ratio="16:9", resolution="720p", seed=16108, fps=24
    )
    assert status.raw == DOC_SUCCEEDED


@pytest.mark.parametrize(
    "body",
    [
        {"id": "t", "status": "paused"},
        {"code": 0, "message": "Success", "data": {"task_id": "t", "status": "paused"}},
    ],
    ids=["ark-shape", "older-wrapper"],
)
def test_unknown_status_word_is_a_typed_error(body: dict[str, Any]) -> None:
    """In both shapes a word outside the vocabulary raises UnknownStatus with word and id."""
    with pytest.raises(UnknownStatus) as info:
        ADAPTER.parse_status(HttpResponse.from_json(200, body), "asked")
    assert (info.value.word, info.value.task_id) == ("paused", "t")


def test_unknown_status_in_an_older_create_answer_keeps_the_id() -> None:
    """The older wrapper's create answer is accepted by its id whatever its status word."""
    body = {"code": 0, "message": "Success", "data": {"task_id": "t", "status": "accepted"}}
    assert ADAPTER.parse_submit(HttpResponse.from_json(200, body)) == SubmitAccepted(task_id="t")


@pytest.mark.parametrize(
    ("body", "category"),
    [
        (
            {
                "id": "t",
                "status": "failed",
                "error": {"code": "OutputVideoSensitiveContentDetected", "message": "m"},
            },
            "moderation",
        ),
        ({"id": "t", "status": "failed", "error": {"code": "InternalServiceError"}}, "internal"),
        ({"id": "t", "status": "expired"}, "expired"),
        (
            {"code": 0, "data": {"task_id": "t", "status": "failed", "error": "content policy"}},
            "moderation",
        ),
        ({"code": 0, "data": {"task_id": "t", "status": "failed", "error": ""}}, "unknown"),
        ({"code": 0, "data": {"task_id": "t", "status": "completed"}}, None),
    ],
)
def test_failure_category(body: dict[str, Any], category: FailureCategory | None) -> None:
    """Ark codes and the older wrapper's error text map to a neutral failure category."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, body), "t")
    assert status.failure == category


# (case id, answer, state, video url, error code, error message)
STATUS_CASES: list[tuple[str, dict[str, Any], TaskState, str | None, str | None, str | None]] = [
    ("ark-queued", {"id": "t", "status": "queued"}, TaskState.QUEUED, None, None, None),
    (
        "ark-running",
        {"id": "t", "status": "running", "created_at": "1766663633"},
        TaskState.RUNNING,
        None,
        None,
        None,
    ),
    (
        "ark-expired",
        {"id": "t", "status": "expired", "error": None},
        TaskState.EXPIRED,
        None,
        None,
        None,
    ),
    (
        "ark-failed",
        {
            "id": "t",
            "status": "failed",
            "error": {
                "code": "OutputVideoSensitiveContentDetected.PolicyViolation",
                "message": "copyright",
            },
        },
        TaskState.FAILED,
        None,
        "OutputVideoSensitiveContentDetected.PolicyViolation",
        "copyright",
    ),
    (
        "legacy-pending",
        {"code": 0, "message": "Success", "data": {"task_id": "t", "status": "pending"}},
        TaskState.QUEUED,
        None,
        None,
        None,
    ),
    (
        "legacy-completed",
        {
            "code": 0,
            "message": "Success",
            "data": {
                "task_id": "t",
                "status": "completed",
                "video_url": "https://example.com/v.mp4",
                "error": "",
            },
        },
        TaskState.SUCCEEDED,
        "https://example.com/v.mp4",
        None,
        None,
    ),
    (
        "legacy-failed-string",
        {
            "code": 0,
            "message": "Success",
            "data": {
                "task_id": "t",
                "status": "failed",
                "video_url": "",
                "error": "generation failed",
            },
        },
        TaskState.FAILED,
        None,
        None,
        "generation failed",
    ),
    (
        "legacy-failed-object",
        {
            "code": 0,
            "message": "Success",
            "data": {"task_id": "t", "status": "failed", "error": {"code": "E1", "message": "bad"}},
        },
        TaskState.FAILED,
        None,
        "E1",
        "bad",
    ),
]


@pytest.mark.parametrize(
    ("payload", "state", "url", "code", "message"),
    [c[1:] for c in STATUS_CASES],
    ids=[c[0] for c in STATUS_CASES],
)
def test_status_golden(
    payload: dict[str, Any],
    state: TaskState,
    url: str | None,
    code: str | None,
    message: str | None,
) -> None:
    """Both answer shapes map to the neutral status."""
    status = ADAPTER.parse_status(HttpResponse.from_json(200, payload), "t")
    assert status.task_id == "t"
    assert status.state is state
    assert status.video_url == url
    assert (status.error_code, status.error_message) == (code, message)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"", "$"),
        (b"Service Unavailable", "$"),
        (b"[1]", "$"),
        (b'{"id": "t"}', "$.status"),
        (b'{"code": 0, "data": {"task_id": "t"}}', "$.data.status"),
        (b'{"code": 0, "data": "t"}', "$.data"),
        (b'{"id": "t", "status": "running", "created_at": "soon"}', "$.created_at"),
        (
            b'{"id": "t", "status": "succeeded", "usage": {"total_tokens": "many"}}',
            "$.usage.total_tokens",
        ),
        (
            b'{"id": "t", "status": "succeeded", "content": {"video_url": {}}}',
            "$.content.video_url",
        ),
    ],
)
def test_malformed_status(body: bytes, path: str) -> None:
    """Answers that fit neither shape raise MalformedResponse naming the JSON path."""
    with pytest.raises(MalformedResponse) as info:
        ADAPTER.parse_status(HttpResponse(status=200, body=body), "t")
    assert info.value.path == path
    assert info.value.provider == "gptproto"


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


def _openai(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": type_}
    if code is not None:
        err["code"] = code
    return {"error": err}


# (case id, HTTP status, body, class, code) — GPTProto's error table, §6.1 envelopes.
ERROR_CASES: list[tuple[str, int, Any, type[ProviderError], str | None]] = [
    (
        "401-invalid-key",
        401,
        _openai("Invalid API key provided", "invalid_request_error", "invalid_api_key"),
        AuthenticationFailed,
        "invalid_api_key",
    ),
    (
        "401-invalid-signature",
        401,
        _openai("Invalid signature", "401"),
        AuthenticationFailed,
        "401",
    ),
    (
        "403-balance",
        403,
        _openai("Insufficient balance", "insufficient_quota"),
        PermissionDenied,
        "insufficient_quota",
    ),
    (
        "429-rate-limit",
        429,
        _openai("Rate limit reached", "requests", "rate_limit_exceeded"),
        RateLimited,
        "rate_limit_exceeded",
    ),
    (
        "500",
        500,
        _openai("An internal server error occurred", "server_error"),
        ProviderUnavailable,
        "server_error",
    ),
    (
        "503-content-policy",
        503,
        _openai("Content policy violation", "503"),
        ContentPolicyViolation,
        "503",
    ),
    (
        "400-content-policy",
        400,
        _openai("Content blocked: content policy violation", "invalid_request_error"),
        ContentPolicyViolation,
        "invalid_request_error",
    ),
    (
        "400-policy-code",
        400,
        _openai("blocked", "invalid_request_error", "content_policy_violation"),
        ContentPolicyViolation,
        "content_policy_violation",
    ),
    (
        "400-ark-envelope",
        400,
        {
            "error": {
                "code": "InputTextSensitiveContentDetected",
                "message": "The request failed because the input text may contain sensitive information.",
                "param": "",
                "type": "BadRequest",
            }
        },
        ContentPolicyViolation,
        "InputTextSensitiveContentDetected",
    ),
    (
        "400-ark-param",
        400,
        {"error": {"code": "InvalidParameter", "message": "bad ratio", "type": "BadRequest"}},
        InvalidRequest,
        "InvalidParameter",
    ),
]


@pytest.mark.parametrize(
    ("status", "payload", "cls", "code"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_error_golden(
    status: int, payload: Any, cls: type[ProviderError], code: str | None
) -> None:
    """Error answers become the class that says what to do next, whatever their status."""
    response = HttpResponse.from_json(status, payload, {"X-Request-Id": "req-42"})
    error = ADAPTER.classify_error(response)
    assert type(error) is cls
    assert error.status == status
    assert error.code == code
    assert error.provider_message == payload["error"]["message"]
    assert error.request_id == "req-42"
    assert error.provider == "gptproto"
    with pytest.raises(cls):
        ADAPTER.parse_status(response, "t")
    with pytest.raises(cls):
        ADAPTER.parse_submit(response)


def test_plain_503_is_unavailable() -> None:
    """A 503 that does not mention content policy stays a retryable outage."""
    error = ADAPTER.classify_error(HttpResponse(status=503, body=b"Service Unavailable"))
    assert type(error) is ProviderUnavailable
    assert error.provider_message == "Service Unavailable"


# -- options, cancel, list, registry -------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "headers"),
    [("bearer", {"Authorization": "Bearer sk-x"}), ("raw", {"Authorization": "sk-x"})],
)
def test_auth_scheme(scheme: Any, headers: dict[str, str]) -> None:
    """auth_scheme picks the documented Bearer form or the curl examples' raw key."""
    assert GptProtoAdapter(auth_scheme=scheme).auth_headers("sk-x") == headers


def test_no_cancel_no_list_by_default() -> None:
    """Cancel and list are undocumented, so off; enabling them reuses Ark's calls."""
    assert ADAPTER.build_cancel("t") is None
    assert ADAPTER.build_list(ListQuery()) is None
    assert not ADAPTER.capabilities.can_cancel
    assert not ADAPTER.capabilities.can_list
    enabled = GptProtoAdapter(can_cancel=True, can_list=True)
    cancel = enabled.build_cancel("cgt-1/x")
    assert cancel is not None
    assert (cancel.method, cancel.path) == ("DELETE", "/contents/generations/tasks/cgt-1%2Fx")
    listing = enabled.build_list(ListQuery(task_ids=("a",)))
    assert listing is not None
    assert ("filter.task_ids", "a") in listing.query
    page = enabled.parse_list(HttpResponse.from_json(200, {"total": 1, "items": [DOC_SUCCEEDED]}))
    assert page.items[0].state is TaskState.SUCCEEDED


def test_status_request_is_arks() -> None:
    """GET {tasks_path}/{id}, id escaped."""
    request = ADAPTER.build_status("cgt-20251225195352-123")
    assert (request.method, request.path) == (
        "GET",
        "/contents/generations/tasks/cgt-20251225195352-123",
    )


def test_registry_and_inheritance() -> None:
    """create_adapter("gptproto") is a ProviderAdapter and an ArkAdapter subclass."""
    adapter = create_adapter("gptproto", auth_scheme="raw")
    assert isinstance(adapter, GptProtoAdapter)
    assert isinstance(adapter, ArkAdapter)
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.name == "gptproto"
    assert repr(adapter).startswith("GptProtoAdapter(")


@pytest.mark.parametrize(
    "options",
    [{"auth_scheme": "Token"}, {"camera_fixed_field": "cf"}, {"status_map": {"x": "done"}}],
)
def test_bad_options(options: dict[str, Any]) -> None:
    """Options outside their documented set are configuration errors."""
    with pytest.raises(ConfigurationError):
        create_adapter("gptproto", **options)
