"""Values of the Redis journal: a task record as read back, and the lease error."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from seedance_async.core._errors import JournalError, LeaseLost
from seedance_async.journal._protocol import JournalEntry
from seedance_async.spec._codec import load_handle, load_status, load_stored_task
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["LeaseLost", "RedisRecord", "default_worker_id", "parse_record"]


@attrs.frozen(kw_only=True)
class RedisRecord:
    """Everything Redis holds about one task (the SQLite ``JournalRecord`` plus ``sent_at``).

    Attributes:
        sent_at: Redis time at which the submit token was granted for the current intent;
            None means the submit provably never left the worker.
        owner: the worker that owns the key, if any.
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
    result: dict[str, Any] | None = None
    updated_at: float = 0.0
    owner: str | None = None

    @property
    def is_finished(self) -> bool:
        """True once a result was recorded."""
        return self.state == "final"

    def entry(self) -> JournalEntry:
        """The resume view of this record (for :meth:`Tracker.resume`)."""
        return JournalEntry(
            key=self.key,
            task=self.task,
            provider=self.provider,
            attempt=self.attempt,
            handle=self.handle,
            intent_at=self.intent_at,
            last_status=self.last_status,
        )


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def parse_record(key: str, fields: Mapping[str, str], owner: str | None = None) -> RedisRecord:
    """A :class:`RedisRecord` from a task hash.

    Raises:
        JournalError: the hash is not a task record this version can read.
    """
    try:
        return RedisRecord(
            key=key,
            task=load_stored_task(json.loads(fields["spec"])),
            state=fields.get("state") or "pending",
            line_no=int(fields["line"]) if fields.get("line") else None,
            provider=fields.get("provider") or None,
            attempt=int(fields.get("attempt") or 0),
            intent_at=_float(fields.get("intent_at")),
            sent_at=_float(fields.get("sent_at")),
            handle=load_handle(json.loads(fields["handle"])) if fields.get("handle") else None,
            last_status=load_status(json.loads(fields["status"])) if fields.get("status") else None,
            result=json.loads(fields["result"]) if fields.get("result") else None,
            updated_at=float(fields.get("updated_at") or 0.0),
            owner=owner,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"Redis record {key!r} is unreadable: {exc}") from exc


def default_worker_id() -> str:
    """``host-pid-random``: unique per process, readable in ``status``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
