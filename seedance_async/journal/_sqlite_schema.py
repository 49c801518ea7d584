"""The SQLite journal's schema and statements (see :mod:`._sqlite`)."""

from __future__ import annotations

import attrs

__all__ = [
    "APPLICATION_ID",
    "BATCHES_TABLE",
    "COLUMNS",
    "INTENT_SQL",
    "MIGRATIONS",
    "ORDER",
    "RESULT_SQL",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SYNC_FULL",
    "SYNC_NORMAL",
    "BatchIdentity",
]

SCHEMA_VERSION = 5
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
        spec_json TEXT NOT NULL,      -- dump_task(), metadata included
        spec_hash TEXT NOT NULL,
        line_no INTEGER,              -- line in the batch file, when it came from one
        state TEXT NOT NULL,          -- pending|intent|submitted|<TaskState>|failover|final
        outcome TEXT,                 -- Outcome, once final
        provider TEXT,                -- alias of the last attempt
        attempt INTEGER NOT NULL DEFAULT 0,
        intent_at REAL,
        task_id TEXT,
        handle_json TEXT,
        last_status_json TEXT,
        result_json TEXT,             -- dump_result(), once final
        updated_at REAL NOT NULL,
        callback_token TEXT,          -- the attempt's callback URL token (version 3)
        sent_at REAL,                 -- the intent's request left (version 4)
        attempts_json TEXT)           -- attempts ended before the current one (version 5)""",
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
    4: ("ALTER TABLE tasks ADD COLUMN attempts_json TEXT", "PRAGMA user_version = 5"),
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
# A row as the record's stored fields (journal._record): the columns predate those names.
COLUMNS = (
    "key, spec_json AS spec, spec_hash AS hash, line_no AS line, state, outcome, provider,"
    " attempt, intent_at, task_id, handle_json AS handle, last_status_json AS status,"
    " result_json AS result, updated_at, callback_token, sent_at, attempts_json AS attempts"
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
