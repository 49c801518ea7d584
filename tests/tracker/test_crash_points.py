"""A run stopped at each point of a paid submit, then resumed: billed once, never lost.

The first run is stopped (cancelled, as a kill would stop it: nothing more is written) at
one point of the submit; the second run takes the journal over, either by
``Tracker.resume(journal.unfinished())`` (what the CLI does) or by submitting the same keys
again (a re-run of the same program). The in-memory provider's ``created`` list is the
billing ledger. The same, against the simulator with a real SIGKILL, is in
``tests/cli/test_send_stamp.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
import attrs
import pytest

from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.journal import SqliteJournal
from seedance_async.spec._handle import Outcome, TaskResult
from seedance_async.spec._task import VideoTask
from seedance_async.testing import FakeClock, settle
from seedance_async.tracker._tracker import Tracker
from tests.fakes import rate_limited
from tests.tracker.test_tracker import World, config, running, task

Resume = Literal["resume", "rerun"]
# Longer than a resumed intent may be re-sent after when listing finds nothing: an intent
# that may have been sent is then `unknown`, so only one proven never sent is submitted.
RESTART = 120.0


class CrashingJournal(SqliteJournal):
    """A SqliteJournal that counts its records and stops the run at one of them.

    ``crash_at = ("record_sent", 1, "after")`` lets the first ``record_sent`` commit, then
    never returns (the run is stopped there); ``"before"`` stops before it is written.
    """

    def __init__(self, path: Path, *, clock: FakeClock) -> None:
        super().__init__(path, clock=clock)
        self.counts: Counter[str] = Counter()
        self.crash_at: tuple[str, int, Literal["before", "after"]] | None = None
        self.crashed = anyio.Event()
        self._changed = anyio.Event()
        self._busy = 0
        self._quiet = anyio.Event()

    async def _run(self, fn: Any, *, write: bool = False, full: bool = False) -> Any:
        self._busy += 1
        try:
            return await super()._run(fn, write=write, full=full)
        finally:
            self._busy -= 1
            if not self._busy:
                self._quiet.set()
                self._quiet = anyio.Event()

    async def step(self, world: World) -> None:
        """Let one virtual second pass, once no journal read or write is under way.

        Journal work runs in threads, in real time: without this, virtual time would run
        on while a loaded machine finishes a write (an intent would look minutes old).
        """
        with anyio.fail_after(30):
            while self._busy:
                await self._quiet.wait()
        await world.clock.run_for(1.0)

    async def _record(self, name: str, write: Callable[[], Awaitable[None]]) -> None:
        self.counts[name] += 1
        crash = self.crash_at is not None and self.crash_at[:2] == (name, self.counts[name])
        if crash and self.crash_at is not None and self.crash_at[2] == "before":
            await self._crash()
        await write()
        self._changed.set()
        self._changed = anyio.Event()
        if crash:
            await self._crash()

    async def _crash(self) -> None:
        self.crashed.set()
        await anyio.sleep_forever()

    async def until(self, name: str, count: int) -> None:
        """Wait (in real time: writes run in threads) until ``name`` was written ``count`` times."""
        with anyio.fail_after(30):
            while self.counts[name] < count:
                await self._changed.wait()

    async def record_intent(self, *args: Any) -> None:
        await self._record("record_intent", partial(SqliteJournal.record_intent, self, *args))

    async def record_sent(self, *args: Any) -> None:
        await self._record("record_sent", partial(SqliteJournal.record_sent, self, *args))

    async def record_unsent(self, *args: Any) -> None:
        await self._record("record_unsent", partial(SqliteJournal.record_unsent, self, *args))

    async def record_submitted(self, *args: Any) -> None:
        await self._record("record_submitted", partial(SqliteJournal.record_submitted, self, *args))

    async def record_attempts(self, *args: Any, **kwargs: Any) -> None:
        write = partial(SqliteJournal.record_attempts, self, *args, **kwargs)
        await self._record("record_attempts", write)


async def first_run(
    world: World,
    journal: CrashingJournal,
    specs: list[VideoTask],
    stop: Callable[[], Awaitable[None]],
    *,
    aliases: Sequence[str] = ("a",),
    **config_kw: Any,
) -> None:
    """Submit ``specs`` (keys ``k0``, ``k1``...), wait for ``stop``, then stop the run dead.

    ``config_kw`` changes the first alias's config.
    """
    configs = [attrs.evolve(config(aliases[0]), **config_kw), *map(config, aliases[1:])]
    with anyio.CancelScope() as scope:
        async with running(world, configs, journal=journal) as t:
            for n, spec in enumerate(specs):
                await t.submit(spec, key=f"k{n}")
            await stop()
            await settle()
            scope.cancel()
    journal.crash_at = None


async def second_run(
    world: World,
    journal: CrashingJournal,
    specs: list[VideoTask],
    how: Resume,
    *,
    restart_after: float = RESTART,
    aliases: Sequence[str] = ("a",),
) -> list[TaskResult]:
    """``restart_after`` seconds later, take the journal over and drive every key to its end."""
    world.clock.advance(restart_after)
    async with running(world, [config(a) for a in aliases], journal=journal) as tracker:
        if how == "resume":
            tracked = await tracker.resume(await journal.unfinished())
            for n, spec in enumerate(specs):  # what the CLI does with the pending rows
                if f"k{n}" not in tracker.tasks:
                    await tracker.submit(spec, key=f"k{n}")
        tracked = [await tracker.submit(spec, key=f"k{n}") for n, spec in enumerate(specs)]
        await drive(world, tracker, journal)
        return [await t.result() for t in tracked]


async def drive(world: World, tracker: Tracker, journal: CrashingJournal) -> None:
    with anyio.fail_after(30):  # real time: the journal writes in threads
        while tracker.pending:
            await journal.step(world)


def billed_once_each(world: World, specs: list[VideoTask]) -> None:
    """The provider created exactly one task per spec (its ledger, by prompt)."""
    bodies = [json.loads(str(t["body"])) for t in world.arks["a"].created]
    prompts = Counter(next(c["text"] for c in b["content"] if c["type"] == "text") for b in bodies)
    assert prompts == Counter(s.prompt for s in specs)


RESUMES: list[Resume] = ["resume", "rerun"]


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_while_waiting_for_the_submit_token(tmp_path: Path, how: Resume) -> None:
    """One submit a minute: the first leaves, two intents wait for their token and are
    killed there. Their requests never left, so they are submitted again, not `unknown`."""
    world = World(["a"])
    specs = [task(n) for n in range(3)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:

        async def stop() -> None:
            await journal.until("record_submitted", 1)
            await journal.until("record_intent", 3)

        await first_run(world, journal, specs, stop, submit_rpm=1.0)
        entries = {e.key: e for e in await journal.unfinished()}
        assert len(world.arks["a"].created) == 1
        assert [k for k, e in entries.items() if e.never_sent] == ["k1", "k2"]
        assert entries["k0"].handle is not None
        results = await second_run(world, journal, specs, how)
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 3
    assert world.arks["a"].calls["POST"] == 3
    billed_once_each(world, specs)


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_while_sleeping_on_a_429(tmp_path: Path, how: Resume) -> None:
    """The 429 proves nothing was created: the stamp is removed before the retry sleep."""
    world = World(["a"])
    world.arks["a"].fault("POST", rate_limited("7"))
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_unsent", 1, "after")
        await first_run(world, journal, specs, journal.crashed.wait)
        (entry,) = await journal.unfinished()
        assert entry.never_sent
        results = await second_run(world, journal, specs, how)
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED]
    assert world.arks["a"].calls["POST"] == 2  # the 429, then one create
    billed_once_each(world, specs)


@pytest.mark.parametrize("how", RESUMES)
@pytest.mark.parametrize("restart_after", [5.0, RESTART])
async def test_killed_between_the_stamp_and_the_request(
    tmp_path: Path, how: Resume, restart_after: float
) -> None:
    """Stamped but never arrived: it may have left, so it is reconciled, never blindly
    re-sent. The provider's list proves nothing was created: a recent intent is sent again,
    an old one (the list may not reach back that far) ends `unknown`, billed nowhere."""
    world = World(["a"])
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_sent", 1, "after")
        await first_run(world, journal, specs, journal.crashed.wait)
        (entry,) = await journal.unfinished()
        assert (entry.never_sent, entry.handle) == (False, None)
        assert world.arks["a"].calls["POST"] == 0
        results = await second_run(world, journal, specs, how, restart_after=restart_after)
    assert world.arks["a"].calls["LIST"] >= 1
    if restart_after < RESTART:
        assert [r.outcome for r in results] == [Outcome.SUCCEEDED]
        billed_once_each(world, specs)
    else:
        assert [r.outcome for r in results] == [Outcome.UNKNOWN]
        assert world.arks["a"].created == []


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_after_the_create_before_its_answer_was_journaled(
    tmp_path: Path, how: Resume
) -> None:
    """Created and billed, the answer lost to the kill: the task is adopted, not re-sent."""
    world = World(["a"])
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_submitted", 1, "before")
        await first_run(world, journal, specs, journal.crashed.wait)
        (entry,) = await journal.unfinished()
        assert (entry.never_sent, entry.handle) == (False, None)
        results = await second_run(world, journal, specs, how)
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED]
    assert world.arks["a"].calls["POST"] == 1
    assert results[0].handle is not None
    assert results[0].handle.task_id == world.arks["a"].created[0]["id"]
    billed_once_each(world, specs)


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_after_the_remote_id_was_journaled(tmp_path: Path, how: Resume) -> None:
    world = World(["a"])
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_submitted", 1, "after")
        await first_run(world, journal, specs, journal.crashed.wait)
        (entry,) = await journal.unfinished()
        assert entry.handle is not None
        results = await second_run(world, journal, specs, how)
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED]
    assert world.arks["a"].calls["POST"] == 1
    billed_once_each(world, specs)


# -- failovers ----------------------------------------------------------------------------


async def test_a_failover_goes_ahead_of_the_fresh_tasks() -> None:
    """200 tasks queue for one submit a second on `a`; the first fails remotely and fails
    over to `b` at once, not after the 199 queued behind it (over three minutes later)."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    slow = attrs.evolve(config("a"), submit_rpm=60.0, max_running=1000)
    failed_at: list[float] = []
    async with running(world, [slow, config("b")]) as tracker:
        tracker.events.add_callback(
            lambda e: failed_at.append(world.clock.now()) if e.kind.value == "failed_over" else None
        )
        tracked = [await tracker.submit(task(n)) for n in range(200)]
        with anyio.fail_after(30):
            while not world.arks["b"].created and world.clock.now() < 600:
                await world.clock.run_for(1.0)
        b_created_at = world.clock.now()
        while tracker.pending:  # no journal: nothing runs outside virtual time
            await world.clock.run_for(1.0)
        first = await tracked[0].result()
        assert first.attempts[0].provider == "a"
    assert failed_at
    assert b_created_at - failed_at[0] <= 2.0
    assert len(world.arks["b"].created) == 1
    assert len(world.arks["a"].created) == 200
    assert first.outcome is Outcome.SUCCEEDED


def driving_until_crashed(world: World, journal: CrashingJournal) -> Callable[[], Awaitable[None]]:
    """A ``stop`` for :func:`first_run` that lets virtual time pass until the crash."""

    async def stop() -> None:
        with anyio.fail_after(30):  # real time: the journal writes in threads
            while not journal.crashed.is_set():
                await journal.step(world)

    return stop


def unauthorized(_: HttpRequest) -> HttpResponse:
    return HttpResponse.from_json(401, {"error": {"code": "AuthenticationError", "message": "no"}})


def _attempts(result: TaskResult) -> list[tuple[str, str]]:
    return [(a.provider, a.outcome) for a in result.attempts]


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_with_a_failover_pending_resumes_on_the_next_provider(
    tmp_path: Path, how: Resume
) -> None:
    """The task failed on `a` and waited to go to `b`: resume sends it to `b` (attempt 1),
    never to `a` again, and the result lists the billed attempt on `a`."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_attempts", 1, "after")
        await first_run(
            world, journal, specs, driving_until_crashed(world, journal), aliases=["a", "b"]
        )
        (entry,) = await journal.unfinished()
        assert (entry.failover, entry.handle) == (True, None)
        results = await second_run(world, journal, specs, how, aliases=["a", "b"])
        record = await journal.get("k0")
    (result,) = results
    assert result.outcome is Outcome.SUCCEEDED
    assert _attempts(result) == [("a", "failed"), ("b", "submitted")]
    assert (len(world.arks["a"].created), len(world.arks["b"].created)) == (1, 1)
    assert world.arks["a"].calls["POST"] == 1
    assert record is not None
    assert record.attempt == 1  # the numbering went on


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_while_the_failover_waits_for_its_token(tmp_path: Path, how: Resume) -> None:
    """The failover's intent on `b` never left: resume sends it to `b`, keeping `a`'s
    billed attempt in the result."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_intent", 2, "after")
        await first_run(
            world, journal, specs, driving_until_crashed(world, journal), aliases=["a", "b"]
        )
        (entry,) = await journal.unfinished()
        assert (entry.never_sent, entry.provider, entry.attempt) == (True, "b", 1)
        assert [a.provider for a in entry.attempts] == ["a"]
        results = await second_run(world, journal, specs, how, aliases=["a", "b"])
    assert _attempts(results[0]) == [("a", "failed"), ("b", "submitted")]
    assert (len(world.arks["a"].created), len(world.arks["b"].created)) == (1, 1)


@pytest.mark.parametrize("how", RESUMES)
async def test_killed_while_the_failover_runs_keeps_every_billed_attempt(
    tmp_path: Path, how: Resume
) -> None:
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_submitted", 2, "after")
        await first_run(
            world, journal, specs, driving_until_crashed(world, journal), aliases=["a", "b"]
        )
        (entry,) = await journal.unfinished()
        assert entry.handle is not None
        assert entry.handle.provider == "b"
        results = await second_run(world, journal, specs, how, aliases=["a", "b"])
    assert _attempts(results[0]) == [("a", "failed"), ("b", "submitted")]
    assert results[0].outcome is Outcome.SUCCEEDED
    assert (len(world.arks["a"].created), len(world.arks["b"].created)) == (1, 1)


@pytest.mark.parametrize("how", RESUMES)
async def test_a_resumed_task_can_still_fail_over(tmp_path: Path, how: Resume) -> None:
    """Killed while `a`'s task ran; it fails after the resume and goes on to `b` (the
    resumed task knows the whole failover order, not only the alias it ran on)."""
    world = World(["a", "b"])
    world.arks["a"].failures = {"cgt-00001"}
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_submitted", 1, "after")
        await first_run(
            world, journal, specs, driving_until_crashed(world, journal), aliases=["a", "b"]
        )
        results = await second_run(world, journal, specs, how, aliases=["a", "b"])
    assert _attempts(results[0]) == [("a", "failed"), ("b", "submitted")]
    assert results[0].outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize("how", RESUMES)
async def test_a_refusal_before_the_kill_is_not_asked_again(tmp_path: Path, how: Resume) -> None:
    """`a` refused the task (its key is not accepted there) before the kill: resume goes
    straight to `b`."""
    world = World(["a", "b"])
    world.arks["a"].fault("POST", unauthorized)
    specs = [task(0)]
    async with CrashingJournal(tmp_path / "j.db", clock=world.clock) as journal:
        journal.crash_at = ("record_attempts", 1, "after")
        await first_run(
            world, journal, specs, driving_until_crashed(world, journal), aliases=["a", "b"]
        )
        assert [k for k, _ in await journal.pending()] == ["k0"]
        results = await second_run(world, journal, specs, how, aliases=["a", "b"])
    assert _attempts(results[0]) == [("a", "rejected"), ("b", "submitted")]
    assert world.arks["a"].calls["POST"] == 1
