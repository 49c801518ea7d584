"""The default durable journal: one SQLite file that a crashed batch resumes from.

Every task is one row of ``tasks`` whose ``state`` walks ``pending`` (read from the batch
file, never sent) → ``intent`` (a paid submit is about to leave) → ``submitted`` (the remote
id is known) → the neutral task states → ``final`` (the result is written). Every record
also appends to ``events``, the audit trail. A statement is never half-applied: each record
is one transaction, so a SIGKILL between any two statements leaves the previous state.

All SQLite work runs in worker threads (``anyio.to_thread``) on ONE connection that an
anyio lock hands to one thread at a time, so the event loop never waits on a disk flush.
Secrets never reach this module, and :class:`TaskStatus` ``raw`` answers are not stored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import anyio
import anyio.to_thread
import attrs

from seedance_async._errors import JournalError
from seedance_async._handle import TaskHandle, TaskResult
from seedance_async._journal import JournalEntry
from seedance_async._spec import VideoTask
from seedance_async._state import TaskState, TaskStatus, Usage

__all__ = ["SCHEMA_VERSION", "JournalRecord", "SqliteJournal"]

SCHEMA_VERSION = 1
# Stored in the file header so an unrelated SQLite database is never mistaken for a journal.
_APPLICATION_ID = 0x53445341  # "SDSA"

_SCHEMA = (
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
        updated_at REAL NOT NULL)""",
    "CREATE INDEX tasks_by_state ON tasks(state)",
    "CREATE INDEX tasks_by_line ON tasks(line_no, seq)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL,
        at REAL NOT NULL, detail TEXT)""",
    "CREATE INDEX events_by_key ON events(key, id)",
    f"PRAGMA application_id = {_APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

# Durability per record. In WAL mode FULL fsyncs the WAL at every commit; NORMAL only at
# checkpoints, so a power cut (not a process crash: SIGKILL loses nothing committed either
# way) may roll back the last NORMAL commits. The intent is what "never double-bill" rests
# on: if it were lost after the request left, resume would see a never-sent task and pay
# for it again, so it is flushed before record_intent returns, i.e. before the submit.
# A lost handle would turn a known remote task into one to reconcile, so it is FULL too, as
# is the result (once per task; a lost REJECTED/UNKNOWN result would come back as an intent
# to reconcile). Pending rows and statuses are cheap to redo: re-reading the batch file or
# polling again. The WAL is append-only, so a FULL commit also makes every earlier one durable.
_FULL = "PRAGMA synchronous = FULL"
_NORMAL = "PRAGMA synchronous = NORMAL"

# A new attempt (failover) replaces the last one's handle and status; the events keep them.
_INTENT_SQL = """INSERT INTO tasks(key, spec_json, spec_hash, state, provider, attempt, intent_at,
    updated_at) VALUES (?, ?, ?, 'intent', ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
    spec_json = excluded.spec_json, spec_hash = excluded.spec_hash, state = 'intent',
    outcome = NULL, provider = excluded.provider, attempt = excluded.attempt,
    intent_at = excluded.intent_at, task_id = NULL, handle_json = NULL, last_status_json = NULL,
    result_json = NULL, updated_at = excluded.updated_at"""
# A task may end before any intent (rejected by every provider, unreadable image).
_RESULT_SQL = """INSERT INTO tasks(key, spec_json, spec_hash, state, outcome, provider, task_id,
    handle_json, last_status_json, result_json, updated_at)
    VALUES (?, ?, ?, 'final', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
    state = 'final', outcome = excluded.outcome, provider = COALESCE(excluded.provider, provider),
    task_id = COALESCE(excluded.task_id, task_id),
    handle_json = COALESCE(excluded.handle_json, handle_json),
    last_status_json = COALESCE(excluded.last_status_json, last_status_json),
    result_json = excluded.result_json, updated_at = excluded.updated_at"""
_ORDER = " ORDER BY line_no IS NULL, line_no, seq"  # batch order; ad-hoc tasks last, oldest first
_FINAL = "final"
_T = TypeVar("_T")
_COLUMNS = (
    "key, spec_json, line_no, state, provider, attempt, intent_at, handle_json, "
    "last_status_json, result_json, updated_at"
)


class _WallClock(Protocol):
    def wall(self) -> float: ...


@attrs.frozen(kw_only=True)
class JournalRecord:
    """Everything the journal holds about one task (see :meth:`SqliteJournal.get`).

    Attributes:
        key: tracking key.
        task: the spec.
        state: ``pending``, ``intent``, ``submitted``, a :class:`TaskState` value or ``final``.
        line_no: line in the batch file, when the task came from one.
        provider / attempt / intent_at: the last attempt, once an intent was recorded.
        handle: the remote task, once the submit answer was recorded.
        last_status: the last state change seen.
        result: :meth:`TaskResult.to_dict` output, once final.
        updated_at: Unix time of the last record.
    """

    key: str
    task: VideoTask
    state: str
    line_no: int | None = None
    provider: str | None = None
    attempt: int = 0
    intent_at: float | None = None
    handle: TaskHandle | None = None
    last_status: TaskStatus | None = None
    result: dict[str, Any] | None = None
    updated_at: float = 0.0

    @property
    def is_finished(self) -> bool:
        """True once a result was recorded."""
        return self.state == _FINAL

    def entry(self) -> JournalEntry:
        """The resume view of this record."""
        return JournalEntry(
            key=self.key,
            task=self.task,
            provider=self.provider,
            attempt=self.attempt,
            handle=self.handle,
            intent_at=self.intent_at,
            last_status=self.last_status,
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _status_to_json(status: TaskStatus) -> str:
    data = attrs.asdict(
        status,
        filter=lambda a, _: a.name != "raw",  # the provider's whole answer: large, unvetted
        value_serializer=lambda _i, _f, v: v.isoformat() if isinstance(v, datetime) else v,
    )
    return _dumps(data)


def _status_from_json(text: str) -> TaskStatus:
    data = json.loads(text)  # written by _status_to_json: only TaskStatus fields
    for name in ("created_at", "updated_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    data["state"] = TaskState(data["state"])
    data["usage"] = Usage(**data["usage"]) if data.get("usage") else None
    return TaskStatus(**data)


def _record(row: sqlite3.Row) -> JournalRecord:
    return JournalRecord(
        key=row["key"],
        task=VideoTask.from_dict(json.loads(row["spec_json"])),
        state=row["state"],
        line_no=row["line_no"],
        provider=row["provider"],
        attempt=row["attempt"],
        intent_at=row["intent_at"],
        handle=TaskHandle.from_dict(json.loads(row["handle_json"])) if row["handle_json"] else None,
        last_status=_status_from_json(row["last_status_json"]) if row["last_status_json"] else None,
        result=json.loads(row["result_json"]) if row["result_json"] else None,
        updated_at=row["updated_at"],
    )


class SqliteJournal:
    """A crash-safe :class:`~seedance_async._journal.Journal` in one SQLite file.

    Use it as ``async with SqliteJournal(path) as journal:``; the file and its schema are
    created when missing.

    Args:
        path: the journal file.
        clock: source of ``wall()`` Unix time for ``updated_at`` and events (default
            ``time.time``).
    """

    def __init__(self, path: str | Path, *, clock: _WallClock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._lock: anyio.Lock | None = None
        self._sync = ""

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r}, open={self._conn is not None})"

    # -- lifecycle and plumbing ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open the file, creating it and the schema when missing.

        Raises:
            JournalError: the file cannot be opened, is not a journal, or was written by a
                newer version of this library.
        """
        if self._conn is not None:
            raise JournalError(f"journal {self.path} is already open")
        self._lock, self._sync = anyio.Lock(), ""
        self._conn = await anyio.to_thread.run_sync(self._connect)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection once any write in progress is done (idempotent)."""
        if self._lock is None:
            return
        with anyio.CancelScope(shield=True):  # a cancelled caller must not leak the connection
            async with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    await anyio.to_thread.run_sync(conn.close)

    def _connect(self) -> sqlite3.Connection:
        conn = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per record.
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            # IMMEDIATE: another process may be creating the schema at the same time. Reading
            # the header is also what fails on a file that is not SQLite.
            conn.execute("BEGIN IMMEDIATE")
            app_id, version, objects = conn.execute(
                "SELECT (SELECT * FROM pragma_application_id), (SELECT * FROM pragma_user_version),"
                " (SELECT count(*) FROM sqlite_master)"
            ).fetchone()
            if objects and app_id != _APPLICATION_ID:
                raise JournalError(f"{self.path} is an SQLite file but not a seedance journal")
            if objects and version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {version}; this seedance-async "
                    f"reads up to {SCHEMA_VERSION}: upgrade seedance-async"
                )
            if objects and version != SCHEMA_VERSION:
                raise JournalError(f"journal {self.path} has unknown schema version {version}")
            for statement in () if objects else _SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
            # WAL: readers never block the writer, and a commit is one append to the WAL.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {self.path}: WAL mode unavailable (got {mode})")
            return conn
        except BaseException as exc:
            if conn is not None:
                conn.close()  # also rolls back
            if isinstance(exc, sqlite3.Error):
                raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
            raise

    def _now(self) -> float:
        return self._clock.wall() if self._clock is not None else time.time()

    async def _run(
        self, fn: Callable[[sqlite3.Connection], _T], *, write: bool = False, full: bool = False
    ) -> _T:
        if self._lock is None:
            raise JournalError(f"journal {self.path} is not open: use `async with`")
        async with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is not open: use `async with`")
            # Not abandoned on cancel: a transaction that started is seen through.
            return await anyio.to_thread.run_sync(partial(self._call, self._conn, fn, write, full))

    def _call(
        self,
        conn: sqlite3.Connection,
        fn: Callable[[sqlite3.Connection], _T],
        write: bool,
        full: bool,
    ) -> _T:
        try:
            if not write:
                return fn(conn)
            level = _FULL if full else _NORMAL
            if self._sync != level:  # per connection; only the lock holder gets here
                conn.execute(level)
                self._sync = level
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            return out
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        except (TypeError, ValueError, KeyError) as exc:  # JSON, or a row that reads back wrong
            raise JournalError(f"journal {self.path}: bad data: {exc}") from exc

    def _event(self, conn: sqlite3.Connection, key: str, kind: str, **detail: Any) -> None:
        conn.execute(
            "INSERT INTO events(key, kind, at, detail) VALUES (?, ?, ?, ?)",
            (key, kind, self._now(), _dumps(detail)),
        )

    def _state_of(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT state FROM tasks WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- the Journal protocol --------------------------------------------------------------

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        """Durably record that a paid submit of ``key`` to ``provider`` is about to be sent.

        A new attempt replaces the previous attempt's handle and status (the events keep them).

        Raises:
            JournalError: the record could not be written.
        """

        def op(conn: sqlite3.Connection) -> None:
            previous = self._state_of(conn, key)
            spec = (key, _dumps(task.to_dict()), task.spec_hash())
            conn.execute(_INTENT_SQL, (*spec, provider, attempt, at, self._now()))
            self._event(conn, key, "intent", provider=provider, attempt=attempt, previous=previous)

        await self._run(op, write=True, full=True)

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        """Durably record the remote task created for ``key``.

        Raises:
            JournalError: no intent was recorded for ``key``, or the write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE tasks SET state = 'submitted', provider = ?, task_id = ?, handle_json = ?,"
                " updated_at = ? WHERE key = ? AND state NOT IN ('pending', 'final')",
                (handle.provider, handle.task_id, _dumps(handle.to_dict()), self._now(), key),
            )
            if cur.rowcount == 0:  # a remote id without its intent would break resume
                raise JournalError(f"journal {self.path}: no open intent for {key!r}")
            self._event(conn, key, "submitted", provider=handle.provider, task_id=handle.task_id)

        await self._run(op, write=True, full=True)

    async def record_not_created(self, key: str, provider: str, reason: str) -> None:
        """Record that the intended submit provably created nothing (refused, never sent).

        The row goes back to ``pending``: a resumed run may submit it again, because no paid
        task exists. Without this, resume would have to reconcile an intent that never
        produced a task and would end it ``unknown``.

        Raises:
            JournalError: the write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET state = 'pending', intent_at = NULL, task_id = NULL,"
                " handle_json = NULL, updated_at = ? WHERE key = ? AND state = 'intent'",
                (self._now(), key),
            )
            self._event(conn, key, "not_created", provider=provider, reason=reason[:300])

        await self._run(op, write=True, full=True)

    async def record_status(self, key: str, status: TaskStatus) -> None:
        """Record a state change (ignored once the task is final).

        Raises:
            JournalError: ``key`` is unknown, or the write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            previous = self._state_of(conn, key)
            if previous is None:
                raise JournalError(f"journal {self.path}: status for unknown key {key!r}")
            if previous != _FINAL:
                conn.execute(
                    "UPDATE tasks SET state = ?, last_status_json = ?,"
                    " task_id = COALESCE(task_id, ?), updated_at = ? WHERE key = ?",
                    (status.state.value, _status_to_json(status), status.task_id, self._now(), key),
                )
            detail = {"state": status.state.value, "ignored": previous == _FINAL}
            self._event(conn, key, "status", task_id=status.task_id, **detail)

        await self._run(op, write=True, full=False)

    async def record_result(self, key: str, result: TaskResult) -> None:
        """Durably record the final word on ``key`` (a row is created if none exists).

        Raises:
            JournalError: the record could not be written.
        """
        handle, attempts = result.handle, result.attempts
        provider = handle.provider if handle else (attempts[-1].provider if attempts else None)
        task_id = handle.task_id if handle else None

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                _RESULT_SQL,
                (
                    *(key, _dumps(result.task.to_dict()), result.task.spec_hash()),
                    *(result.outcome.value, provider, task_id),
                    _dumps(handle.to_dict()) if handle else None,
                    _status_to_json(result.status) if result.status else None,
                    _dumps(result.to_dict()),
                    self._now(),
                ),
            )
            self._event(conn, key, "result", outcome=result.outcome.value, task_id=task_id)

        await self._run(op, write=True, full=True)

    # -- batch helpers ---------------------------------------------------------------------

    async def add_pending(self, key: str, task: VideoTask, line_no: int | None = None) -> bool:
        """Add one never-sent task; the first spec recorded for a key wins.

        Returns:
            True when the key was new.

        Raises:
            JournalError: the write failed.
        """
        return await self.add_pending_many([(key, task, line_no)]) == 1

    async def add_pending_many(self, items: Iterable[tuple[str, VideoTask, int | None]]) -> int:
        """Add many never-sent tasks ``(key, task, line_no)`` in one transaction.

        Returns:
            How many keys were new (known keys are left as they are).

        Raises:
            JournalError: the write failed; nothing was added.
        """
        rows = list(items)

        def op(conn: sqlite3.Connection) -> int:
            now, added = self._now(), 0
            for key, task, line_no in rows:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO tasks(key, spec_json, spec_hash, line_no, state,"
                    " updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                    (key, _dumps(task.to_dict()), task.spec_hash(), line_no, now),
                )
                if cur.rowcount:
                    added += 1
                    self._event(conn, key, "pending", line_no=line_no)
            return added

        # NORMAL: pending rows lost to a power cut are simply re-read from the batch file.
        return await self._run(op, write=True, full=False)

    async def get(self, key: str) -> JournalRecord | None:
        """Everything known about ``key``, or None.

        Raises:
            JournalError: the journal cannot be read.
        """

        query = f"SELECT {_COLUMNS} FROM tasks WHERE key = ?"  # noqa: S608 (constant columns)
        return await self._run(lambda conn: next(map(_record, conn.execute(query, (key,))), None))

    async def _select(self, where: str) -> list[JournalRecord]:
        query = f"SELECT {_COLUMNS} FROM tasks WHERE {where}{_ORDER}"  # noqa: S608
        return await self._run(lambda conn: [_record(r) for r in conn.execute(query)])

    async def finished_keys(self) -> set[str]:
        """Keys that have a result.

        Raises:
            JournalError: the journal cannot be read.
        """
        query = "SELECT key FROM tasks WHERE state = 'final'"
        return await self._run(lambda conn: {r[0] for r in conn.execute(query)})

    async def unfinished(self) -> list[JournalEntry]:
        """Tasks with an intent but no result, in batch order.

        ``handle`` is None for an intent without a remote id: reconcile it, never resubmit.

        Raises:
            JournalError: the journal cannot be read.
        """
        return [r.entry() for r in await self._select("state NOT IN ('pending', 'final')")]

    async def pending(self) -> list[tuple[str, VideoTask]]:
        """Tasks never sent, in batch order.

        Raises:
            JournalError: the journal cannot be read.
        """
        return [(r.key, r.task) for r in await self._select("state = 'pending'")]

    async def results(self) -> list[dict[str, Any]]:
        """:meth:`TaskResult.to_dict` of every finished task, in batch order.

        Raises:
            JournalError: the journal cannot be read.
        """
        query = f"SELECT result_json FROM tasks WHERE state = 'final'{_ORDER}"  # noqa: S608
        return await self._run(lambda conn: [json.loads(r[0]) for r in conn.execute(query)])

    async def summary(self) -> dict[str, Any]:
        """Counts for ``status --journal``: ``total``, ``by_state``, ``by_outcome`` and
        ``by_provider`` (``{alias: {outcome or state: n}}``).

        Raises:
            JournalError: the journal cannot be read.
        """
        query = "SELECT state, outcome, provider, count(*) FROM tasks GROUP BY 1, 2, 3"
        rows = await self._run(lambda conn: conn.execute(query).fetchall())
        out: dict[str, Any] = {"total": 0, "by_state": {}, "by_outcome": {}, "by_provider": {}}
        for state, outcome, provider, n in rows:
            out["total"] += n
            out["by_state"][state] = out["by_state"].get(state, 0) + n
            if outcome is not None:
                out["by_outcome"][outcome] = out["by_outcome"].get(outcome, 0) + n
            if provider is not None:
                per = out["by_provider"].setdefault(provider, {})
                label = outcome if state == _FINAL else state
                per[label] = per.get(label, 0) + n
        return out

    async def events(self, key: str | None = None) -> list[dict[str, Any]]:
        """The audit trail (``id``, ``key``, ``kind``, ``at``, ``detail``), oldest first.

        Raises:
            JournalError: the journal cannot be read.
        """
        where, args = ("WHERE key = ?", (key,)) if key is not None else ("", ())
        query = f"SELECT id, key, kind, at, detail FROM events {where} ORDER BY id"  # noqa: S608

        def op(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return [
                {"id": i, "key": k, "kind": kind, "at": at, "detail": json.loads(d or "{}")}
                for i, k, kind, at, d in conn.execute(query, args)
            ]

        return await self._run(op)
