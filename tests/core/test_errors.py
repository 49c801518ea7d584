"""Error messages say what happened (provider, status, code) and never carry an API key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from seedance_async.core._errors import (
    AuthenticationFailed,
    GenerationFailed,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    ModelNotServed,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    SeedanceError,
    UnknownStatus,
    UnsupportedParameter,
    Violation,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import create_adapter
from seedance_async.providers._error_map import classify_error
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._status import TaskState, TaskStatus

CANARY = "sk-CANARY-0123456789abcdefXYZ"


# -- useful messages --------------------------------------------------------------------------


def test_provider_error_message_names_provider_status_code_and_request_id() -> None:
    """str() of a provider error carries provider, HTTP status, code, message and request id."""
    error = ProviderError(
        "submit failed",
        provider="ark",
        status=400,
        code="InvalidParameter",
        provider_message="ratio is not valid",
        request_id="req-123",
    )
    text = str(error)
    assert text.startswith("[ark] submit failed")
    for part in ("HTTP 400", "code=InvalidParameter", "'ratio is not valid'", "request_id=req-123"):
        assert part in text


def test_classified_ark_error_message() -> None:
    """A classified 429 says who, what status and which code, with the provider's words."""
    body = {
        "error": {"code": "RateLimitExceeded.EndpointRPMExceeded", "message": "Too many requests"}
    }
    error = ArkAdapter().classify_error(HttpResponse.from_json(429, body))
    text = str(error)
    assert isinstance(error, RateLimited)
    assert "[ark]" in text
    assert "HTTP 429" in text
    assert "code=RateLimitExceeded.EndpointRPMExceeded" in text
    assert "Too many requests" in text


def test_long_provider_messages_are_shortened() -> None:
    """A huge provider message is cut to a readable length with an ellipsis."""
    error = InvalidRequest("bad", provider="p", provider_message="x" * 5000)
    assert error.provider_message is not None
    assert len(error.provider_message) == 200
    assert error.provider_message.endswith("…")
    assert len(str(error)) < 400


def test_message_not_repeated_when_already_in_text() -> None:
    """The provider message is not appended twice when the summary already holds it."""
    error = InvalidRequest("invalid: ratio wrong", provider="p", provider_message="ratio wrong")
    assert str(error).count("ratio wrong") == 1


def test_malformed_response_names_the_path() -> None:
    """MalformedResponse says where in the answer the problem is."""
    error = MalformedResponse(
        "missing field 'status'", path="$.data.status", provider="unified", status=200
    )
    assert error.path == "$.data.status"
    assert str(error) == "[unified] missing field 'status' at $.data.status; HTTP 200"


def test_violation_str_with_and_without_value() -> None:
    """A violation reads ``field: rule (got value)``; no value, no ``got``."""
    assert str(Violation(field="frames", rule="frames = 25 + 4n within [29, 289]", value=30)) == (
        "frames: frames = 25 + 4n within [29, 289] (got 30)"
    )
    assert str(Violation(field="model", rule="required field is missing")) == (
        "model: required field is missing"
    )
    assert str(Violation(field="prompt", rule="r", value="x" * 1000)).endswith("…)")


def test_invalid_task_spec_lists_every_violation() -> None:
    """The message counts the problems and shows each on its own line, with a context."""
    error = InvalidTaskSpec(
        [
            Violation(field="duration", rule="too long", value=99),
            Violation(field="seed", rule="bad"),
        ],
        context="batch.jsonl line 17",
    )
    assert str(error) == (
        "batch.jsonl line 17: invalid task spec (2 problems):\n"
        "  - duration: too long (got 99)\n"
        "  - seed: bad"
    )
    assert error.fields == ("duration", "seed")
    assert "(1 problem)" in str(InvalidTaskSpec([Violation(field="a", rule="b")]))


def test_generation_failed_message() -> None:
    """GenerationFailed says which task ended how, and why."""
    status = TaskStatus(
        provider="ark",
        task_id="cgt-1",
        state=TaskState.FAILED,
        error_code="OutputVideoSensitiveContentDetected",
        error_message="may be related to copyright",
    )
    error = GenerationFailed(status)
    assert str(error) == (
        "task cgt-1 ended failed (OutputVideoSensitiveContentDetected: may be related to copyright)"
    )
    assert error.status is status
    assert isinstance(error, SeedanceError)


# -- the API key never shows ------------------------------------------------------------------


def _leaks(error: BaseException) -> list[str]:
    """Where the canary shows: str, repr, args or any text attribute (code, snippet...)."""
    places = {"str": str(error), "repr": repr(error), "args": repr(error.args)}
    places |= {f"attr {k}": v for k, v in vars(error).items() if isinstance(v, str)}
    return [where for where, text in places.items() if CANARY in text]


RESPONSES: list[tuple[str, HttpResponse]] = [
    (
        "key echoed in the message",
        HttpResponse.from_json(
            401, {"error": {"code": "AuthenticationError", "message": f"Invalid API key {CANARY}"}}
        ),
    ),
    (
        "authorization header echoed",
        HttpResponse.from_json(
            400,
            {"error": {"message": f"header was Authorization: Bearer {CANARY}", "code": "x"}},
            headers={"Authorization": f"Bearer {CANARY}", "Set-Cookie": f"k={CANARY}"},
        ),
    ),
    ("plain-text body with the key", HttpResponse(status=500, body=f"bad key {CANARY}".encode())),
    (
        "key as the error code",
        HttpResponse.from_json(403, {"error": {"code": CANARY, "message": "no"}}),
    ),
    (
        "AI/ML style body",
        HttpResponse.from_json(401, {"message": f"Unauthorized: {CANARY}", "statusCode": "401"}),
    ),
    (
        "rate limit with the key",
        HttpResponse.from_json(
            429, {"error": {"message": f"key {CANARY} is throttled"}}, {"Retry-After": "3"}
        ),
    ),
]


@pytest.mark.parametrize("adapter_name", ["ark", "aimlapi", "unified", "gptproto"])
@pytest.mark.parametrize("response", [r[1] for r in RESPONSES], ids=[r[0] for r in RESPONSES])
def test_api_key_never_appears_in_classified_errors(
    adapter_name: str, response: HttpResponse
) -> None:
    """Errors built from answers that echo the key (body or headers) never show it."""
    try:
        adapter = create_adapter(adapter_name)
    except ModuleNotFoundError:
        pytest.skip(f"adapter {adapter_name} not written yet")
    error = adapter.classify_error(response)
    assert _leaks(error) == []
    for parse in (adapter.parse_submit, lambda r: adapter.parse_status(r, "t")):
        with pytest.raises(ProviderError) as info:
            parse(response)
        assert _leaks(info.value) == []


def test_api_key_never_appears_in_directly_built_errors() -> None:
    """Every constructor that takes provider text masks keys and bearer credentials."""
    errors: list[BaseException] = [
        AuthenticationFailed(
            f"key {CANARY} refused",
            provider="p",
            code=CANARY,
            provider_message=f"Bearer {CANARY}",
        ),
        RateLimited("slow down", provider_message=f"for {CANARY}", retry_after=1.0),
        MalformedResponse(f"got {CANARY}", snippet=f'{{"key": "{CANARY}"}}', provider="p"),
        GenerationFailed(
            TaskStatus(
                provider="p", task_id="t", state=TaskState.FAILED, error_message=f"key {CANARY}"
            )
        ),
        classify_error("p", HttpResponse(status=401), code=None, message=f"Bearer {CANARY}"),
    ]
    for error in errors:
        assert _leaks(error) == [], error
    assert "sk-***" in str(errors[0])


@pytest.mark.parametrize("adapter_name", ["ark", "aimlapi", "unified", "gptproto"])
def test_unknown_status_word_holding_the_key_does_not_leak_it(adapter_name: str) -> None:
    """An odd status word is carried on the error, but never a key inside it."""
    body = {"id": "t", "task_id": "t", "status": f"stuck {CANARY}"}
    with pytest.raises(UnknownStatus) as info:
        create_adapter(adapter_name).parse_status(HttpResponse.from_json(200, body), "t")
    assert _leaks(info.value) == []
    assert info.value.word == "stuck sk-***"


def test_new_error_kinds_carry_no_key() -> None:
    """Quota, unsupported-parameter and model refusals built from echoing answers stay clean."""
    quota = ArkAdapter().classify_error(
        HttpResponse.from_json(
            429, {"error": {"code": "AccountQuotaExceeded", "message": f"{CANARY} will reset"}}
        )
    )
    unsupported = create_adapter("aimlapi").classify_error(
        HttpResponse.from_json(
            422, {"detail": [{"loc": ["body", CANARY], "msg": "Extra", "type": "extra_forbidden"}]}
        )
    )
    model = ArkAdapter().classify_error(
        HttpResponse.from_json(404, {"error": {"code": "ModelNotOpen", "message": CANARY}})
    )
    assert isinstance(quota, QuotaExhausted)
    assert isinstance(unsupported, UnsupportedParameter)
    assert isinstance(model, ModelNotServed)
    for error in (quota, unsupported, model):
        assert _leaks(error) == [], error


def test_new_error_kinds_sit_where_callers_look_for_them() -> None:
    """Existing handlers keep working: each new class is a kind of an existing one."""
    assert issubclass(QuotaExhausted, RateLimited)
    assert not QuotaExhausted("q", retryable=True).retryable
    assert issubclass(ModelNotServed, InvalidRequest)
    assert issubclass(UnsupportedParameter, InvalidRequest)
    assert issubclass(UnknownStatus, MalformedResponse)
    error = UnknownStatus("paused", task_id="cgt-1", provider="ark", status=200)
    assert str(error) == "[ark] unknown status 'paused' for task cgt-1 at $.status; HTTP 200"


def test_malformed_answer_echoing_the_key_does_not_leak_it() -> None:
    """A wrongly typed field holding the key is reported without the key."""
    body = {"id": "x", "status": [CANARY]}
    with pytest.raises(MalformedResponse) as info:
        ArkAdapter().parse_status(HttpResponse.from_json(200, body), "x")
    assert _leaks(info.value) == []
    assert info.value.path == "$.status"


def test_redaction_keeps_ordinary_text() -> None:
    """Task ids and words that merely contain ``sk-`` are not masked."""
    error = InvalidRequest("bad", provider="p", provider_message="task-20250101-abcdefgh ask-me")
    assert error.provider_message == "task-20250101-abcdefgh ask-me"


def test_adapters_put_no_key_in_requests() -> None:
    """Requests carry no auth: the key only exists in auth_headers' result."""
    adapter = ArkAdapter()
    from seedance_async.spec._task import VideoTask

    task = VideoTask(model="doubao-seedance-1-0-pro-250528", prompt="x")
    requests: list[Any] = [
        adapter.build_submit(task),
        adapter.build_status("t"),
        adapter.build_cancel("t"),
    ]
    for request in requests:
        assert "authorization" not in request.headers
        assert CANARY not in repr(request) + json.dumps(request.json)
    assert adapter.auth_headers(CANARY) == {"Authorization": f"Bearer {CANARY}"}
