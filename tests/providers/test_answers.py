"""Reading status answers: status words to neutral states, relative result URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._errors import UnknownStatus, redact_secrets
from seedance_async.providers import resolve_result_urls
from seedance_async.providers._answers import state_of
from seedance_async.providers._json import Node
from seedance_async.spec._status import TaskState, TaskStatus

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
