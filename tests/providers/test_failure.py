"""Failure reasons in neutral terms: provider codes and texts to a failure category."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.providers._failure import category_of, failure_category
from seedance_async.spec._status import FAILURE_CATEGORIES, FailureCategory, TaskState

# Ark's documented codes (error-code reference: HTTP table; task-level failures) and the
# texts gateways put in fail_reason, with the category each must get.
CATEGORY_CASES: list[tuple[str | None, str | None, FailureCategory]] = [
    ("OutputVideoSensitiveContentDetected.PolicyViolation", None, "moderation"),
    ("OutputVideoSensitiveContentDetected", None, "moderation"),
    ("InputImageSensitiveContentDetected.PrivacyInformation", None, "moderation"),
    ("InputTextSensitiveContentDetected", None, "moderation"),
    ("SensitiveContentDetected.SevereViolation", None, "moderation"),
    ("InputTextRiskDetection", None, "moderation"),
    ("ContentSecurityDetectionError", None, "moderation"),
    ("content_policy_violation", None, "moderation"),
    ("InvalidParameter", "The prompt is too long.", "bad_input"),
    ("InvalidParameter.TaskTypeConstraint", None, "bad_input"),
    ("MissingParameter", None, "bad_input"),
    ("InvalidImageURL.InvalidFormat", None, "bad_input"),
    ("InvalidResolutionParameter", None, "bad_input"),
    ("QuotaExceeded", None, "quota"),
    ("AccountQuotaExceeded", None, "quota"),
    ("SetLimitExceeded", None, "quota"),
    ("AccountOverdueError", None, "quota"),
    ("insufficient_quota", None, "quota"),
    ("InternalServiceError", None, "internal"),
    ("InternalError", "The generation failed.", "internal"),
    ("server_error", None, "internal"),
    ("GenerationTimeout", "Generation timeout", "timeout"),
    ("TaskExpired", "The task expired before it finished.", "expired"),
    # The code wins over the words; the words help when the code says nothing.
    ("InternalServiceError", "output may be sensitive", "internal"),
    ("E1", "output may contain sensitive content", "moderation"),
    (
        None,
        "The request failed because the output video may be related to copyright restrictions.",
        "moderation",
    ),
    (None, "输出视频可能包含敏感信息", "moderation"),
    (None, "task timed out", "timeout"),
    (None, "upstream internal error", "internal"),
    (None, "insufficient balance", "quota"),
    (None, "something went wrong", "unknown"),
    (None, None, "unknown"),
    ("E1", "bad", "unknown"),
]


@pytest.mark.parametrize(("code", "message", "expected"), CATEGORY_CASES)
def test_failure_reason_categories(
    code: str | None, message: str | None, expected: FailureCategory
) -> None:
    """Documented codes and texts map to the neutral category."""
    assert category_of(code, message) == expected


@given(
    state=st.sampled_from(list(TaskState)),
    code=st.none() | st.text(max_size=30),
    message=st.none() | st.text(max_size=60),
)
def test_only_failed_or_expired_tasks_have_a_category(
    state: TaskState, code: str | None, message: str | None
) -> None:
    """An expired task is "expired" whatever it says; unfinished or good ones have none."""
    category = failure_category(state, code, message)
    if state is TaskState.EXPIRED:
        assert category == "expired"
    elif state is TaskState.FAILED:
        assert category in FAILURE_CATEGORIES
    else:
        assert category is None
