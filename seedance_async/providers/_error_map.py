"""Error answers to typed errors: provider codes first, HTTP status second.

The same HTTP status means different things across providers (a 429 is a full queue, a
spend cap or a used-up monthly quota), so codes decide where there is one; the tables
below name the code families each error stands for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from seedance_async.core._errors import (
    AuthenticationFailed,
    ContentPolicyViolation,
    InvalidRequest,
    ModelNotServed,
    PermissionDenied,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    TaskNotFound,
    UnsupportedParameter,
)
from seedance_async.core._wire import HttpResponse, parse_retry_after

__all__ = ["classify_error", "parse_reset_time", "request_id_of"]

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

    def make(cls: type[ProviderError], text: str, **specific: Any) -> ProviderError:
        return cls(
            f"{what}: {text}",
            provider=provider,
            status=status,
            code=code,
            provider_message=message,
            request_id=request_id,
            **specific,
        )

    code_text = code or ""
    if (
        status == 429
        or code_text.startswith(("RateLimitExceeded", "rate_limit"))
        or _code_is(code_text, _RATE_CODES)
    ):
        seconds, when = parse_retry_after(response)
        wait = {"retry_after": seconds, "retry_at": when}
        free_quota = _code_is(code_text, ("QuotaExceeded",)) and "free" in (message or "").lower()
        if _code_is(code_text, _EXHAUSTED_CODES) or free_quota:
            resets_at = parse_reset_time(message) or when
            return make(QuotaExhausted, "quota used up", resets_at=resets_at, **wait)
        return make(RateLimited, "rate limited", **wait)
    if any(m.lower() in code_text.lower() for m in _POLICY_MARKERS):
        return make(ContentPolicyViolation, "refused by content policy")
    if _code_is(code_text, _MODEL_NOT_SERVED_CODES):
        return make(ModelNotServed, "this provider does not serve the model")
    if _code_is(code_text, _UNSUPPORTED_CODES):
        return make(UnsupportedParameter, "this provider cannot take a parameter", param=param)
    if status == 401:
        return make(AuthenticationFailed, "authentication failed (check the API key)")
    if status == 403 or code_text.startswith(_PERMISSION_CODES):
        return make(PermissionDenied, "permission denied or insufficient balance")
    if status == 404:
        return make(TaskNotFound, "not found")
    if status >= 500 or status == 408:
        return make(ProviderUnavailable, "provider unavailable")
    if status in (400, 409, 413, 422):
        return make(InvalidRequest, "invalid request", param=param)
    return make(ProviderRejected, "unexpected HTTP status")
