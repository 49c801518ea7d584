"""The journal record: everything a journal holds about one task, and its stored form.

Both journals, SQLite and Redis, keep the same record under the same field names and
write every value through :func:`dump_fields` and read it back through :func:`load_record`,
so the two stores can never disagree about a shape. A store keeps each field as text
(Redis hash fields) or as a column (SQLite, whose older column names are aliased to these
in its ``SELECT``); an empty or missing field is an unset one.

Field names of the stored form: ``spec`` and ``hash`` (the task), ``line``, ``state``,
``outcome``, ``provider``, ``attempt``, ``intent_at``, ``sent_at``, ``task_id``, ``handle``,
``status``, ``result``, ``updated_at``, ``callback_token``, ``attempts``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from seedance_async.journal._protocol import JournalEntry
from seedance_async.spec._codec import (
    dump_handle,
    dump_result,
    dump_status,
    dump_task,
    dumps,
    load_attempts,
    load_handle,
    load_result,
    load_status,
    load_stored_task,
    task_hash,
)
from seedance_async.spec._handle import Attempt, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["FAILOVER", "FINAL", "JournalRecord", "dump_fields", "load_record"]

FINAL = "final"
FAILOVER = "failover"  # failed remotely; waits to be submitted to the next provider


@attrs.frozen(kw_only=True)
class JournalRecord:
    """Everything a journal holds about one task (``SqliteJournal.get``, Redis claims).

    Attributes:
        key: tracking key.
        task: the spec, as journaled (with the correlation nonce, when one was drawn).
        state: ``pending``, ``intent``, ``submitted``, a :class:`TaskState` value,
            ``failover`` (waiting to be submitted to the next provider) or ``final``.
        line_no: line in the batch file, when the task came from one.
        provider / attempt / intent_at: the last attempt, once an intent was recorded.
        sent_at: when the last attempt's request was stamped as leaving; None for an intent
            whose request never left (both journals stamp sends).
        handle: the remote task, once the submit answer was recorded.
        last_status: the last state change seen.
        result: the final word, once the task is finished (its ``task`` is the journaled spec
            and its ``status`` the last status journaled).
        attempts: the attempts that ended before the current one (refusals, failovers), when
            the journal keeps them.
        updated_at: Unix time of the last record.
        callback_token: the token in the last attempt's callback URL, when it had one (a
            secret: not in the repr).
        owner: the worker holding the key (a shared journal only).
    """

    key: str
    task: VideoTask
    state: str
    line_no: int | None = None
    provider: str | None = None
    attempt: int = 0
    intent_at: float | None = None
    sent_at: float | None = None
    handle: TaskHandle | None = None
    last_status: TaskStatus | None = None
    result: TaskResult | None = None
    attempts: tuple[Attempt, ...] = ()
    updated_at: float = 0.0
    callback_token: str | None = attrs.field(default=None, repr=False)
    owner: str | None = None

    @property
    def never_sent(self) -> bool:
        """An open intent whose request provably never left: safe to submit again."""
        return self.state == "intent" and self.handle is None and self.sent_at is None

    @property
    def is_finished(self) -> bool:
        """True once a result was recorded."""
        return self.state == FINAL

    def entry(self) -> JournalEntry:
        """The resume view of this record (for :meth:`Tracker.resume`)."""
        return JournalEntry(
            key=self.key,
            task=self.task,
            provider=self.provider,
            attempt=self.attempt,
            handle=self.handle,
            intent_at=self.intent_at,
            sent_at=self.sent_at,
            never_sent=self.never_sent,
            last_status=self.last_status,
            attempts=self.attempts,
            failover=self.state == FAILOVER,
            callback_token=self.callback_token,
        )


def dump_fields(
    *,
    task: VideoTask | None = None,
    handle: TaskHandle | None = None,
    status: TaskStatus | None = None,
    result: TaskResult | None = None,
) -> dict[str, str]:
    """The stored form of the values given, under the record's field names.

    ``task`` gives ``spec`` and ``hash``; ``handle``, ``status`` and ``result`` give the
    fields of the same names. Values not given are left out.
    """
    out: dict[str, str] = {}
    if task is not None:
        out["spec"] = dumps(dump_task(task))
        out["hash"] = task_hash(task)
    if handle is not None:
        out["handle"] = dumps(dump_handle(handle))
    if status is not None:
        out["status"] = dumps(dump_status(status))
    if result is not None:
        out["result"] = dumps(dump_result(result))
    return out


def _get(fields: Mapping[str, Any], name: str) -> Any:
    value = fields.get(name)
    return None if value is None or value == "" else value


def _float(fields: Mapping[str, Any], name: str) -> float | None:
    value = _get(fields, name)
    return None if value is None else float(value)


def _json(fields: Mapping[str, Any], name: str) -> Any:
    value = _get(fields, name)
    return None if value is None else json.loads(value)


def load_record(key: str, fields: Mapping[str, Any], *, owner: str | None = None) -> JournalRecord:
    """A record from its stored fields (written by this library: types checked, rules not).

    Raises:
        KeyError, TypeError, ValueError: the fields are not a record this version can read
            (each store turns these into a :class:`~seedance_async.core.JournalError`).
    """
    task = load_stored_task(json.loads(fields["spec"]))
    handle = load_handle(h) if (h := _json(fields, "handle")) is not None else None
    status = load_status(s) if (s := _json(fields, "status")) is not None else None
    result = _json(fields, "result")
    line = _get(fields, "line")
    return JournalRecord(
        key=key,
        task=task,
        state=_get(fields, "state") or "pending",
        line_no=None if line is None else int(line),
        provider=_get(fields, "provider"),
        attempt=int(_get(fields, "attempt") or 0),
        intent_at=_float(fields, "intent_at"),
        sent_at=_float(fields, "sent_at"),
        handle=handle,
        last_status=status,
        # The result line keeps a summary of the status; the record keeps the whole one.
        result=None if result is None else load_result(result, task, status=status, handle=handle),
        attempts=load_attempts(_json(fields, "attempts")),
        updated_at=_float(fields, "updated_at") or 0.0,
        callback_token=_get(fields, "callback_token"),
        owner=owner,
    )
