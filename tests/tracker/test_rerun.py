"""Tracker.submit with a journal an earlier run wrote: nothing is ever sent twice.

Fake clock and in-memory providers; the end-to-end version against the simulator is
``tests/e2e/test_tracker_rerun.py``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import attrs

from seedance_async.core._events import EventKind
from seedance_async.journal import SqliteJournal
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._codec import dump_result
from seedance_async.spec._handle import Outcome, TaskHandle
from seedance_async.tracker._submit import ReadableJournal
from seedance_async.tracker._tracker import Tracker
from tests.tracker.test_tracker import MODEL, World, config, running, task


async def drive(world: World, tracker: Tracker) -> None:
    """Advance virtual time until the tracker is idle.

    The journal writes in a worker thread, in real time, while virtual time runs on: the
    bound is real time (a guard against a hang, not a wait).
    """
    with anyio.fail_after(30):
        while tracker.pending:
            await world.clock.run_for(1.0)


def test_the_sqlite_journal_is_read_back_by_the_tracker(tmp_path: Path) -> None:
    """SqliteJournal has the shape the tracker reads (checked by mypy and at run time)."""
    journal: ReadableJournal = SqliteJournal(tmp_path / "j.db")
    assert isinstance(journal, ReadableJournal)


async def test_a_finished_key_is_reported_again_without_a_submit(tmp_path: Path) -> None:
    """Second run: the result comes from the journal, through as_completed and its event."""
    world = World(["a"])
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(task(1))
            await drive(world, tracker)
            first = await tracked.result()
        world.events.clear()
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(task(1))
            replayed = [r async for r in tracker.as_completed()]
    assert len(world.arks["a"].created) == 1
    assert first.outcome is Outcome.SUCCEEDED
    assert replayed == [await tracked.result()]
    assert dump_result(replayed[0]) == dump_result(first)
    assert [e.kind for e in world.events] == [EventKind.SUCCEEDED]


async def test_a_journaled_intent_is_reconciled_not_sent_again(tmp_path: Path) -> None:
    """The earlier run died between the send and its answer; the task it created is adopted."""
    world = World(["a"])
    ark = world.arks["a"]
    spec = task(1)
    sent = attrs.evolve(spec, execution_expires_after=86_417)  # with its correlation nonce
    ark.create_from(ArkAdapter().build_submit(sent))
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        await journal.record_intent("line-1", sent, "a", 0, world.clock.wall())
        await journal.record_sent("line-1", world.clock.wall())
        await world.clock.run_for(5.0)
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(spec, key="line-1")
            await drive(world, tracker)
            result = await tracked.result()
        record = await journal.get("line-1")
    assert result.outcome is Outcome.SUCCEEDED, result.reason
    assert ark.calls["POST"] == 0
    assert len(ark.created) == 1
    assert result.handle is not None
    assert result.handle.task_id == ark.created[0]["id"]
    assert result.task == spec
    assert record is not None
    assert record.is_finished


async def test_a_key_journaled_with_another_spec_ends_rejected_and_keeps_its_record(
    tmp_path: Path,
) -> None:
    """An explicit key reused for a different spec is refused; the journal is not touched."""
    world = World(["a"])
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        await journal.record_intent("line-1", task(99), "a", 0, world.clock.wall())
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(task(1), key="line-1")
            await drive(world, tracker)
            result = await tracked.result()
        record = await journal.get("line-1")
    assert result.outcome is Outcome.REJECTED
    assert result.reason is not None
    assert "another spec under key 'line-1'" in result.reason
    assert not world.arks["a"].created
    assert record is not None
    assert record.state == "intent"
    assert record.task == task(99)


async def test_a_key_sent_to_a_provider_no_longer_configured_ends_unknown(
    tmp_path: Path,
) -> None:
    """The remote task cannot be followed; the journal keeps it for a run that can."""
    world = World(["a"])
    spec = task(1)
    handle = TaskHandle(
        provider="gone", adapter="ark", model=MODEL, task_id="cgt-9", created_at=1.0, spec_hash="h"
    )
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        await journal.record_intent("line-1", spec, "gone", 0, world.clock.wall())
        await journal.record_submitted("line-1", handle)
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(spec, key="line-1")
            await drive(world, tracker)
            result = await tracked.result()
        record = await journal.get("line-1")
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason is not None
    assert "'gone', which is not configured" in result.reason
    assert not world.arks["a"].created
    assert record is not None
    assert record.state == "submitted"
    assert record.handle == handle


async def test_failover_with_a_readable_journal_still_moves_to_the_next_provider(
    tmp_path: Path,
) -> None:
    """A task queued again after a retryable failure is not taken for an earlier run's
    (its journal record is this run's own): it is submitted to the next provider."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    configs = [config("a"), config("b")]
    async with (
        SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal,
        running(world, configs, journal=journal) as tracker,
    ):
        tracked = await tracker.submit(task(1))
        await drive(world, tracker)
        result = await tracked.result()
    assert result.outcome is Outcome.SUCCEEDED
    assert [a.provider for a in result.attempts] == ["a", "b"]
    assert len(world.arks["b"].created) == 1


async def test_a_task_cancelled_before_its_key_was_read_leaves_the_journal_alone(
    tmp_path: Path,
) -> None:
    """Ending a task before its journal record was read must not overwrite that record,
    which may be an earlier run's task still running remotely."""
    world = World(["a"])
    spec = task(1)
    handle = TaskHandle(
        provider="a", adapter="ark", model=MODEL, task_id="cgt-9", created_at=1.0, spec_hash="h"
    )
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        await journal.record_intent("line-1", spec, "a", 0, world.clock.wall())
        await journal.record_submitted("line-1", handle)
        async with running(world, [config("a")], journal=journal) as tracker:
            tracked = await tracker.submit(spec, key="line-1")
            await tracked.cancel()  # before any submit worker ran
            await drive(world, tracker)
            result = await tracked.result()
        record = await journal.get("line-1")
    assert result.outcome is Outcome.CANCELLED
    assert not world.arks["a"].created
    assert world.arks["a"].calls["GET"] == 0
    assert record is not None
    assert record.state == "submitted"
    assert record.handle == handle
