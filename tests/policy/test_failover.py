"""Failover decisions: which refusals move a task on, which failures are worth paying again."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._errors import (
    AuthenticationFailed,
    ContentPolicyViolation,
    InvalidRequest,
    MalformedResponse,
    ModelNotServed,
    OutcomeUnknown,
    PermissionDenied,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestNotSent,
    TaskNotFound,
    UnknownStatus,
    UnsupportedParameter,
)
from seedance_async.policy import (
    RETRYABLE_FAILURES,
    failure_category_of,
    is_retryable_failure,
    refusal_fails_over,
)
from seedance_async.spec._status import (
    FAILURE_CATEGORIES,
    FailureCategory,
    TaskState,
    TaskStatus,
)

REFUSALS: list[tuple[str, BaseException, bool]] = [
    # Refusals about this provider only: nothing was created, the next one may serve.
    ("rate limited", RateLimited("slow", status=429), True),
    ("monthly quota", QuotaExhausted("quota", status=429), True),
    ("bad key", AuthenticationFailed("key", status=401), True),
    ("no access", PermissionDenied("balance", status=403), True),
    ("outage", ProviderUnavailable("down", status=503), True),
    ("never sent", RequestNotSent("refused"), True),
    ("model not served", ModelNotServed("model", status=404), True),
    ("unsupported parameter", UnsupportedParameter("fps", status=400), True),
    # Refusals any provider would repeat, and outcomes that may have created a paid task.
    ("moderation", ContentPolicyViolation("nsfw", status=400), False),
    ("bad parameter", InvalidRequest("duration", status=400), False),
    ("not found", TaskNotFound("gone", status=404), False),
    ("ambiguous", OutcomeUnknown("timeout"), False),
    ("garbled", MalformedResponse("bad"), False),
    ("unknown word", UnknownStatus("paused", task_id="t"), False),
    ("a bug", KeyError("x"), False),
]


@pytest.mark.parametrize(("error", "expected"), [pytest.param(*c[1:], id=c[0]) for c in REFUSALS])
def test_refusal_table(error: BaseException, expected: bool) -> None:
    """Refusals before creation that concern this provider only move the task on."""
    assert refusal_fails_over(error) is expected


def failed(category: FailureCategory | None, state: TaskState = TaskState.FAILED) -> TaskStatus:
    """A finished status with the given category."""
    return TaskStatus(provider="p", task_id="t", state=state, failure=category)


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("internal", True),
        ("timeout", True),
        ("expired", True),
        ("moderation", False),
        ("bad_input", False),
        ("quota", False),
        ("unknown", False),
    ],
)
def test_only_the_providers_own_trouble_is_paid_again(
    category: FailureCategory, expected: bool
) -> None:
    """A failed task is resubmitted elsewhere only for internal errors, timeouts, expiry."""
    assert is_retryable_failure(failed(category)) is expected


def test_categories_decide_not_the_code_text() -> None:
    """The category decides: a moderation failure whose code looks harmless still stays put."""
    status = TaskStatus(
        provider="unified",
        task_id="t",
        state=TaskState.FAILED,
        error_message="task failed",
        failure="moderation",
    )
    assert not is_retryable_failure(status)


def test_unclassified_statuses_fall_back_on_the_state() -> None:
    """Without a category (a third-party adapter) an expiry moves on and a failure does not."""
    assert failure_category_of(failed(None, TaskState.EXPIRED)) == "expired"
    assert is_retryable_failure(failed(None, TaskState.EXPIRED))
    assert failure_category_of(failed(None)) == "unknown"
    assert not is_retryable_failure(failed(None))


@given(
    state=st.sampled_from(list(TaskState)),
    category=st.sampled_from(sorted(FAILURE_CATEGORIES)) | st.none(),
)
def test_unfinished_or_successful_tasks_never_fail_over(
    state: TaskState, category: FailureCategory | None
) -> None:
    """Only failed or expired tasks can be resubmitted, whatever category they carry."""
    status = failed(category, state)
    if state not in (TaskState.FAILED, TaskState.EXPIRED):
        assert failure_category_of(status) is None
        assert not is_retryable_failure(status)
    else:
        assert failure_category_of(status) in FAILURE_CATEGORIES


def test_retryable_categories_are_categories() -> None:
    """The retryable set names categories of the closed vocabulary."""
    assert RETRYABLE_FAILURES <= FAILURE_CATEGORIES
