"""The batch subcommands as a user runs them: exit codes, Ctrl-C, status, results, cancel."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import anyio

from seedance_async import Client, SqliteJournal, VideoTask, dump_task
from seedance_async.cli._results_file import JournalLock
from seedance_async.config import parse_provider_config
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Limits,
    ManualClock,
    Simulator,
)
from seedance_async.spec import task_hash
from seedance_async.spec._status import TaskState
from tests.cli._helpers import (
    FINISHED,
    PRO,
    read_jsonl,
    run_cli,
    simulator,
    start_cli,
    stop,
    watchdog,
    write_tasks,
)

ANSI_ESCAPE = "\x1b"
QUEUED = re.compile(r" queued=(\d+)")


def _one_line(folder: Path, name: str, prompt: str) -> None:
    (folder / name).write_text(json.dumps({"model": PRO, "prompt": prompt}) + "\n")


def test_failed_tasks_exit_4_and_unknown_ones_exit_5(tmp_path: Path) -> None:
    """A generation that fails gives 4; a lost answer no list can settle gives 5."""
    _one_line(tmp_path, "fail.jsonl", "this generation fails")
    _one_line(tmp_path, "lost.jsonl", "this answer is lost")
    faults = "task_failure=1,drop_after_create=1"
    with simulator(
        tmp_path, "--faults", faults, "--time-scale", "0.001", providers=["ark", "gateway000"]
    ) as sim:
        common = ("--config", str(sim.config), "--poll-scale", "0.001")
        failed = run_cli(
            "run", "fail.jsonl", "--provider", "ark", "--out", "f.jsonl", *common, cwd=tmp_path
        )
        lost = run_cli(
            *("run", "lost.jsonl", "--provider", "gateway000", "--out", "l.jsonl"),
            *common,
            cwd=tmp_path,
        )
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert [r["outcome"] for r in read_jsonl(tmp_path / "f.jsonl")] == ["failed"]
    assert lost.returncode == 5, lost.stdout + lost.stderr
    (row,) = read_jsonl(tmp_path / "l.jsonl")
    assert row["outcome"] == "unknown"
    assert "no list endpoint" in row["reason"]
    # When to look in the provider's console, as people read time: ISO 8601 with its offset.
    assert re.search(r"sent at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", row["reason"])
    assert "Unix" not in row["reason"]
    assert "unknown" in lost.stdout  # the failure is shown as it happens
    # Not a terminal: plain key=value lines, no escape sequences.
    for out in (failed.stdout, lost.stdout):
        assert ANSI_ESCAPE not in out
        assert FINISHED.search(out)


def test_usage_errors_exit_2_before_any_file_is_written(tmp_path: Path) -> None:
    """Unknown alias, missing key, busy journal: exit 2 with a message that says what to do."""
    _one_line(tmp_path, "t.jsonl", "usage")
    unknown = run_cli("run", "t.jsonl", "--provider", "nope", "--out", "r.jsonl", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown provider alias nope" in unknown.stderr
    no_key = run_cli(
        *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl"),
        *("--key-env", "SEEDANCE_TEST_NO_SUCH_KEY"),
        cwd=tmp_path,
    )
    assert no_key.returncode == 2
    assert "SEEDANCE_TEST_NO_SUCH_KEY" in no_key.stderr
    assert not (tmp_path / "r.jsonl").exists()
    with JournalLock(tmp_path / "j.db"):
        busy = run_cli(
            *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--journal", "j.db"),
            *("--key-env", KEY_ENV),
            cwd=tmp_path,
        )
    assert busy.returncode == 2
    assert "another seedance-async process is using the journal" in busy.stderr
    missing = run_cli("status", "--journal", "nothing.db", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no journal at nothing.db" in missing.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_a_journal_of_another_batch_is_refused_unless_append(tmp_path: Path) -> None:
    """Reusing --out (so its journal) for another file would mix two batches: exit 2 with
    what to do, nothing sent; --append runs the new tasks in it; a rerun of either is fine."""
    write_tasks(tmp_path / "a.jsonl", 3)
    (tmp_path / "b.jsonl").write_text(
        "".join(json.dumps({"model": PRO, "prompt": f"other batch {n}"}) + "\n" for n in range(2))
    )
    with simulator(tmp_path, "--time-scale", "0.001", "--unlimited") as sim:
        common = ["--provider", "ark", "--out", "r.jsonl", "--config", str(sim.config)]
        common += ["--poll-scale", "0.001"]
        first = run_cli("run", "a.jsonl", *common, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        other = run_cli("run", "b.jsonl", *common, cwd=tmp_path)
        assert other.returncode == 2, other.stdout + other.stderr
        assert "belongs to another batch: a.jsonl (3 tasks" in other.stderr
        assert "not to b.jsonl (2 tasks" in other.stderr
        assert "--append" in other.stderr
        assert len(sim.ledger("ark")) == 3  # nothing of b was sent
        assert len(read_jsonl(tmp_path / "r.jsonl")) == 3
        appended = run_cli("run", "b.jsonl", *common, "--append", cwd=tmp_path)
        assert appended.returncode == 0, appended.stderr
        assert len(read_jsonl(tmp_path / "r.jsonl")) == 5
        again = run_cli("run", "a.jsonl", *common, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert len(sim.ledger("ark")) == 5
    assert not (tmp_path / "r.journal.db.lock").exists()  # each clean exit removed it


def test_ctrl_c_stops_and_the_same_command_resumes(tmp_path: Path) -> None:
    """SIGINT mid-batch exits 130 with a resume hint; running it again finishes every line."""
    keys = write_tasks(tmp_path / "tasks.jsonl", 40)
    with simulator(tmp_path, "--time-scale", "0.05", "--unlimited") as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark,chainhub"]
        args += ["--out", "results.jsonl", "--poll-scale", "0.05", "--log-interval", "0.05"]
        proc = start_cli(*args, cwd=tmp_path)
        try:
            with watchdog(proc):
                assert proc.stdout is not None
                seen = []
                for line in proc.stdout:
                    seen.append(line)
                    overall = QUEUED.search(line.split(" | ")[0])
                    if overall and int(overall.group(1)) > 0:  # tasks are out
                        proc.send_signal(signal.SIGINT)
                        break
                seen += proc.stdout.readlines()
                code = proc.wait()
        finally:
            stop(proc)
        output = "".join(seen)
        assert code == 130, output
        assert "interrupted; resume with: seedance-async run tasks.jsonl" in output
        assert "--journal results.journal.db" in output
        assert "Traceback" not in output
        again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert sorted(r["key"] for r in rows) == sorted(keys)
    assert {r["outcome"] for r in rows} == {"succeeded"}  # an orderly stop leaves no unknowns


async def _cancel_fixture(folder: Path, clock: ManualClock, sim: Simulator) -> dict[str, str]:
    """A journal with a running task, a queued one and a never-sent one; returns key → kind."""
    config = folder / "sim.toml"
    config.write_text(sim.config_toml())
    configs = parse_provider_config(sim.provider_config())
    tasks = {
        kind: VideoTask(model=PRO, prompt=f"cancel me: {kind}") for kind in ("run", "q", "new")
    }
    keys = {task_hash(t): kind for kind, t in tasks.items()}
    async with (
        Client(configs.values(), env={KEY_ENV: DEFAULT_KEY}) as client,
        SqliteJournal(folder / "j.db") as journal,
    ):
        await journal.add_pending_many((task_hash(t), t, n) for n, t in enumerate(tasks.values()))
        for kind in ("run", "q"):
            task = tasks[kind]
            await journal.record_intent(task_hash(task), task, "ark", 0, clock())
            handle = await client.submit(task, provider="ark")
            await journal.record_submitted(task_hash(task), handle)
            if kind == "run":
                clock.advance(15)  # queued 10 s, so now running
    return keys


async def test_cancel_status_and_results_on_a_journal(tmp_path: Path) -> None:
    """cancel stops the queued and unsent tasks (not the running one: exit 4); status/results agree."""
    clock = ManualClock()
    async with Simulator(
        ("ark",),
        clock=clock,
        time_scale=1.0,
        durations=DurationModel.fixed(queue=10, run=60),
        limits=Limits.unlimited(),
    ) as sim:
        keys = await _cancel_fixture(tmp_path, clock, sim)
        cli = [sys.executable, "-m", "seedance_async"]
        cancel = await anyio.run_process(
            [*cli, "cancel", "--journal", "j.db", "--config", "sim.toml"],
            cwd=tmp_path,
            env={**os.environ, KEY_ENV: DEFAULT_KEY},
            check=False,
        )
        states = await _remote_states(sim)
    out = cancel.stdout.decode()
    assert cancel.returncode == 4, out + cancel.stderr.decode()
    assert "cannot cancel a running task" in out
    assert states == [TaskState.CANCELLED, TaskState.RUNNING]

    status = run_cli("status", "--journal", "j.db", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert summary["total"] == 3
    assert summary["by_outcome"] == {"cancelled": 2}
    assert summary["by_state"] == {"final": 2, "submitted": 1}
    table = run_cli("status", "--journal", "j.db", cwd=tmp_path)
    assert "journal j.db: 3 tasks, 2 finished" in table.stdout
    assert "cancelled" in table.stdout

    exported = run_cli("results", "--journal", "j.db", cwd=tmp_path)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert {keys[r["key"]]: r["outcome"] for r in rows} == {"q": "cancelled", "new": "cancelled"}
    assert run_cli("results", "--journal", "j.db", "--out", "r.jsonl", cwd=tmp_path).returncode == 0
    assert read_jsonl(tmp_path / "r.jsonl") == rows


async def _remote_states(sim: Simulator) -> list[TaskState]:
    """The state of every task the simulator created, through its public API."""
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    states = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for entry in sim.ledger("ark"):
            url = f"{sim.base_url('ark')}/contents/generations/tasks/{entry.task_id}"
            async with http.get(url) as response:
                states.append(TaskState((await response.json())["status"]))
    return sorted(states)


def test_demo_gets_every_argument_including_help(tmp_path: Path) -> None:
    """``demo --help`` is the demo's own help, not the dispatcher's."""
    done = run_cli("demo", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: seedance-async demo")
    assert "--count" in done.stdout


async def test_a_second_ctrl_c_exits_at_once_and_keeps_the_journal(tmp_path: Path) -> None:
    """While a reconciliation hangs, Ctrl-C waits for it; a second Ctrl-C exits right away."""
    task = VideoTask(model=PRO, prompt="stuck on the wire")
    (tmp_path / "t.jsonl").write_text(json.dumps(dump_task(task)) + "\n")
    async with SqliteJournal(tmp_path / "j.db") as journal:  # a crash right after the send
        await journal.record_intent(task_hash(task), task, "ark", 0, time.time())
        await journal.record_sent(task_hash(task), time.time())
    with simulator(tmp_path, "--faults", "slow=1,slow_seconds=60", providers=["ark"]) as sim:
        proc = start_cli(
            *("run", "t.jsonl", "--config", str(sim.config), "--provider", "ark"),
            *("--journal", "j.db", "--out", "r.jsonl"),
            cwd=tmp_path,
        )
        first_sent = False
        try:
            with watchdog(proc):
                assert proc.stdout is not None
                lines: list[str] = []
                for line in proc.stdout:
                    lines.append(line)
                    if FINISHED.search(line) and not first_sent:
                        first_sent = True  # first progress line: tracking has started
                        proc.send_signal(signal.SIGINT)
                    if "waiting for 1 submit(s) on the wire" in line:
                        proc.send_signal(signal.SIGINT)
                        break
                lines += proc.stdout.readlines()
                code = proc.wait()
        finally:
            stop(proc)
    assert code == 130, lines
    assert any("interrupted again: exiting now" in line for line in lines), lines
    async with SqliteJournal(tmp_path / "j.db") as journal:
        record = await journal.get(task_hash(task))
    assert record is not None
    assert record.state == "intent"  # nothing was decided about it: the next run reconciles
