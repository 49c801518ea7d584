"""The journal record's stored form: what both journals write, read back the same."""

from __future__ import annotations

from typing import Any

import pytest

from seedance_async.journal._record import FINAL, JournalRecord, dump_fields, load_record
from seedance_async.spec import dump_result, load_result
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus, Usage
from seedance_async.spec._task import VideoTask

PRO = "doubao-seedance-1-0-pro-250528"
TASK = VideoTask(model=PRO, prompt="a heron", duration=5, metadata={"row": 3})
HANDLE = TaskHandle(
    provider="ark-main", adapter="ark", model=PRO, task_id="cgt-1", created_at=10.0, spec_hash="h"
)
STATUS = TaskStatus(
    provider="ark",
    task_id="cgt-1",
    state=TaskState.SUCCEEDED,
    video_url="https://cdn.example/1.mp4",
    usage=Usage(completion_tokens=108_900, total_tokens=108_900),
)
RESULT = TaskResult(
    key="k",
    task=TASK,
    outcome=Outcome.SUCCEEDED,
    status=STATUS,
    handle=HANDLE,
    attempts=(
        Attempt(provider="ark-backup", task_id=None, outcome="refused", reason="429"),
        Attempt(provider="ark-main", task_id="cgt-1", outcome="succeeded"),
    ),
    video_path="videos/k.mp4",
    download_failed="last_frame",
    submitted_at=10.0,
    started_at=12.5,
    finished_at=40.0,
)


def final_fields(**extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dump_fields(task=TASK, handle=HANDLE, status=STATUS, result=RESULT)
    fields |= {"state": FINAL, "provider": "ark-main", "attempt": 1, "intent_at": 9.5}
    return fields | {"updated_at": 41.0, "line": 3} | extra


def test_a_final_record_reads_back_typed() -> None:
    record = load_record("k", final_fields())
    assert record == JournalRecord(
        key="k",
        task=TASK,
        state="final",
        line_no=3,
        provider="ark-main",
        attempt=1,
        intent_at=9.5,
        handle=HANDLE,
        last_status=STATUS,
        result=RESULT,
        updated_at=41.0,
    )
    assert record.is_finished


def test_text_fields_read_the_same_as_sqlite_columns() -> None:
    """Redis keeps every field as text and unset ones as ""; SQLite keeps numbers and NULL."""
    as_columns = final_fields(sent_at=None, callback_token=None)
    as_text = {k: "" if v is None else str(v) for k, v in as_columns.items()}
    assert load_record("k", as_text) == load_record("k", as_columns)


def test_unset_fields_read_as_unset() -> None:
    spec = dump_fields(task=TASK)
    record = load_record("k", spec | {"state": "", "line": "", "attempt": "", "sent_at": ""})
    assert record == JournalRecord(key="k", task=TASK, state="pending")


def test_only_the_values_given_are_dumped() -> None:
    assert set(dump_fields(task=TASK)) == {"spec", "hash"}
    assert set(dump_fields(handle=HANDLE, status=STATUS)) == {"handle", "status"}
    assert dump_fields() == {}


def test_the_stored_status_leaves_the_raw_answer_out() -> None:
    raw = TaskStatus(provider="ark", task_id="cgt-1", state=TaskState.RUNNING, raw={"x": 1})
    record = load_record("k", dump_fields(task=TASK, status=raw) | {"state": "running"})
    assert record.last_status is not None
    assert not record.last_status.raw


def test_the_callback_token_stays_out_of_the_repr() -> None:
    record = load_record("k", dump_fields(task=TASK) | {"callback_token": "s3cret-token"})
    assert record.callback_token == "s3cret-token"
    assert "s3cret" not in repr(record)


@pytest.mark.parametrize(
    "broken",
    [
        {"spec": "{not json"},
        {"spec": '{"model": 5}'},
        {"attempt": "two"},
        {"result": '{"outcome": "succeeded"}'},  # no key
        {"result": '{"key": "k", "outcome": "won"}'},
    ],
    ids=[
        "spec not JSON",
        "spec of the wrong shape",
        "attempt not a number",
        "result without key",
        "unknown outcome",
    ],
)
def test_a_record_this_version_cannot_read_is_an_error(broken: dict[str, str]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        load_record("k", final_fields(**broken))


def test_a_result_line_reads_back_as_the_result_it_was() -> None:
    """dump_result keeps a summary of the status: the journal passes the whole one back."""
    line = dump_result(RESULT)
    assert load_result(line, TASK, status=STATUS) == RESULT
    assert load_result(line, TASK).handle == HANDLE  # from the line, when none is given
    assert dump_result(load_result(line, TASK, status=STATUS)) == line
