"""The SQLite journal's schema, statements and record values (see :mod:`._sqlite_journal`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import attrs

from seedance_async.journal._protocol import JournalEntry
from seedance_async.spec._codec import load_handle, load_status, load_stored_task
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = [
    "APPLICATION_ID",
    "BATCHES_TABLE",
    "COLUMNS",
    "FINAL",
    "INTENT_SQL",
    "MIGRATIONS",
    "ORDER",
    "RESULT_SQL",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SYNC_FULL",
    "SYNC_NORMAL",
    "BatchIdentity",
    "JournalRecord",
    "record_from_row",
]

SCHEMA_VERSION = 4
# Stored in the file header so an unrelated SQLite database is never mistaken for a journal.
APPLICATION_ID = 0x53445341  # "SDSA"

# Which batch files a journal belongs to (version 2). A journal reused for another batch
# would run that batch's tasks and its own together: the CLI refuses unless told to append.
BATCHES_TABLE = """CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,  -- sha256 of the batch file's bytes
        source TEXT NOT NULL,         -- the file as it was named
        lines INTEGER NOT NULL,       -- valid tasks in it
        added_at REAL NOT NULL)"""

SCHEMA = (
    """CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY,      -- insertion order; a rowid alias, so VACUUM keeps it
        key TEXT NOT NULL UNIQUE,
        spec_json TEXT NOT NULL,      -- VideoTask.to_dict(), metadata included
        spec_hash TEXT NOT NULL,
        line_no INTEGER,              -- line in the batch file, when it came from one
        state TEXT NOT NULL,          -- pending|intent|submitted|<TaskState>|final
        outcome TEXT,                 -- Outcome, once final
        provider TEXT,                -- alias of the last attempt
        attempt INTEGER NOT NULL DEFAULT 0,
        intent_at REAL,
        task_id TEXT,
        handle_json TEXT,
        last_status_json TEXT,
        result_json TEXT,             -- TaskResult.to_dict(), once final
        updated_at REAL NOT NULL,
        callback_token TEXT,          -- the attempt's callback URL token (version 3)
        sent_at REAL)                 -- the intent's request left (version 4)""",
    "CREATE INDEX tasks_by_state ON tasks(state)",
    "CREATE INDEX tasks_by_line ON tasks(line_no, seq)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL,
        at REAL NOT NULL, detail TEXT)""",
    "CREATE INDEX events_by_key ON events(key, id)",
    BATCHES_TABLE,
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

# Statements that bring a journal of version N to N + 1, run in the transaction that opens
# it. Additive only, so nothing a journal holds is rewritten.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (BATCHES_TABLE, "PRAGMA user_version = 2"),
    2: ("ALTER TABLE tasks ADD COLUMN callback_token TEXT", "PRAGMA user_version = 3"),
    # Before version 4 nothing was stamped: an open intent may have been sent.
    3: (
        "ALTER TABLE tasks ADD COLUMN sent_at REAL",
        "UPDATE tasks SET sent_at = COALESCE(intent_at, updated_at) WHERE state = 'intent'",
        "PRAGMA user_version = 4",
    ),
}

# Durability per record. In WAL mode FULL fsyncs the WAL at every commit; NORMAL only at
# checkpoints, so a power cut (not a process crash: SIGKILL loses nothing committed either
# way) may roll back the last NORMAL commits. "Never double-bill" rests on the sent stamp:
# if it were lost after the request left, resume would see a never-sent intent and pay
# for it again, so it is flushed before record_sent returns, i.e. before the request goes.
# The intent itself may be NORMAL: until it is stamped nothing has left, and the stamp's
# FULL commit makes it durable too (the WAL is append-only, so a FULL commit also makes
# every earlier one durable). A lost handle would turn a known remote task into one to
# reconcile, so it is FULL too, as is the result (once per task; a lost REJECTED/UNKNOWN
# result would come back as an intent to reconcile). Pending rows, statuses and a removed
# stamp are cheap to redo: re-reading the batch file, polling again, reconciling.
SYNC_FULL = "PRAGMA synchronous = FULL"
SYNC_NORMAL = "PRAGMA synchronous = NORMAL"

# A new attempt (failover) replaces the last one's handle and status; the events keep them.
INTENT_SQL = """INSERT INTO tasks(key, spec_json, spec_hash, state, provider, attempt, intent_at,
    updated_at) VALUES (?, ?, ?, 'intent', ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
    spec_json = excluded.spec_json, spec_hash = excluded.spec_hash, state = 'intent',
    outcome = NULL, provider = excluded.provider, attempt = excluded.attempt,
    intent_at = excluded.intent_at, task_id = NULL, handle_json = NULL, last_status_json = NULL,
    result_json = NULL, updated_at = excluded.updated_at, callback_token = NULL, sent_at = NULL"""
# A task may end before any intent (rejected by every provider, unreadable image).
RESULT_SQL = """INSERT INTO tasks(key, spec_json, spec_hash, state, outcome, provider, task_id,
    handle_json, last_status_json, result_json, updated_at)
    VALUES (?, ?, ?, 'final', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
    state = 'final', outcome = excluded.outcome, provider = COALESCE(excluded.provider, provider),
    task_id = COALESCE(excluded.task_id, task_id),
    handle_json = COALESCE(excluded.handle_json, handle_json),
    last_status_json = COALESCE(excluded.last_status_json, last_status_json),
    result_json = excluded.result_json, updated_at = excluded.updated_at"""
ORDER = " ORDER BY line_no IS NULL, line_no, seq"  # batch order; ad-hoc tasks last, oldest first
FINAL = "final"
COLUMNS = (
    "key, spec_json, line_no, state, provider, attempt, intent_at, handle_json, "
    "last_status_json, result_json, updated_at, callback_token, sent_at"
)


@attrs.frozen(kw_only=True)
class BatchIdentity:
    """Which batch file a journal's tasks came from.

    Attributes:
        digest: sha256 (hex) of the file's bytes: an edited file is another batch.
        source: the file as it was named.
        lines: how many valid tasks it held.
        added_at: Unix time it was first run with this journal (0 until recorded).
    """

    digest: str
    source: str
    lines: int
    added_at: float = 0.0

    def describe(self) -> str:
        """``tasks.jsonl (3 tasks, sha256 1a2b3c4d5e6f)`` for messages."""
        return (
            f"{self.source} ({self.lines} task{'s' * (self.lines != 1)}, sha256 {self.digest[:12]})"
        )


@attrs.frozen(kw_only=True)
class JournalRecord:
    """Everything the journal holds about one task (see :meth:`SqliteJournal.get`).

    Attributes:
        key: tracking key.
        task: the spec.
        state: ``pending``, ``intent``, ``submitted``, a :class:`TaskState` value or ``final``.
        line_no: line in the batch file, when the task came from one.
        provider / attempt / intent_at: the last attempt, once an intent was recorded.
        sent_at: when the last attempt's request was stamped as leaving; None for an intent
            whose request never left.
        handle: the remote task, once the submit answer was recorded.
        last_status: the last state change seen.
        result: :meth:`TaskResult.to_dict` output, once final.
        updated_at: Unix time of the last record.
        callback_token: the token in the last attempt's callback URL, when it had one (a
            secret: not in the repr).
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
    callback_token: str | None = attrs.field(default=None, repr=False)

    @property
    def never_sent(self) -> bool:
        """An open intent whose request provably never left: safe to submit again."""
        return self.state == "intent" and self.handle is None and self.sent_at is None

    @property
    def is_finished(self) -> bool:
        """True once a result was recorded."""
        return self.state == FINAL

    def entry(self) -> JournalEntry:
        """The resume view of this record."""
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
            callback_token=self.callback_token,
        )


def record_from_row(row: sqlite3.Row) -> JournalRecord:
    """One ``tasks`` row (selected with :data:`COLUMNS`) as a record."""
    return JournalRecord(
        key=row["key"],
        task=load_stored_task(json.loads(row["spec_json"])),
        state=row["state"],
        line_no=row["line_no"],
        provider=row["provider"],
        attempt=row["attempt"],
        intent_at=row["intent_at"],
        handle=load_handle(json.loads(row["handle_json"])) if row["handle_json"] else None,
        last_status=load_status(json.loads(row["last_status_json"]))
        if row["last_status_json"]
        else None,
        result=json.loads(row["result_json"]) if row["result_json"] else None,
        updated_at=row["updated_at"],
        callback_token=row["callback_token"],
        sent_at=row["sent_at"],
    )
