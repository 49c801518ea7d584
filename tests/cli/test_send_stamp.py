"""SIGKILL while submits wait for their rate-limit token: the re-run sends them, once each.

The intent is journaled before a submit waits for its token; only the send stamp, written
right before the request leaves, says it may have left. AI/ML API has no list endpoint, so
an intent that may have been sent cannot be reconciled there and would end ``unknown``:
every line ending with a result and no line ``unknown`` proves the killed intents were
known never to have left.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

from tests.cli._helpers import PRO, read_jsonl, run_cli, simulator, start_cli, stop, watchdog

COUNT = 24


def _unsent_intents(journal: Path) -> tuple[int, int]:
    """(intents whose request never left, tasks created) in the journal right now."""
    if not journal.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as conn:
        try:
            unsent = conn.execute(
                "SELECT count(*) FROM tasks WHERE state = 'intent' AND sent_at IS NULL"
            ).fetchone()[0]
            created = conn.execute("SELECT count(*) FROM tasks WHERE task_id IS NOT NULL")
            return int(unsent), int(created.fetchone()[0])
        except sqlite3.OperationalError:  # the schema is being created
            return 0, 0


def test_killed_during_token_waits_the_rerun_sends_each_once_and_none_is_unknown(
    tmp_path: Path,
) -> None:
    prompts = [f"token wait #{n}: a lantern in the fog" for n in range(COUNT)]
    lines = [{"model": PRO, "prompt": p, "duration": 5} for p in prompts]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    # Four submits a second, one at a time: most intents wait for their token.
    with simulator(
        tmp_path, "--time-scale", "0.002", "--unlimited", providers=["aimlapi"], submit_rpm=240.0
    ) as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "aimlapi"]
        args += ["--journal", "batch.db", "--out", "results.jsonl", "--poll-scale", "0.002"]
        proc = start_cli(*args, cwd=tmp_path)
        try:
            with watchdog(proc):
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and proc.poll() is None:
                    unsent, created = _unsent_intents(tmp_path / "batch.db")
                    if unsent >= 5 and created >= 1:
                        proc.send_signal(signal.SIGKILL)
                        break
                    time.sleep(0.01)  # polling another process's file; no event to wait on
                proc.wait()
        finally:
            stop(proc)
        assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        unsent, created = _unsent_intents(tmp_path / "batch.db")
        assert unsent >= 5
        assert created < COUNT
        final = run_cli(*args, cwd=tmp_path)
        assert final.returncode == 0, final.stdout + final.stderr
        ledger = sim.ledger("aimlapi")

    rows = read_jsonl(tmp_path / "results.jsonl")
    assert len(rows) == COUNT
    assert Counter(r["outcome"] for r in rows) == {"succeeded": COUNT}
    billed = Counter(entry["body"]["prompt"] for entry in ledger)
    assert billed == Counter(prompts)  # every line paid exactly once
