"""Helpers every adapter shares: error classification, Retry-After, capability checks."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    InvalidRequest,
    InvalidTaskSpec,
    ModelNotServed,
    PermissionDenied,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    TaskNotFound,
    UnknownStatus,
    UnsupportedParameter,
    Violation,
)
from seedance_async.core._warn import warn_caller
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers._json import Node
from seedance_async.providers._protocol import ListQuery, ProviderCapabilities, TaskPage
from seedance_async.spec._catalog import (
    RetiredModelWarning,
    model_capabilities,
    model_deprecation,
    model_for_provider,
)
from seedance_async.spec._image_sniff import NotAnImage, sniff_bytes
from seedance_async.spec._media_sniff import NotMedia, sniff_media_bytes
from seedance_async.spec._rules import scenario_of
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import OPTIONAL_FIELDS, encode_data_url

__all__ = [
    "WithoutCancelOrList",
    "audio_url_of",
    "bearer",
    "check_capabilities",
    "classify_error",
    "image_url_of",
    "merge_extra",
    "model_violations",
    "parse_reset_time",
    "parse_retry_after",
    "request_id_of",
    "resolve_result_urls",
    "state_of",
    "video_url_of",
    "wire_model",
]

# 429 codes that mean "waiting will not help": a user-set spend cap, a monthly account
# quota ("will reset at <date>"), OpenAI-style gateways' used-up balance. A used-up free
# quota shares QuotaExceeded with a full queue and is told apart by its message.
_EXHAUSTED_CODES = ("SetLimitExceeded", "AccountQuotaExceeded", "insufficient_quota")
_RATE_CODES = (
    "QuotaExceeded",
    "InflightBatchsizeExceeded",
    "ServerOverloaded",
    "RequestBurstTooFast",
    "SetLimitExceeded",
    "AccountQuotaExceeded",
)
_POLICY_MARKERS = (
    "SensitiveContentDetected",
    "RiskDetection",
    "ContentSecurity",
    "content_policy",
    "PolicyViolation",
)
# "This provider does not serve the model": Ark's unknown model or endpoint, a model the
# account has not activated, a closed endpoint; OpenAI-style gateways' model_not_found.
_MODEL_NOT_SERVED_CODES = (
    "InvalidEndpointOrModel",
    "ModelNotOpen",
    "InvalidEndpoint.ClosedEndpoint",
    "model_not_found",
)
# "This provider cannot take that parameter or value": OpenAI-style codes, and pydantic's
# error type for a field the schema does not have (AI/ML API's ``detail`` list).
_UNSUPPORTED_CODES = (
    "unsupported_parameter",
    "unsupported_value",
    "extra_forbidden",
    "value_error.extra",
)
_PERMISSION_CODES = (
    "AccountOverdue",
    "AccessDenied",
    "OperationDenied",
    # OpenAI-style and new-api gateways: the balance of this account is used up.
    "insufficient_quota",
    "insufficient_user_quota",
)
_REQUEST_ID_IN_MESSAGE = re.compile(r"Request id:\s*([A-Za-z0-9_-]+)")
# "... will reset at 2026-12-01 00:00:00 +08:00" and the like.
_RESET_AT = re.compile(
    r"reset(?:s|ting)?\s+(?:at|on)\s+"
    r"(?P<date>\d{4}[-/]\d{1,2}[-/]\d{1,2})"
    r"(?:(?:T|\s+)(?P<time>\d{1,2}:\d{2}(?::\d{2})?)(?:\.\d+)?)?"
    r"(?:\s*(?P<zone>Z|(?:UTC|GMT)?\s*[+-]\d{1,2}(?::?\d{2})?|UTC|GMT))?",
    re.IGNORECASE,
)
_RESET_AT_HTTP_DATE = re.compile(
    r"reset(?:s|ting)?\s+(?:at|on)\s+(?P<when>[A-Z][a-z]{2},\s+\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4}\s+[\d:]+\s+GMT)"
)
# Ark's regions (Beijing, Johor) keep UTC+8: a reset time without a zone is read there.
_ARK_ZONE = timezone(timedelta(hours=8))


def parse_retry_after(response: HttpResponse) -> tuple[float | None, datetime | None]:
    """``Retry-After`` (seconds or HTTP date) and ``retry-after-ms`` of an answer.

    Returns:
        (seconds, None) for a delay, (None, when) for an HTTP date, (None, None) otherwise.
    """
    ms = _finite(response.header("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000), None
    raw = response.header("retry-after")
    if not raw:
        return None, None
    raw = raw.strip()
    seconds = _finite(raw)
    if seconds is not None:
        return max(0.0, seconds), None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None, None
    return None, when if when.tzinfo else when.replace(tzinfo=UTC)


def _finite(text: str | None) -> float | None:
    # "inf" or "nan" would make a caller wait forever or not at all: treat them as unreadable.
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def request_id_of(response: HttpResponse, message: str | None) -> str | None:
    """The provider's request id: the ``X-Request-Id`` header, else the one Ark puts in messages."""
    header = response.header("x-request-id") or response.header("x-tt-logid")
    if header:
        return header
    if message:
        found = _REQUEST_ID_IN_MESSAGE.search(message)
        if found:
            return found.group(1)
    return None


def _code_is(code: str, families: tuple[str, ...]) -> bool:
    # Ark codes grow suffixes ("InvalidEndpointOrModel.NotFound"); match the family.
    return any(code == f or code.startswith(f + ".") for f in families)


def parse_reset_time(message: str | None) -> datetime | None:
    """When a quota resets, from a message such as "... will reset at 2026-12-01 00:00:00".

    A time without a zone is read as UTC+8, the zone of Ark's regions; a date alone means
    its midnight there.

    Returns:
        The time in UTC, or None when the message names none that can be read.
    """
    if not message:
        return None
    found = _RESET_AT.search(message)
    if found is None:
        http_date = _RESET_AT_HTTP_DATE.search(message)
        if http_date is None:
            return None
        try:
            return parsedate_to_datetime(http_date.group("when")).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            return None
    year, month, day = (int(p) for p in re.split(r"[-/]", found.group("date")))
    hour, minute, second = ([int(p) for p in (found.group("time") or "0:0").split(":")] + [0])[:3]
    try:
        when = datetime(
            year, month, day, hour, minute, second, tzinfo=_zone_of(found.group("zone"))
        )
    except ValueError:
        return None
    return when.astimezone(UTC)


def _zone_of(text: str | None) -> timezone:
    if text is None:
        return _ARK_ZONE
    text = text.strip().upper().removeprefix("UTC").removeprefix("GMT").strip()
    if text in ("", "Z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "").strip()
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    if hours > 14 or minutes > 59:
        return _ARK_ZONE
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def classify_error(
    provider: str,
    response: HttpResponse,
    *,
    code: str | None,
    message: str | None,
    what: str = "request failed",
    param: str | None = None,
) -> ProviderError:
    """The typed error for an error answer, by provider code first and HTTP status second.

    Codes decide where there is one (``*SensitiveContentDetected*``, ``RateLimitExceeded*``,
    ``InvalidEndpointOrModel.*``...): the same HTTP status means different things.

    Args:
        provider: the adapter name for the error.
        response: the answer.
        code: the provider's error code, when it sent one.
        message: the provider's error text, when it sent one.
        what: the start of the error's text.
        param: the parameter the provider named, when it named one.
    """
    status = response.status
    request_id = request_id_of(response, message)

    def make(cls: type[ProviderError], text: str) -> ProviderError:
        return cls(
            f"{what}: {text}",
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
            request_id=request_id,
        )

    code_text = code or ""
    if (
        status == 429
        or code_text.startswith(("RateLimitExceeded", "rate_limit"))
        or _code_is(code_text, _RATE_CODES)
    ):
        seconds, when = parse_retry_after(response)
        free_quota = _code_is(code_text, ("QuotaExceeded",)) and "free" in (message or "").lower()
        if _code_is(code_text, _EXHAUSTED_CODES) or free_quota:
            return QuotaExhausted(
                f"{what}: quota used up",
                resets_at=parse_reset_time(message) or when,
                retry_after=seconds,
                retry_at=when,
                provider=provider,
                status=status,
                code=code,
                provider_message=message,
                request_id=request_id,
            )
        return RateLimited(
            f"{what}: rate limited",
            retry_after=seconds,
            retry_at=when,
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
            request_id=request_id,
        )
    if any(m.lower() in code_text.lower() for m in _POLICY_MARKERS):
        return make(ContentPolicyViolation, "refused by content policy")
    if _code_is(code_text, _MODEL_NOT_SERVED_CODES):
        return make(ModelNotServed, "this provider does not serve the model")
    if _code_is(code_text, _UNSUPPORTED_CODES):
        return UnsupportedParameter(
            f"{what}: this provider cannot take a parameter",
            param=param,
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
            request_id=request_id,
        )
    if status == 401:
        return make(AuthenticationFailed, "authentication failed (check the API key)")
    if status == 403 or code_text.startswith(_PERMISSION_CODES):
        return make(PermissionDenied, "permission denied or insufficient balance")
    if status == 404:
        return make(TaskNotFound, "not found")
    if status >= 500 or status == 408:
        return make(ProviderUnavailable, "provider unavailable")
    if status in (400, 409, 413, 422):
        return InvalidRequest(
            f"{what}: invalid request",
            param=param,
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
            request_id=request_id,
        )
    return make(ProviderRejected, "unexpected HTTP status")


def state_of(
    word: Node, table: Mapping[str, TaskState], *, task_id: str, provider: str
) -> TaskState:
    """The neutral state of a provider's status word (case and surrounding spaces ignored).

    Args:
        word: the status field of the answer.
        table: the provider's words (lower case) and their neutral states.
        task_id: the task the answer is about, for the error.
        provider: the adapter name, for the error.

    Raises:
        UnknownStatus: the word is not in ``table``; a guess would either end a task that
            is still going or keep polling one that has ended.
        MalformedResponse: the field is not a string.
    """
    text = word.text()
    state = table.get(text.strip().lower())
    if state is None:
        raise UnknownStatus(
            text, task_id=task_id, path=word.path, provider=provider, status=word.status
        )
    return state


def resolve_result_urls(status: TaskStatus, base_url: str) -> TaskStatus:
    """``status`` with relative result URLs made absolute against the API's base URL.

    Some gateways answer ``"video_url": "/files/abc.mp4"``; a downloader cannot fetch
    that. Absolute URLs and missing ones are left alone.
    """

    def absolute(url: str | None) -> str | None:
        if url and not urlsplit(url).scheme:
            return urljoin(base_url.rstrip("/") + "/", url)
        return url

    video_url, last_frame_url = absolute(status.video_url), absolute(status.last_frame_url)
    if (video_url, last_frame_url) == (status.video_url, status.last_frame_url):
        return status
    return attrs.evolve(status, video_url=video_url, last_frame_url=last_frame_url)


def _harmless(value: object) -> bool:
    # An explicit false or "default" equals the provider's own default, so a provider that
    # cannot send the field still produces exactly what was asked.
    return value is False or value == "default"


def check_capabilities(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> list[Violation]:
    """Violations of what a provider's wire format can express.

    A field refused by a specific rule (``frames`` when ``caps.frames`` is False) is not
    reported a second time for being missing from ``caps.fields``.
    """
    out: list[Violation] = []
    for violation in _capability_violations(provider, caps, task):
        if violation.field in _OPTIONAL_FIELDS and any(v.field == violation.field for v in out):
            continue
        out.append(violation)
    return out


def _capability_violations(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> Iterator[Violation]:
    scenario = scenario_of(task)
    if scenario == "reference_images" and not caps.reference_images:
        yield Violation(
            field="images",
            rule=f"provider {provider} cannot send reference images",
            value=len(task.images),
        )
    if scenario == "first_last_frame" and not caps.first_last_frame:
        yield Violation(
            field="images", rule=f"provider {provider} cannot send a last frame", value="last_frame"
        )
    if not caps.inline_images:
        for n, image in enumerate(task.images):
            if image.url is None or image.url.startswith("data:"):
                yield Violation(
                    field=f"images[{n}]",
                    rule=f"provider {provider} takes image URLs only (no inline data or local files)",
                    value=image.path or "inline data",
                )
    if task.seed is not None and not caps.seed_min <= task.seed <= caps.seed_max:
        yield Violation(
            field="seed",
            rule=f"provider {provider} takes seed within [{caps.seed_min}, {caps.seed_max}]",
            value=task.seed,
        )
    if task.frames is not None and not caps.frames:
        yield Violation(
            field="frames",
            rule=f"provider {provider} cannot send frames (use duration)",
            value=task.frames,
        )
    if (
        task.duration is not None
        and caps.durations is not None
        and task.duration not in caps.durations
    ):
        allowed = ", ".join(str(d) for d in sorted(caps.durations))
        yield Violation(
            field="duration",
            rule=f"provider {provider} takes duration {allowed}",
            value=task.duration,
        )
    if task.ratio is not None and task.ratio not in caps.ratios:
        allowed = ", ".join(sorted(r.value for r in caps.ratios))
        yield Violation(
            field="ratio", rule=f"provider {provider} takes ratio {allowed}", value=task.ratio.value
        )
    if caps.max_prompt_chars is not None and len(task.prompt) > caps.max_prompt_chars:
        yield Violation(
            field="prompt",
            rule=f"provider {provider} takes at most {caps.max_prompt_chars} prompt characters",
            value=f"{len(task.prompt)} characters",
        )
    if caps.models is not None:
        family = model_capabilities(task.model)
        if family is not None and family.family not in caps.models:
            yield Violation(
                field="model",
                rule=f"provider {provider} does not offer model {family.family}",
                value=task.model,
            )
    yield from _media_capability_violations(provider, caps, task)
    # frames is reported above with its own rule when the provider cannot send it.
    for name in sorted(_OPTIONAL_FIELDS - caps.fields - {"frames"}):
        value = getattr(task, name)
        if value is not None and not _harmless(value):
            yield Violation(field=name, rule=f"provider {provider} cannot send {name}", value=value)


_OPTIONAL_FIELDS = frozenset(OPTIONAL_FIELDS)


def _media_capability_violations(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> Iterator[Violation]:
    if task.videos and not caps.reference_videos:
        yield Violation(
            field="videos",
            rule=f"provider {provider} cannot send reference videos",
            value=len(task.videos),
        )
    elif task.videos:
        for n, video in enumerate(task.videos):
            if video.url is None:
                yield Violation(
                    field=f"videos[{n}]",
                    rule=f"provider {provider} takes reference videos as http(s) URLs or "
                    "asset ids only: upload local files first (an uploader)",
                    value=video.path or "inline data",
                )
    if task.audios and not caps.reference_audios:
        yield Violation(
            field="audios",
            rule=f"provider {provider} cannot send reference audio",
            value=len(task.audios),
        )
    elif task.audios and not caps.inline_audios:
        for n, audio in enumerate(task.audios):
            if audio.url is None or audio.url.startswith("data:"):
                yield Violation(
                    field=f"audios[{n}]",
                    rule=f"provider {provider} takes reference audio as URLs only "
                    "(no inline data or local files)",
                    value=audio.path or "inline data",
                )
    if task.tools and not caps.tools:
        yield Violation(
            field="tools", rule=f"provider {provider} cannot send tools", value=list(task.tools)
        )
    for key in sorted(set(task.extra) & caps.body_fields):
        yield Violation(
            field=f"extra.{key}",
            rule=f"provider {provider} writes {key} itself; extra may not override it",
            value=key,
        )


def image_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.images[index]``: as given, or bytes as a data URL.

    Raises:
        InvalidTaskSpec: the image is a local path that was not loaded first
            (:func:`seedance_async.load_local_images` does that off the event loop).
    """
    image = task.images[index]
    if image.url is not None:
        return image.url
    if image.data is not None:
        try:
            fmt = sniff_bytes(image.data).format
        except NotAnImage as exc:
            raise InvalidTaskSpec(
                [Violation(field=f"images[{index}].data", rule=str(exc))]
            ) from None
        return encode_data_url(image.data, fmt)
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"images[{index}].path",
                rule="local image files must be loaded before a request is built (load_local_images)",
                value=image.path,
            )
        ]
    )


def audio_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.audios[index]``: as given, or bytes as a data URL.

    Raises:
        InvalidTaskSpec: a local file that was not loaded first, or bytes that are not
            WAV or MP3.
    """
    audio = task.audios[index]
    if audio.url is not None:
        return audio.url
    if audio.data is not None:
        try:
            fmt = sniff_media_bytes(audio.data).container
        except NotMedia as exc:
            raise InvalidTaskSpec(
                [Violation(field=f"audios[{index}].data", rule=str(exc))]
            ) from None
        return encode_data_url(audio.data, fmt, kind="audio")
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"audios[{index}].path",
                rule="local audio files must be loaded before a request is built (load_local_images)",
                value=audio.path,
            )
        ]
    )


def video_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.videos[index]``.

    Raises:
        InvalidTaskSpec: the video is a local file or bytes (it needs an uploader first).
    """
    video = task.videos[index]
    if video.url is not None:
        return video.url
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"videos[{index}]",
                rule="reference videos are sent as URLs or asset ids: upload local files first",
                value=video.path or "inline data",
            )
        ]
    )


def merge_extra(body: dict[str, Any], task: VideoTask, provider: str) -> dict[str, Any]:
    """``body`` with the task's ``extra`` fields added; a clash is refused, never overwritten.

    Raises:
        InvalidTaskSpec: an ``extra`` key names a field the body already has.
    """
    if not task.extra:
        return body
    clash = sorted(set(task.extra) & set(body))
    if clash:
        raise InvalidTaskSpec(
            [
                Violation(
                    field=f"extra.{key}",
                    rule=f"provider {provider} writes {key} itself; extra may not override it",
                    value=key,
                )
                for key in clash
            ]
        )
    return {**body, **task.extra}


def model_violations(provider: str, naming: str, task: VideoTask) -> list[Violation]:
    """A retired model, or a neutral name without an id under the provider's ``naming``;
    a model the provider has announced it will retire is a :class:`RetiredModelWarning`."""
    if model_capabilities(task.model) is None:
        return []
    notice = model_deprecation(task.model, naming)
    if notice is not None:
        warn_caller(f"provider {provider}: {notice}", RetiredModelWarning)
    _, problem = model_for_provider(task.model, naming)
    if problem is None:
        return []
    return [Violation(field="model", rule=f"provider {provider}: {problem}", value=task.model)]


def wire_model(task: VideoTask, naming: str) -> str:
    """The model id to send: a neutral name translated to the provider's own id."""
    return model_for_provider(task.model, naming)[0]


def bearer(api_key: str) -> dict[str, str]:
    """``Authorization: Bearer <key>``, the form every documented provider uses."""
    return {"Authorization": f"Bearer {api_key}"}


class WithoutCancelOrList:
    """For adapters of providers that document neither a cancel nor a list endpoint.

    ``build_*`` return None, which tells the client there is nothing to send;
    ``parse_*`` are never reached and say so if they are.
    """

    name: str

    def build_cancel(self, task_id: str) -> HttpRequest | None:
        """None: no cancel endpoint is documented."""
        return None

    def parse_cancel(self, response: HttpResponse, task_id: str) -> None:
        """Never called, since :meth:`build_cancel` returns None.

        Raises:
            ConfigurationError: always; this provider has no cancel endpoint.
        """
        raise ConfigurationError(f"provider {self.name} has no cancel endpoint")

    def build_list(self, query: ListQuery) -> HttpRequest | None:
        """None: no list endpoint is documented."""
        return None

    def parse_list(self, response: HttpResponse) -> TaskPage:
        """Never called, since :meth:`build_list` returns None.

        Raises:
            ConfigurationError: always; this provider has no list endpoint.
        """
        raise ConfigurationError(f"provider {self.name} has no list endpoint")
