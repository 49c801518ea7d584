"""Why a task failed, in neutral terms: provider codes and texts to a :data:`FailureCategory`.

The category decides whether a failed task is worth a paid resubmission elsewhere
(:func:`seedance_async.policy.is_retryable_failure`), so the tables lean one way: a reason
that could be moderation is read as moderation (never resubmitted), and only reasons that
clearly name the provider's own trouble (internal error, timeout, expiry) are read as such.

Codes are matched first. Ark's task-level codes are documented (``error.code`` of a failed
task; the HTTP code table of Ark's error reference lists the same families): output
moderation ``Output*SensitiveContentDetected*``, ``*RiskDetection``,
``ContentSecurityDetectionError``, parameter families ``InvalidParameter*`` and
``MissingParameter*``, ``InternalServiceError``, the quota codes of 429 answers.
OpenAI-style gateways use snake-case codes (``content_policy_violation``,
``insufficient_quota``). Text is read only when no code matched: the unified
``/v2/videos/generations`` gateways report a failure in ``fail_reason`` words alone, and
AI/ML API's ``error`` carries a name and a sentence ("Generation timeout").
"""

from __future__ import annotations

from seedance_async.spec._status import FailureCategory, TaskState

__all__ = ["category_of", "failure_category"]

# (category, markers) in order of precedence; markers are matched case-insensitively as
# substrings of the code. Moderation comes first so that a code naming both moderation
# and something else (``InputImageSensitiveContentDetected.PolicyViolation``) is never
# resubmitted.
_CODE_TABLE: tuple[tuple[FailureCategory, tuple[str, ...]], ...] = (
    (
        "moderation",
        (
            "SensitiveContentDetected",
            "RiskDetection",
            "ContentSecurity",
            "PolicyViolation",
            "ContentPolicy",
            "content_policy",
            "content_filter",
            "moderation",
            "nsfw",
        ),
    ),
    (
        "quota",
        (
            "QuotaExceeded",  # QuotaExceeded, AccountQuotaExceeded
            "SetLimitExceeded",
            "AccountOverdue",
            "ServiceOverdue",
            "insufficient_quota",
            "InsufficientBalance",
            "insufficient_balance",
        ),
    ),
    (
        "bad_input",
        (
            "Parameter",  # InvalidParameter[.X], MissingParameter[.X], Invalid*Parameter
            "InvalidImageURL",
            "InvalidArgument",
            "invalid_request",
            "BadRequest",
        ),
    ),
    ("expired", ("Expired",)),
    ("timeout", ("Timeout", "TimedOut", "time_out")),
    (
        "internal",
        (
            "InternalServiceError",
            "InternalError",
            "internal_error",
            "InternalServerError",
            "server_error",
            "ServiceUnavailable",
            "service_unavailable",
            "ServerOverloaded",
        ),
    ),
)

# The same order for free text. Phrases rather than single words where a word alone is
# ambiguous ("internal" appears in moderation notices too; "error" in everything).
_TEXT_TABLE: tuple[tuple[FailureCategory, tuple[str, ...]], ...] = (
    (
        "moderation",
        (
            *_CODE_TABLE[0][1],
            "sensitive",
            "content policy",
            "policy violation",
            "violates",
            "moderat",
            "flagged",
            "copyright",
            "inappropriate",
            "prohibited",
            "unsafe",
            "safety",
            "risk control",
            "敏感",
            "违规",
            "审核",
            "违禁",
            "风控",
        ),
    ),
    (
        "quota",
        (
            *_CODE_TABLE[1][1],
            "quota",
            "insufficient balance",
            "insufficient credit",
            "out of credits",
            "余额不足",
            "额度",
        ),
    ),
    (
        "bad_input",
        (
            "invalid parameter",
            "missing parameter",
            "invalidparameter",
            "missingparameter",
            "invalid image",
            "invalidimageurl",
            "not supported",
            "does not support",
            "unsupported",
            "参数",
        ),
    ),
    ("expired", ("expired", "过期")),
    ("timeout", ("timeout", "timed out", "time out", "超时")),
    (
        "internal",
        (
            "internalserviceerror",
            "internal error",
            "internal server error",
            "internal_error",
            "server error",
            "service unavailable",
            "内部错误",
        ),
    ),
)


def _match(
    table: tuple[tuple[FailureCategory, tuple[str, ...]], ...], text: str
) -> FailureCategory | None:
    folded = text.casefold()
    for category, markers in table:
        if any(marker.casefold() in folded for marker in markers):
            return category
    return None


def category_of(code: str | None, message: str | None) -> FailureCategory:
    """The category of a failure reason: by code first, then by the words of the message.

    Args:
        code: the provider's failure code, when it sent one.
        message: the provider's failure text, when it sent one.

    Returns:
        The category; ``"unknown"`` when neither names a known reason.
    """
    if code:
        found = _match(_CODE_TABLE, code)
        if found is not None:
            return found
    for text in (message, code):
        if text:
            found = _match(_TEXT_TABLE, text)
            if found is not None:
                return found
    return "unknown"


def failure_category(
    state: TaskState, code: str | None, message: str | None
) -> FailureCategory | None:
    """The category for a task in ``state``: None unless it ended failed or expired.

    An expired task is ``"expired"`` whatever its error says: it waited past its expiry.
    """
    if state is TaskState.EXPIRED:
        return "expired"
    if state is not TaskState.FAILED:
        return None
    return category_of(code, message)
