"""SqliteJournal: the durable record a crashed batch resumes from."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from seedance_async.core._errors import BatchMismatch, JournalError
from seedance_async.core._secrets import ApiKey
from seedance_async.journal import BatchIdentity
from seedance_async.journal._sqlite import SCHEMA_VERSION, SqliteJournal
from seedance_async.spec import dump_result, task_hash
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.testing import FakeClock

PRO = "doubao-seedance-1-0-pro-250528"
REPO = Path(__file__).resolve().parents[2]


def task(i: int = 0) -> VideoTask:
    """A small valid spec, distinct per ``i``."""
    return VideoTask(model=PRO, prompt=f"a cat number {i}", duration=5, metadata={"row": i})


def handle(key: str, t: VideoTask, provider: str = "ark-main") -> TaskHandle:
    """The handle a submit to ``provider`` would have produced for ``key``."""
    return TaskHandle(
        provider=provider,
        adapter="ark",
        model=t.model,
        task_id=f"cgt-{key}",
        created_at=1_700_000_000.0,
        spec_hash=task_hash(t),
    )


def status(key: str, state: TaskState, **kwargs: Any) -> TaskStatus:
    """A status of the remote task created for ``key``."""
    return TaskStatus(provider="ark", task_id=f"cgt-{key}", state=state, **kwargs)


def result(key: str, t: VideoTask, outcome: Outcome = Outcome.SUCCEEDED) -> TaskResult:
    """A finished result for ``key``."""
    h = handle(key, t)
    return TaskResult(
        key=key,
        task=t,
        outcome=outcome,
        status=status(key, TaskState.SUCCEEDED, video_url=f"https://cdn.example/{key}.mp4"),
        handle=h,
        attempts=(Attempt(provider=h.provider, task_id=h.task_id, outcome=outcome.value),),
        submitted_at=1_700_000_000.0,
        finished_at=1_700_000_060.0,
    )


async def run_lifecycle(j: SqliteJournal, key: str, t: VideoTask) -> None:
    """Record one task from intent to result, as the tracker does."""
    await j.record_intent(key, t, "ark-main", 0, 1_700_000_000.0)
    await j.record_submitted(key, handle(key, t))
    await j.record_status(key, status(key, TaskState.RUNNING))
    await j.record_result(key, result(key, t))


async def test_full_lifecycle_is_recorded_and_replayed(tmp_path: Path) -> None:
    """Each record moves the row on and appends to the audit trail."""
    clock = FakeClock()
    t = task(1)
    async with SqliteJournal(tmp_path / "j.db", clock=clock) as j:
        assert await j.add_pending("k", t, 1)
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.task, record.line_no) == ("pending", t, 1)

        await j.record_intent("k", t, "ark-main", 0, 1_700_000_001.0)
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.provider, record.intent_at) == (
            "intent",
            "ark-main",
            1_700_000_001.0,
        )
        assert record.handle is None

        await j.record_submitted("k", handle("k", t))
        await j.record_status("k", status("k", TaskState.QUEUED))
        stamp = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        running = status("k", TaskState.RUNNING, progress=0.5, created_at=stamp)
        await j.record_status("k", running)
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.handle, record.last_status) == (
            "running",
            handle("k", t),
            running,
        )
        assert record.updated_at == clock.wall()

        await j.record_result("k", result("k", t))
        record = await j.get("k")
        assert record is not None
        assert record.is_finished
        assert record.result is not None
        assert dump_result(record.result) == dump_result(result("k", t))
        await j.record_status("k", status("k", TaskState.RUNNING))  # late: ignored
        assert await j.get("k") == record
        kinds = [e["kind"] for e in await j.events("k")]
        assert kinds == ["pending", "intent", "submitted", "status", "status", "result", "status"]
        assert await j.finished_keys() == {"k"}
        assert await j.unfinished() == []


async def test_add_pending_is_idempotent(tmp_path: Path) -> None:
    """The same key twice is one row, and the first spec wins."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        assert await j.add_pending("a", task(1), 1) is True
        assert await j.add_pending("a", task(2), 5) is False
        assert await j.add_pending_many([("a", task(3), 9), ("b", task(4), 2)]) == 1
        assert await j.pending() == [("a", task(1)), ("b", task(4))]


async def test_unfinished_tells_intent_from_submitted(tmp_path: Path) -> None:
    """An intent without a remote id has no handle; a submitted task has one."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending_many([(f"k{i}", task(i), i) for i in range(4)])
        await j.record_intent("k0", task(0), "ark-main", 0, 10.0)
        await j.record_intent("k1", task(1), "ark-main", 0, 11.0)
        await j.record_submitted("k1", handle("k1", task(1)))
        await run_lifecycle(j, "k3", task(3))

        entries = await j.unfinished()
        assert [(e.key, e.handle) for e in entries] == [("k0", None), ("k1", handle("k1", task(1)))]
        assert entries[0].intent_at == 10.0
        assert entries[0].task == task(0)
        assert await j.pending() == [("k2", task(2))]


async def test_new_attempt_replaces_the_previous_handle(tmp_path: Path) -> None:
    """A failover intent clears the failed attempt's handle; the events keep it."""
    t = task(1)
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.record_intent("k", t, "ark-main", 0, 1.0)
        await j.record_submitted("k", handle("k", t))
        await j.record_status("k", status("k", TaskState.FAILED))
        await j.record_intent("k", t, "aiml", 1, 2.0)

        [entry] = await j.unfinished()
        assert (entry.provider, entry.attempt, entry.handle, entry.last_status) == (
            "aiml",
            1,
            None,
            None,
        )
        events = await j.events("k")
        assert events[1]["detail"] == {"provider": "ark-main", "task_id": "cgt-k"}
        assert events[-1]["detail"]["previous"] == "failed"


async def test_results_follow_line_order(tmp_path: Path) -> None:
    """Results come in batch-file order; tasks without a line come last, oldest first."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending_many([("c", task(3), 3), ("a", task(1), 1), ("b", task(2), 2)])
        for key, i in [("x", 9), ("b", 2), ("c", 3), ("y", 8), ("a", 1)]:
            await run_lifecycle(j, key, task(i))

        assert [r["key"] for r in await j.results()] == ["a", "b", "c", "x", "y"]


async def test_result_without_intent_creates_the_row(tmp_path: Path) -> None:
    """A task rejected before any submit is journaled as final all the same."""
    t = task(1)
    rejected = TaskResult(key="k", task=t, outcome=Outcome.REJECTED, reason="cannot read image")
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.record_result("k", rejected)
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.task, record.handle) == ("final", t, None)
        assert await j.results() == [dump_result(rejected)]


async def test_summary_counts_states_outcomes_and_providers(tmp_path: Path) -> None:
    """Counts per state, per outcome and per provider, for ``status --journal``."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending_many([(f"k{i}", task(i), i) for i in range(6)])
        await run_lifecycle(j, "k0", task(0))
        await run_lifecycle(j, "k1", task(1))
        await j.record_intent("k2", task(2), "aiml", 0, 1.0)
        await j.record_intent("k3", task(3), "ark-main", 0, 1.0)
        await j.record_submitted("k3", handle("k3", task(3)))
        await j.record_status("k3", status("k3", TaskState.RUNNING))
        await j.record_result(
            "k4", TaskResult(key="k4", task=task(4), outcome=Outcome.FAILED, reason="x")
        )

        assert await j.summary() == {
            "total": 6,
            "by_state": {"pending": 1, "intent": 1, "running": 1, "final": 3},
            "by_outcome": {"succeeded": 2, "failed": 1},
            "by_provider": {"ark-main": {"succeeded": 2, "running": 1}, "aiml": {"intent": 1}},
        }


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    """Closing and reopening the file gives back every record, statuses included."""
    path = tmp_path / "j.db"
    full = status(
        "k1",
        TaskState.RUNNING,
        provider_status="running",
        usage=Usage(completion_tokens=10, total_tokens=12),
        updated_at=datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC),
        error_code=None,
    )
    async with SqliteJournal(path) as j:
        await j.add_pending_many([(f"k{i}", task(i), i) for i in range(3)])
        await run_lifecycle(j, "k0", task(0))
        await j.record_intent("k1", task(1), "ark-main", 0, 5.0)
        await j.record_submitted("k1", handle("k1", task(1)))
        await j.record_status("k1", full)
        before = [await j.get(f"k{i}") for i in range(3)]
        events = await j.events()

    async with SqliteJournal(path) as j:
        assert [await j.get(f"k{i}") for i in range(3)] == before
        assert await j.events() == events
        [entry] = await j.unfinished()
        assert entry.last_status == full
        assert await j.pending() == [("k2", task(2))]


async def test_many_concurrent_tasks_all_land(tmp_path: Path) -> None:
    """Records from many tasks at once are serialised, none lost."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(run_lifecycle, j, f"k{i}", task(i))

        assert await j.finished_keys() == {f"k{i}" for i in range(100)}
        assert len(await j.events()) == 400


async def test_ten_thousand_pending_rows_in_one_call(tmp_path: Path) -> None:
    """A 10,000-line batch is added in one transaction and read back in order."""
    t = task(0)
    rows = [(f"k{i:05d}", t, i) for i in range(10_000)]
    async with SqliteJournal(tmp_path / "j.db") as j:
        assert await j.add_pending_many(rows) == 10_000
        assert await j.add_pending_many(rows) == 0
        pending = await j.pending()
        assert [k for k, _ in pending] == [k for k, _, _ in rows]
        assert (await j.summary())["by_state"] == {"pending": 10_000}


def files_containing(folder: Path, needle: bytes) -> set[str]:
    """Names of the files in ``folder`` whose bytes contain ``needle``."""
    return {f.name for f in folder.iterdir() if needle in f.read_bytes()}


async def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    """A journal written in a run whose key is a canary does not contain it anywhere."""
    canary = "sk-CANARY-5b1e0c7d9a"
    key = ApiKey(canary)
    t = task(1)
    # A misbehaving provider echoing the request headers into its answer: raw is not kept.
    echoed = {"headers": {"Authorization": f"Bearer {key.reveal()}"}}
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending("k", t, 1)
        await j.record_intent("k", t, "ark-main", 0, 1.0)
        await j.record_submitted("k", handle("k", t))
        await j.record_status("k", status("k", TaskState.RUNNING, raw=echoed))
        final = status("k", TaskState.SUCCEEDED, video_url="https://cdn.example/v.mp4", raw=echoed)
        await j.record_status("k", final)
        await j.record_result(
            "k",
            TaskResult(
                key="k", task=t, outcome=Outcome.SUCCEEDED, status=final, handle=handle("k", t)
            ),
        )
        assert files_containing(tmp_path, b"cgt-k") >= {"j.db-wal"}  # the check can see the WAL
        assert files_containing(tmp_path, canary.encode()) == set()
    assert files_containing(tmp_path, canary.encode()) == set()


CHILD = textwrap.dedent(
    """
    import sys

    import anyio

    from seedance_async.spec._handle import Outcome, TaskHandle, TaskResult
    from seedance_async.spec._task import VideoTask
    from seedance_async.spec import task_hash
    from seedance_async.journal._sqlite import SqliteJournal
    from seedance_async.spec._status import TaskState, TaskStatus

    async def main(path: str) -> None:
        async with SqliteJournal(path) as j:
            i = 0
            while True:
                key, t = f"k{i}", VideoTask(model=sys.argv[2], prompt=f"p{i}")
                h = TaskHandle(provider="ark-main", adapter="ark", model=t.model,
                               task_id=f"cgt-{i}", created_at=1.0, spec_hash=task_hash(t))
                if i % 10 == 0:
                    await j.add_pending_many([(f"p{i}-{n}", t, n) for n in range(200)])
                await j.record_intent(key, t, "ark-main", 0, 1.0)
                await j.record_submitted(key, h)
                await j.record_status(key, TaskStatus(provider="ark", task_id=h.task_id,
                                                      state=TaskState.RUNNING))
                if i % 2:
                    await j.record_result(key, TaskResult(key=key, task=t, handle=h,
                                                          outcome=Outcome.SUCCEEDED))
                if i == 20:
                    print("MARKER", flush=True)
                i += 1

    anyio.run(main, sys.argv[1])
    """
)


async def test_sigkill_mid_write_leaves_a_consistent_journal(tmp_path: Path) -> None:
    """A writer killed at a random statement leaves a readable, consistent file."""
    path = tmp_path / "j.db"
    command = [sys.executable, "-c", CHILD, str(path), PRO]
    async with await anyio.open_process(command, cwd=REPO, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        seen = b""
        with anyio.fail_after(60):
            while b"MARKER" not in seen:
                seen += await proc.stdout.receive()
        proc.send_signal(signal.SIGKILL)  # still writing: it loops until killed
        assert await proc.wait() == -signal.SIGKILL

    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        orphans = "SELECT count(*) FROM tasks WHERE task_id IS NOT NULL AND intent_at IS NULL"
        assert conn.execute(orphans).fetchone() == (0,)
        # Pending batches are all-or-nothing.
        sizes = "SELECT count(*) FROM tasks WHERE state = 'pending' GROUP BY spec_hash"
        assert {n for (n,) in conn.execute(sizes)} <= {200}

    async with SqliteJournal(path) as j:
        finished = await j.finished_keys()
        unfinished = {e.key: e for e in await j.unfinished()}
        for i in range(21):  # everything recorded before the marker survived
            assert f"k{i}" in (finished if i % 2 else unfinished)
        assert all(e.intent_at is not None for e in unfinished.values())
        assert all(r["task_id"] for r in await j.results())


async def test_unreadable_file_is_a_journal_error(tmp_path: Path) -> None:
    """A file that is not SQLite, or a directory, cannot be opened as a journal."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalError, match="not a database"):
        async with SqliteJournal(junk):
            pass
    with pytest.raises(JournalError, match="cannot open"):
        async with SqliteJournal(tmp_path):
            pass


async def test_foreign_database_is_not_a_journal(tmp_path: Path) -> None:
    """An SQLite file of another application is refused, not written into."""
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    with pytest.raises(JournalError, match="not a seedance journal"):
        async with SqliteJournal(path):
            pass


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A journal written by a newer version asks for an upgrade instead of guessing."""
    path = tmp_path / "j.db"
    async with SqliteJournal(path):
        pass
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match="upgrade"):
        async with SqliteJournal(path):
            pass


async def test_misuse_is_a_journal_error(tmp_path: Path) -> None:
    """Using a closed journal, or a handle without an intent, raises JournalError."""
    j = SqliteJournal(tmp_path / "j.db")
    with pytest.raises(JournalError, match="not open"):
        await j.pending()
    async with j:
        with pytest.raises(JournalError, match="no open intent"):
            await j.record_submitted("k", handle("k", task()))
        await j.add_pending("k", task())
        with pytest.raises(JournalError, match="no open intent"):
            await j.record_submitted("k", handle("k", task()))
        with pytest.raises(JournalError, match="unknown key"):
            await j.record_status("x", status("x", TaskState.RUNNING))
        assert (await j.events("k"))[-1]["kind"] == "pending"  # the failed records left nothing
    await j.aclose()  # idempotent


# -- batch identity ------------------------------------------------------------------------


def _batch(name: str, lines: int = 2) -> BatchIdentity:
    return BatchIdentity(digest=name * 8, source=f"{name}.jsonl", lines=lines)


async def test_a_journal_belongs_to_its_batch(tmp_path: Path) -> None:
    """The first batch is recorded; the same one again is fine; another is refused."""
    async with SqliteJournal(tmp_path / "j.db", clock=FakeClock(wall_start=1_700_000_000.0)) as j:
        assert await j.claim_batch(_batch("a"), ["k0", "k1"]) is True
        await j.add_pending_many([("k0", task(0), 1), ("k1", task(1), 2)])
        assert await j.claim_batch(_batch("a"), ["k0", "k1"]) is False  # a resume
        with pytest.raises(BatchMismatch) as refused:
            await j.claim_batch(_batch("b"), ["k2"])
        text = str(refused.value)
        assert "belongs to another batch" in text
        assert "a.jsonl (2 tasks, sha256 aaaaaaaa" in text
        assert "first run 2023-11-1" in text  # ISO 8601 local time, not Unix seconds
        assert "b.jsonl" in text
        assert isinstance(refused.value, JournalError)
        assert [b.source for b in await j.batches()] == ["a.jsonl"]  # nothing recorded
        assert await j.claim_batch(_batch("b"), ["k2"], append=True) is True
        assert [b.source for b in await j.batches()] == ["a.jsonl", "b.jsonl"]
        assert await j.claim_batch(_batch("b"), ["k2"]) is False  # appended: now its own


async def test_a_version_1_journal_is_migrated_and_judged_by_its_tasks(tmp_path: Path) -> None:
    """A journal from before batch identities opens, keeps its rows, and gains the table;
    a batch that does not cover its tasks is refused, one that does is recorded."""
    path = tmp_path / "old.db"
    async with SqliteJournal(path) as j:
        await j.add_pending_many([("k0", task(0), 1), ("k1", task(1), 2)])
        await run_lifecycle(j, "k0", task(0))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE batches")  # as version 1 wrote it
        conn.execute("ALTER TABLE tasks DROP COLUMN callback_token")
        conn.execute("ALTER TABLE tasks DROP COLUMN sent_at")
        conn.execute("ALTER TABLE tasks DROP COLUMN attempts_json")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    async with SqliteJournal(path) as j:
        assert [r["key"] for r in await j.results()] == ["k0"]
        assert [key for key, _ in await j.pending()] == ["k1"]
        assert await j.batches() == []
        with pytest.raises(BatchMismatch, match="1 task of an earlier batch file"):
            await j.claim_batch(_batch("b"), ["k0"])
        assert await j.claim_batch(_batch("a"), ["k0", "k1"]) is True
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


async def test_the_callback_token_is_kept_per_attempt_and_never_shown(tmp_path: Path) -> None:
    """Recorded after the intent, read back for resume, cleared by the next attempt's
    intent; not in reprs, not in the events."""
    secret = "tok_" + "x" * 40
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.record_callback_token("nobody", secret)  # no intent: nothing to attach it to
        await j.record_intent("k", task(0), "ark", 0, 1.0)
        await j.record_callback_token("k", secret)
        (entry,) = await j.unfinished()
        assert entry.callback_token == secret
        record = await j.get("k")
        assert record is not None
        assert record.callback_token == secret
        assert secret not in repr(entry) + repr(record)
        assert secret not in repr(await j.events())
        await j.record_intent("k", task(0), "ark-backup", 1, 2.0)
        (entry,) = await j.unfinished()
        assert entry.callback_token is None
        assert await j.get("nobody") is None


async def test_a_version_2_journal_gains_the_callback_token_column(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    async with SqliteJournal(path) as j:
        await j.record_intent("k", task(0), "ark", 0, 1.0)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE tasks DROP COLUMN callback_token")  # as version 2 wrote it
        conn.execute("ALTER TABLE tasks DROP COLUMN sent_at")
        conn.execute("ALTER TABLE tasks DROP COLUMN attempts_json")
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    async with SqliteJournal(path) as j:
        (entry,) = await j.unfinished()
        assert entry.callback_token is None
        await j.record_callback_token("k", "t" * 43)
        (entry,) = await j.unfinished()
        assert entry.callback_token == "t" * 43


async def test_the_send_stamp_tells_a_never_sent_intent_from_a_sent_one(tmp_path: Path) -> None:
    """Intent alone: never sent (resubmit). Stamped: may exist (reconcile). A 429 wait
    removes the stamp, the next try stamps again; a new attempt or a refusal clears it."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.record_intent("k", task(0), "ark", 0, 1.0)
        (entry,) = await j.unfinished()
        assert (entry.sent_at, entry.never_sent) == (None, True)

        await j.record_sent("k", 2.0)
        (entry,) = await j.unfinished()
        assert (entry.sent_at, entry.never_sent) == (2.0, False)

        await j.record_unsent("k", "429; retry in 1.00s")
        (entry,) = await j.unfinished()
        assert entry.never_sent

        await j.record_sent("k", 3.0)
        await j.record_submitted("k", handle("k", task(0)))
        (entry,) = await j.unfinished()
        assert (entry.sent_at, entry.never_sent) == (3.0, False)  # it has a handle

        await j.record_intent("k", task(0), "ark-backup", 1, 4.0)  # a failover
        (entry,) = await j.unfinished()
        assert (entry.provider, entry.sent_at, entry.never_sent) == ("ark-backup", None, True)
        await j.record_sent("k", 5.0)
        await j.record_not_created("k", "ark-backup", "refused")
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.sent_at, record.never_sent) == ("pending", None, False)
        kinds = [e["kind"] for e in await j.events("k")]
        assert kinds == [
            *("intent", "sent", "unsent", "sent", "submitted"),
            *("intent", "sent", "not_created"),
        ]


async def test_a_send_stamp_needs_an_open_intent(tmp_path: Path) -> None:
    """Stamping a key without an open intent refuses: the request must not leave."""
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending("k", task(0), 1)
        with pytest.raises(JournalError, match="no open intent"):
            await j.record_sent("k", 1.0)
        with pytest.raises(JournalError, match="no open intent"):
            await j.record_sent("nobody", 1.0)


async def test_a_version_3_journal_counts_its_open_intents_as_sent(tmp_path: Path) -> None:
    """Before stamps, an open intent may have left: the migration stamps it, so resume
    reconciles it instead of paying for it again; pending rows stay unstamped."""
    path = tmp_path / "v3.db"
    async with SqliteJournal(path) as j:
        await j.add_pending_many([("open", task(0), 1), ("never", task(1), 2)])
        await j.record_intent("open", task(0), "ark", 0, 7.0)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE tasks DROP COLUMN sent_at")  # as version 3 wrote it
        conn.execute("ALTER TABLE tasks DROP COLUMN attempts_json")
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
    async with SqliteJournal(path) as j:
        (entry,) = await j.unfinished()
        assert (entry.key, entry.sent_at, entry.never_sent) == ("open", 7.0, False)
        assert [k for k, _ in await j.pending()] == ["never"]


async def test_attempts_and_a_pending_failover_are_kept_for_resume(tmp_path: Path) -> None:
    """A refusal keeps its attempt on the pending row; a failover empties the remote task
    (nothing to poll) and says so; the next intent keeps the attempts, the result ends it."""
    t = task(0)
    refused = Attempt(provider="a", task_id=None, outcome="rejected", reason="unknown model")
    failed = Attempt(provider="b", task_id="cgt-k", outcome="failed", reason="internal")
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.add_pending("k", t, 1)
        await j.record_intent("k", t, "a", 0, 1.0)
        await j.record_not_created("k", "a", "unknown model")
        await j.record_attempts("k", [refused])
        record = await j.get("k")
        assert record is not None
        assert (record.state, record.attempts) == ("pending", (refused,))
        assert record.entry().attempts == (refused,)

        await j.record_intent("k", t, "b", 1, 2.0)
        await j.record_sent("k", 2.0)
        await j.record_submitted("k", handle("k", t, provider="b"))
        await j.record_status("k", status("k", TaskState.FAILED))
        await j.record_attempts("k", [refused, failed], failover=True)
        (entry,) = await j.unfinished()
        assert (entry.failover, entry.handle, entry.never_sent) == (True, None, False)
        assert entry.attempts == (refused, failed)
        assert entry.last_status is not None  # the failure that caused it
        assert (await j.summary())["by_state"] == {"failover": 1}

        await j.record_intent("k", t, "c", 2, 3.0)
        (entry,) = await j.unfinished()
        assert (entry.failover, entry.attempt, entry.attempts) == (False, 2, (refused, failed))
        await j.record_result("k", result("k", t))
        await j.record_attempts("k", [], failover=True)  # late: ignored
        record = await j.get("k")
        assert record is not None
        assert record.is_finished
        assert record.attempts == (refused, failed)
        kinds = [e["kind"] for e in await j.events("k")]
        assert "failover" in kinds


async def test_a_version_4_journal_gains_the_attempts_column(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    async with SqliteJournal(path) as j:
        await j.record_intent("k", task(0), "ark", 0, 1.0)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE tasks DROP COLUMN attempts_json")  # as version 4 wrote it
        conn.execute("PRAGMA user_version = 4")
        conn.commit()
    async with SqliteJournal(path) as j:
        (entry,) = await j.unfinished()
        assert (entry.attempts, entry.failover, entry.never_sent) == ((), False, True)


async def test_the_failure_category_and_chosen_values_come_back_from_the_journal(
    tmp_path: Path,
) -> None:
    """A resumed or re-run batch reports them as the first run did: in its result (whose
    status the journal keeps whole) and in the results line."""
    from seedance_async.spec._status import EffectiveParams

    t = task(0)
    chosen = EffectiveParams(duration=4.0, ratio="adaptive", seed=7, service_tier="flex")
    done = attrs.evolve(
        result("k", t),
        status=status(
            "k", TaskState.SUCCEEDED, video_url="https://cdn.example/k.mp4", effective=chosen
        ),
    )
    async with SqliteJournal(tmp_path / "j.db") as j:
        await j.record_intent("k", t, "ark-main", 0, 1.0)
        await j.record_submitted("k", handle("k", t))
        await j.record_result("k", done)
    async with SqliteJournal(tmp_path / "j.db") as j:
        record = await j.get("k")
        (line,) = await j.results()
    assert record is not None
    assert record.result is not None
    assert record.result.status is not None
    assert record.result.status.effective == chosen
    assert line["effective"]["ratio"] == "adaptive"
    assert line["failure"] is None
