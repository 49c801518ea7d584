"""Helpers every adapter shares: status words, reset times, result URLs, failure categories."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._errors import UnknownStatus, redact_secrets
from seedance_async.providers import resolve_result_urls
from seedance_async.providers._common import parse_reset_time, state_of
from seedance_async.providers._failure import category_of, failure_category
from seedance_async.providers._json import Node
from seedance_async.spec._status import FAILURE_CATEGORIES, FailureCategory, TaskState, TaskStatus

TABLE = {"running": TaskState.RUNNING, "succeeded": TaskState.SUCCEEDED}


def test_status_words_ignore_case_and_surrounding_spaces() -> None:
    """``" Succeeded "`` is the word ``succeeded``."""
    node = Node(" Succeeded ", "$.status", provider="p")
    assert state_of(node, TABLE, task_id="t", provider="p") is TaskState.SUCCEEDED


@given(st.text(max_size=12))
def test_any_other_word_is_unknown_with_word_id_and_path(word: str) -> None:
    """Every word outside the table raises UnknownStatus; none is guessed (a key-shaped
    word is masked: errors never carry secrets)."""
    if word.strip().lower() in TABLE:
        return
    with pytest.raises(UnknownStatus) as info:
        state_of(Node(word, "$.data.status", status=200), TABLE, task_id="t-1", provider="p")
    expected = (redact_secrets(word), "t-1", "$.data.status")
    assert (info.value.word, info.value.task_id, info.value.path) == expected
    assert (info.value.provider, info.value.status) == ("p", 200)


# Ark's regions keep UTC+8: a reset time without a zone is read there.
RESETS: list[tuple[str, datetime | None]] = [
    ("will reset at 2026-12-01 00:00:00.", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("will reset at 2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-12-01", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("resets on 2026/12/01 08:00 +0800", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-12-01 00:00:00 UTC+8", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("will reset at 2026-12-01 01:30:00 -05:30", datetime(2026, 12, 1, 7, tzinfo=UTC)),
    ("resets at Tue, 01 Dec 2026 00:00:00 GMT", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-13-01", None),
    ("quota exceeded", None),
    ("", None),
]


@pytest.mark.parametrize(("message", "expected"), RESETS)
def test_reset_time_in_a_message(message: str, expected: datetime | None) -> None:
    """The reset time of a quota answer, in UTC; None when none can be read."""
    assert parse_reset_time(message) == expected


@given(st.text(max_size=80))
def test_reset_time_never_raises(message: str) -> None:
    """Any text gives a time in UTC or None."""
    when = parse_reset_time(f"will reset at {message}")
    assert when is None or when.tzinfo is UTC


def _status(video: str | None, frame: str | None = None) -> TaskStatus:
    return TaskStatus(
        provider="p",
        task_id="t",
        state=TaskState.SUCCEEDED,
        video_url=video,
        last_frame_url=frame,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/files/v.mp4", "https://gw.example/files/v.mp4"),
        ("files/v.mp4", "https://gw.example/api/v1/files/v.mp4"),
        ("//cdn.example/v.mp4", "https://cdn.example/v.mp4"),
        ("https://cdn.example/v.mp4?sig=1", "https://cdn.example/v.mp4?sig=1"),
        (None, None),
    ],
)
def test_relative_result_urls_resolve_against_the_base(
    url: str | None, expected: str | None
) -> None:
    """Relative video URLs are made absolute; absolute ones are kept as they are."""
    resolved = resolve_result_urls(_status(url, url), "https://gw.example/api/v1/")
    assert (resolved.video_url, resolved.last_frame_url) == (expected, expected)


def test_absolute_urls_keep_the_same_status() -> None:
    """Nothing to resolve: the very same status comes back (no copy per poll)."""
    status = _status("https://cdn.example/v.mp4")
    assert resolve_result_urls(status, "https://gw.example") is status


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
