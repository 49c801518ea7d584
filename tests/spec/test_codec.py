"""The one codec: every stored shape round-trips, and foreign input fails with field names."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seedance_async.spec._codec as codec
from seedance_async import (
    InvalidTaskSpec,
    Outcome,
    TaskHandle,
    TaskResult,
    TaskState,
    TaskStatus,
    VideoTask,
    dump_task,
    load_task,
)
from seedance_async.spec import (
    Attempt,
    Usage,
    dump_handle,
    dump_result,
    dump_status,
    load_handle,
    load_status,
    load_stored_task,
    task_hash,
)

TASK = VideoTask(model="doubao-seedance-1-0-pro-250528", prompt="a corgi", metadata={"n": 1})
HANDLE = TaskHandle(
    provider="ark-main",
    adapter="ark",
    model=TASK.model,
    task_id="cgt-1",
    created_at=1.5,
    spec_hash=task_hash(TASK),
)

texts = st.text(max_size=20)


@given(
    provider=texts,
    adapter=texts,
    model=texts,
    task_id=texts,
    created_at=st.floats(allow_nan=False, allow_infinity=False),
)
def test_handles_round_trip_through_json(
    provider: str, adapter: str, model: str, task_id: str, created_at: float
) -> None:
    """A handle written by one process is the same handle in another."""
    handle = TaskHandle(
        provider=provider,
        adapter=adapter,
        model=model,
        task_id=task_id,
        created_at=created_at,
        spec_hash="h",
    )
    assert load_handle(json.loads(json.dumps(dump_handle(handle)))) == handle


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task_id": 7}, "task_id"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": True}, "created_at"),
        ({"provider": None}, "provider"),
    ],
)
def test_a_foreign_handle_with_a_wrong_field_names_it(change: dict[str, Any], field: str) -> None:
    """Handles from files or other hosts are checked, and the error names the field."""
    data = dump_handle(HANDLE) | change
    with pytest.raises(InvalidTaskSpec) as info:
        load_handle(data)
    assert [v.field for v in info.value.violations] == [field]


def test_a_handle_with_a_missing_field_or_not_an_object_is_refused() -> None:
    """A missing field and a non-object are violations, not KeyErrors or TypeErrors."""
    data = dump_handle(HANDLE)
    del data["spec_hash"]
    with pytest.raises(InvalidTaskSpec, match="spec_hash"):
        load_handle(data)
    with pytest.raises(InvalidTaskSpec):
        load_handle(["not", "a", "handle"])  # type: ignore[arg-type]


def test_an_integer_created_at_is_a_number() -> None:
    """JSON has one number type: 2 and 2.0 are the same time."""
    assert load_handle(dump_handle(HANDLE) | {"created_at": 2}).created_at == 2.0


def test_statuses_round_trip_without_the_raw_answer() -> None:
    """Stored statuses keep every field but the provider's raw answer (large, unvetted)."""
    status = TaskStatus(
        provider="ark",
        task_id="cgt-1",
        state=TaskState.SUCCEEDED,
        provider_status="succeeded",
        video_url="https://cdn.example/v.mp4",
        usage=Usage(completion_tokens=108900, total_tokens=108900),
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC),
        raw={"secret-ish": "large provider answer"},
    )
    data = json.loads(json.dumps(dump_status(status)))
    assert "raw" not in data
    assert data["created_at"] == "2026-01-02T03:04:05+00:00"
    again = load_status(data)
    assert again == status
    assert again.raw == {}


def test_result_lines_name_provider_task_model_and_usage() -> None:
    """A results line carries what users look for: alias, remote id, model, usage, timings."""
    status = TaskStatus(
        provider="ark",
        task_id="cgt-1",
        state=TaskState.SUCCEEDED,
        usage=Usage(completion_tokens=10, total_tokens=10),
    )
    result = TaskResult(
        key="k",
        task=TASK,
        outcome=Outcome.SUCCEEDED,
        status=status,
        handle=HANDLE,
        attempts=(Attempt(provider="ark-main", task_id="cgt-1", outcome="succeeded"),),
        submitted_at=1.0,
        finished_at=9.0,
    )
    line = json.loads(json.dumps(dump_result(result)))
    assert (line["provider"], line["task_id"], line["model"]) == ("ark-main", "cgt-1", TASK.model)
    assert line["usage"] == {
        "completion_tokens": 10,
        "total_tokens": 10,
        "credits": None,
        "cost_usd": None,
        "tool_usage": [],
    }
    assert line["handle"] == dump_handle(HANDLE)
    assert line["cost"] is None  # ark-main has no price in the shipped table: unknown, not 0
    assert line["spec_hash"] == task_hash(TASK)
    assert line["metadata"] == {"n": 1}
    assert (line["submitted_at"], line["finished_at"]) == (1.0, 9.0)


def test_a_result_before_any_submit_names_the_spec_model() -> None:
    """A task refused before any submit still says which model it was for."""
    result = TaskResult(key="k", task=TASK, outcome=Outcome.REJECTED, reason="no provider")
    line = dump_result(result)
    assert (line["provider"], line["task_id"], line["model"]) == (None, None, TASK.model)
    assert line["usage"] is None


def test_stored_specs_are_rebuilt_without_rerunning_the_rules() -> None:
    """Journal rows were valid when written: reading them checks types, not rules."""
    data = dump_task(TASK) | {"duration": 999}  # breaks a per-model rule
    with pytest.raises(InvalidTaskSpec, match="duration"):
        load_task(data)
    assert load_stored_task(data).duration == 999
    with pytest.raises(InvalidTaskSpec, match="duration"):
        load_stored_task(data | {"duration": "5"})  # a wrong type is still refused
    with pytest.raises(InvalidTaskSpec, match="duration"):
        VideoTask(model=TASK.model, duration=999)  # the trust ended with the read


def test_the_spec_hash_is_computed_once_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are needed by the journal, the handle and the results line: one dump serves all."""
    calls: list[VideoTask] = []
    real = codec.dump_task

    def counting(task: VideoTask) -> dict[str, Any]:
        calls.append(task)
        return real(task)

    monkeypatch.setattr(codec, "dump_task", counting)
    task = VideoTask(model=TASK.model, prompt="once")
    first = task_hash(task)
    assert task_hash(task) == first
    assert len(calls) == 1
    changed = attrs.evolve(task, prompt="twice")
    assert task_hash(changed) != first
    assert task_hash(attrs.evolve(changed, prompt="once")) == first


def test_result_lines_keep_the_failure_category_and_the_values_the_provider_chose() -> None:
    """`failure` and `effective` reach the line (they were only in the unstored raw answer);
    a line without a status has neither."""
    from seedance_async.spec._status import EffectiveParams

    chosen = EffectiveParams(duration=7.0, ratio="9:16", resolution="720p", seed=42)
    status = TaskStatus(
        provider="ark",
        task_id="cgt-1",
        state=TaskState.FAILED,
        error_code="InternalServiceError",
        failure="internal",
        effective=chosen,
    )
    result = TaskResult(key="k", task=TASK, outcome=Outcome.FAILED, status=status, handle=HANDLE)
    line = json.loads(json.dumps(dump_result(result)))
    assert line["failure"] == "internal"
    given = {k: v for k, v in line["effective"].items() if v is not None and v != []}
    assert given == {"duration": 7.0, "ratio": "9:16", "resolution": "720p", "seed": 42}
    back = codec.load_result(
        line, TASK, status=load_status(json.loads(json.dumps(dump_status(status))))
    )
    assert back.status is not None
    assert (back.status.failure, back.status.effective) == ("internal", chosen)
    bare = dump_result(TaskResult(key="k", task=TASK, outcome=Outcome.REJECTED, reason="no"))
    assert (bare["failure"], bare["effective"]) == (None, None)
