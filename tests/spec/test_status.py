"""TaskStatus and its values: the new optional fields keep old statuses and stored ones equal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import get_args

import attrs
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.spec._codec import dump_status, load_status
from seedance_async.spec._status import (
    FAILURE_CATEGORIES,
    EffectiveParams,
    FailureCategory,
    TaskState,
    TaskStatus,
    Usage,
)


def test_new_fields_default_to_nothing() -> None:
    """A status built as before carries no category, no effective values, no tool usage."""
    status = TaskStatus(provider="ark", task_id="t", state=TaskState.RUNNING)
    assert status.failure is None
    assert status.effective is None
    assert Usage().tool_usage == ()
    assert Usage().cost_usd is None


def test_failure_categories_are_the_literal() -> None:
    """The runtime set and the Literal type list the same words."""
    assert set(get_args(FailureCategory)) == FAILURE_CATEGORIES
    assert "moderation" in FAILURE_CATEGORIES


def test_tool_usage_is_sorted_pairs_from_a_mapping_or_pairs() -> None:
    """Tool counts compare and hash equal whatever order or form they came in."""
    a = Usage(tool_usage={"web_search": 2, "image_search": 1})
    b = Usage(tool_usage=[["web_search", 2], ["image_search", 1]])
    assert a == b
    assert hash(a) == hash(b)
    assert a.tool_usage == (("image_search", 1), ("web_search", 2))


statuses = st.builds(
    TaskStatus,
    provider=st.just("ark"),
    task_id=st.text(min_size=1, max_size=10),
    state=st.sampled_from(list(TaskState)),
    usage=st.none()
    | st.builds(
        Usage,
        completion_tokens=st.none() | st.integers(0, 10**9),
        cost_usd=st.none() | st.floats(0, 100, allow_nan=False),
        tool_usage=st.dictionaries(st.sampled_from(["web_search", "x"]), st.integers(0, 9)),
    ),
    failure=st.none() | st.sampled_from(sorted(FAILURE_CATEGORIES)),
    effective=st.none()
    | st.builds(
        EffectiveParams,
        duration=st.none() | st.floats(0, 30, allow_nan=False),
        ratio=st.none() | st.sampled_from(["16:9", "adaptive"]),
        seed=st.none() | st.integers(-1, 2**32 - 1),
        generate_audio=st.none() | st.booleans(),
    ),
    created_at=st.none() | st.just(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
)


@given(statuses)
def test_a_stored_status_reads_back_equal(status: TaskStatus) -> None:
    """The stored JSON form (journals, Redis) keeps every new field (no raw answer)."""
    stored = json.loads(json.dumps(dump_status(status)))
    assert load_status(stored) == attrs.evolve(status, raw={})
