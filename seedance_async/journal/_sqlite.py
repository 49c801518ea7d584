"""The default durable journal: one SQLite file that a crashed batch resumes from.

Every task is one row of ``tasks`` whose ``state`` walks ``pending`` (read from the batch
file, never sent) → ``intent`` (a paid submit is about to leave; ``sent_at`` is stamped right
before its request does) → ``submitted`` (the remote id is known) → the neutral task states
→ ``final`` (the result is written). Every record
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
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import anyio
import anyio.to_thread

from seedance_async.core._clock import local_time
from seedance_async.core._errors import BatchMismatch, JournalError
from seedance_async.journal._protocol import JournalEntry
from seedance_async.journal._record import FINAL, JournalRecord, dump_fields, load_record
from seedance_async.journal._sqlite_schema import (
    APPLICATION_ID,
    COLUMNS,
    INTENT_SQL,
    MIGRATIONS,
    ORDER,
    RESULT_SQL,
    SCHEMA,
    SCHEMA_VERSION,
    SYNC_FULL,
    SYNC_NORMAL,
    BatchIdentity,
)
from seedance_async.spec._codec import dump_attempts, dumps
from seedance_async.spec._handle import Attempt, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["SCHEMA_VERSION", "BatchIdentity", "JournalRecord", "SqliteJournal"]

_T = TypeVar("_T")


def _record(row: sqlite3.Row) -> JournalRecord:
    # COLUMNS names every column as the record's stored field.
    return load_record(row["key"], dict(zip(row.keys(), tuple(row), strict=True)))


class _WallClock(Protocol):
    def wall(self) -> float: ...


class SqliteJournal:
    """A crash-safe :class:`~seedance_async.journal._protocol.Journal` in one SQLite file.

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
            if objects and app_id != APPLICATION_ID:
                raise JournalError(f"{self.path} is an SQLite file but not a seedance journal")
            if objects and version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {version}; this seedance-async "
                    f"reads up to {SCHEMA_VERSION}: upgrade seedance-async"
                )
            while objects and version in MIGRATIONS:  # an older journal: bring it up to date
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                version = conn.execute("SELECT * FROM pragma_user_version").fetchone()[0]
            if objects and version != SCHEMA_VERSION:
                raise JournalError(f"journal {self.path} has unknown schema version {version}")
            for statement in () if objects else SCHEMA:
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
            level = SYNC_FULL if full else SYNC_NORMAL
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
            (key, kind, self._now(), dumps(detail)),
        )

    def _state_of(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT state FROM tasks WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- the Journal protocol --------------------------------------------------------------

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        """Record that a paid submit of ``key`` to ``provider`` is about to be sent.

        A new attempt replaces the previous attempt's handle and status (the events keep
        them). Nothing has left until :meth:`record_sent`, whose durable commit makes this
        one durable too.

        Raises:
            JournalError: the record could not be written.
        """

        def op(conn: sqlite3.Connection) -> None:
            previous = self._state_of(conn, key)
            spec = dump_fields(task=task)
            row = (key, spec["spec"], spec["hash"], provider, attempt, at, self._now())
            conn.execute(INTENT_SQL, row)
            self._event(conn, key, "intent", provider=provider, attempt=attempt, previous=previous)

        await self._run(op, write=True, full=False)

    async def record_sent(self, key: str, at: float) -> None:
        """Durably stamp that the request of ``key``'s open intent leaves now.

        Until this returns the request is not sent, so an intent found without the stamp
        after a crash provably never left and is submitted again on resume.

        Raises:
            JournalError: ``key`` has no open intent (the request must not leave), or the
                write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE tasks SET sent_at = ?, updated_at = ? WHERE key = ? AND state = 'intent'",
                (at, self._now(), key),
            )
            if cur.rowcount == 0:  # a send without its intent could never be reconciled
                raise JournalError(f"journal {self.path}: no open intent for {key!r}")
            self._event(conn, key, "sent")

        await self._run(op, write=True, full=True)

    async def record_unsent(self, key: str, reason: str) -> None:
        """Remove the send stamp of ``key``'s open intent: its request provably created
        nothing, and the submit waits before its next try (which stamps again).

        Not flushed at once: a stamp that survives a power cut only costs a reconciliation.

        Raises:
            JournalError: the write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET sent_at = NULL, updated_at = ? WHERE key = ? AND state = 'intent'",
                (self._now(), key),
            )
            self._event(conn, key, "unsent", reason=reason[:300])

        await self._run(op, write=True, full=False)

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        """Durably record the remote task created for ``key``.

        Raises:
            JournalError: no intent was recorded for ``key``, or the write failed.
        """
        handle_json = dump_fields(handle=handle)["handle"]

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE tasks SET state = 'submitted', provider = ?, task_id = ?, handle_json = ?,"
                " updated_at = ? WHERE key = ? AND state NOT IN ('pending', 'final')",
                (handle.provider, handle.task_id, handle_json, self._now(), key),
            )
            if cur.rowcount == 0:  # a remote id without its intent would break resume
                raise JournalError(f"journal {self.path}: no open intent for {key!r}")
            self._event(conn, key, "submitted", provider=handle.provider, task_id=handle.task_id)

        await self._run(op, write=True, full=True)

    async def record_callback_token(self, key: str, token: str) -> None:
        """Record the token of the callback URL the current attempt of ``key`` is sent with.

        Written after the intent (which clears the previous attempt's token) and made
        durable by the next full commit: a power cut in between costs the callbacks of one
        task (its polls remain), never a double bill. No event is written: the token is a
        secret, and events are for display.

        Raises:
            JournalError: the write failed.
        """

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE tasks SET callback_token = ? WHERE key = ? AND state NOT IN "
                "('pending', 'final')",
                (token, key),
            )

        await self._run(op, write=True, full=False)

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
                "UPDATE tasks SET state = 'pending', intent_at = NULL, sent_at = NULL,"
                " task_id = NULL, handle_json = NULL, updated_at = ? WHERE key = ?"
                " AND state = 'intent'",
                (self._now(), key),
            )
            self._event(conn, key, "not_created", provider=provider, reason=reason[:300])

        await self._run(op, write=True, full=True)

    async def record_attempts(
        self, key: str, attempts: Sequence[Attempt], *, failover: bool = False
    ) -> None:
        """Keep ``key``'s attempts so far; ``failover``: its remote task failed and it waits
        to be submitted to another provider (state ``failover``, no remote task to follow).

        Not flushed at once: a power cut may lose it, and resume then polls the failed task
        again (whose handle is then still recorded) and decides the same failover.

        Raises:
            JournalError: the write failed.
        """
        data = dumps(dump_attempts(attempts))

        def op(conn: sqlite3.Connection) -> None:
            if failover:
                cur = conn.execute(
                    "UPDATE tasks SET attempts_json = ?, state = 'failover', intent_at = NULL,"
                    " sent_at = NULL, task_id = NULL, handle_json = NULL, updated_at = ?"
                    " WHERE key = ? AND state != 'final'",
                    (data, self._now(), key),
                )
                if cur.rowcount == 0:  # finished already: nothing waits for a failover
                    return
                last = attempts[-1] if attempts else None
                detail = {"provider": last.provider, "task_id": last.task_id} if last else {}
                self._event(conn, key, "failover", attempts=len(attempts), **detail)
            else:
                conn.execute(
                    "UPDATE tasks SET attempts_json = ?, updated_at = ? WHERE key = ?"
                    " AND state != 'final'",
                    (data, self._now(), key),
                )

        await self._run(op, write=True, full=False)

    async def record_status(self, key: str, status: TaskStatus) -> None:
        """Record a state change (ignored once the task is final).

        Raises:
            JournalError: ``key`` is unknown, or the write failed.
        """
        status_json = dump_fields(status=status)["status"]

        def op(conn: sqlite3.Connection) -> None:
            previous = self._state_of(conn, key)
            if previous is None:
                raise JournalError(f"journal {self.path}: status for unknown key {key!r}")
            if previous != FINAL:
                conn.execute(
                    "UPDATE tasks SET state = ?, last_status_json = ?,"
                    " task_id = COALESCE(task_id, ?), updated_at = ? WHERE key = ?",
                    (status.state.value, status_json, status.task_id, self._now(), key),
                )
            detail = {"state": status.state.value, "ignored": previous == FINAL}
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
        f = dump_fields(task=result.task, handle=handle, status=result.status, result=result)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                RESULT_SQL,
                (
                    *(key, f["spec"], f["hash"], result.outcome.value, provider, task_id),
                    *(f.get("handle"), f.get("status"), f["result"], self._now()),
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
                spec = dump_fields(task=task)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO tasks(key, spec_json, spec_hash, line_no, state,"
                    " updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                    (key, spec["spec"], spec["hash"], line_no, now),
                )
                if cur.rowcount:
                    added += 1
                    self._event(conn, key, "pending", line_no=line_no)
            return added

        # NORMAL: pending rows lost to a power cut are simply re-read from the batch file.
        return await self._run(op, write=True, full=False)

    async def batches(self) -> list[BatchIdentity]:
        """The batch files this journal was run with, oldest first.

        Raises:
            JournalError: the journal cannot be read.
        """
        query = "SELECT digest, source, lines, added_at FROM batches ORDER BY id"
        return await self._run(
            lambda conn: [
                BatchIdentity(digest=d, source=s, lines=n, added_at=at)
                for d, s, n, at in conn.execute(query)
            ]
        )

    async def claim_batch(
        self, batch: BatchIdentity, keys: Iterable[str] = (), *, append: bool = False
    ) -> bool:
        """Record that ``batch`` runs with this journal, unless the journal is another batch's.

        A journal belongs to the batches recorded in it. One written before batches were
        recorded belongs to whatever its tasks came from: ``keys`` (the batch's task keys)
        must then cover every task it got from a batch file.

        Args:
            batch: the batch file about to be run.
            keys: its task keys (the spec hashes).
            append: add the batch to a journal of other batches instead of refusing.

        Returns:
            True when the batch was new to the journal, False when it was already recorded.

        Raises:
            BatchMismatch: the journal holds another batch and ``append`` is false.
            JournalError: the journal cannot be read or written.
        """
        wanted = set(keys)

        def op(conn: sqlite3.Connection) -> bool:
            recorded = [
                BatchIdentity(digest=d, source=s, lines=n, added_at=at)
                for d, s, n, at in conn.execute(
                    "SELECT digest, source, lines, added_at FROM batches ORDER BY id"
                )
            ]
            if any(r.digest == batch.digest for r in recorded):
                return False
            others = [f"{r.describe()}, first run {local_time(r.added_at)}" for r in recorded]
            if not recorded:  # no record: judge by the tasks it holds
                rows = conn.execute("SELECT key FROM tasks WHERE line_no IS NOT NULL")
                foreign = sum(1 for (key,) in rows if key not in wanted)
                if foreign:
                    others = [f"{foreign} task{'s' * (foreign != 1)} of an earlier batch file"]
            if others and not append:
                raise BatchMismatch(
                    f"journal {self.path} belongs to another batch: {'; '.join(others)};"
                    f" not to {batch.describe()}",
                    journal=str(self.path),
                    recorded=others,
                    given=batch.describe(),
                )
            conn.execute(
                "INSERT INTO batches(digest, source, lines, added_at) VALUES (?, ?, ?, ?)",
                (batch.digest, batch.source, batch.lines, self._now()),
            )
            self._event(conn, "", "batch", source=batch.source, digest=batch.digest, append=append)
            return True

        return await self._run(op, write=True, full=True)

    async def get(self, key: str) -> JournalRecord | None:
        """Everything known about ``key``, or None.

        Raises:
            JournalError: the journal cannot be read.
        """

        query = f"SELECT {COLUMNS} FROM tasks WHERE key = ?"  # noqa: S608 (constant columns)
        return await self._run(
            lambda conn: next((_record(r) for r in conn.execute(query, (key,))), None)
        )

    async def _select(self, where: str) -> list[JournalRecord]:
        query = f"SELECT {COLUMNS} FROM tasks WHERE {where}{ORDER}"  # noqa: S608
        return await self._run(lambda conn: [_record(r) for r in conn.execute(query)])

    async def finished_keys(self) -> set[str]:
        """Keys that have a result.

        Raises:
            JournalError: the journal cannot be read.
        """
        query = "SELECT key FROM tasks WHERE state = 'final'"
        return await self._run(lambda conn: {r[0] for r in conn.execute(query)})

    async def finished(self) -> list[JournalRecord]:
        """Tasks with a result, in batch order (``seedance-async finalize`` reads drafts here).

        Raises:
            JournalError: the journal cannot be read.
        """
        return await self._select("state = 'final'")

    async def unfinished(self) -> list[JournalEntry]:
        """Tasks with an intent but no result, in batch order.

        ``handle`` is None for an intent without a remote id: reconcile it, never resubmit,
        unless ``never_sent`` proves its request never left.

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
        query = f"SELECT result_json FROM tasks WHERE state = 'final'{ORDER}"  # noqa: S608
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
                label = outcome if state == FINAL else state
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
