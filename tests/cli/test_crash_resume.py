"""The batch CLI survives SIGKILL: re-running the same command ends with one result per line."""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path

from tests.cli._helpers import (
    FINISHED,
    mp4_is_complete,
    prompt_of,
    read_jsonl,
    run_cli,
    simulator,
    start_cli,
    stop,
    watchdog,
    write_tasks,
)

COUNT = 1000
SEED = 20251121
FAULTS = "rate_limit=0.1,retry_after=0.05,server_error=0.03,reset=0.01,drop_after_create=0.01"


def _run_until_killed(args: list[str], cwd: Path, target: int) -> int:
    """Run the CLI until its progress shows ``target`` finished tasks, then SIGKILL it.

    Returns the finished count seen last (the run may also end on its own first).
    """
    proc = start_cli(*args, cwd=cwd)
    seen = 0
    try:
        with watchdog(proc):
            assert proc.stdout is not None
            for line in proc.stdout:
                match = FINISHED.search(line)
                if match:
                    seen = int(match.group(1))
                    if seen >= target:
                        proc.send_signal(signal.SIGKILL)
                        break
            proc.wait()
    finally:
        stop(proc)
    return seen


def test_three_sigkills_then_one_result_per_line_each_billed_once(tmp_path: Path) -> None:
    """1,000 tasks with faults, SIGKILLed three times: no line lost or doubled, none paid twice."""
    rng = random.Random(SEED)
    keys = write_tasks(tmp_path / "tasks.jsonl", COUNT)
    with simulator(
        tmp_path, "--faults", FAULTS, "--time-scale", "0.002", "--seed", "7", "--unlimited"
    ) as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark,chainhub"]
        args += ["--journal", "batch.db", "--out", "results.jsonl", "--download", "videos"]
        args += ["--poll-scale", "0.002", "--log-interval", "0.05"]
        target = 0
        for _ in range(3):  # kill points spread over the batch, cumulative across runs
            target += rng.randint(1, COUNT // 4)
            _run_until_killed(args, tmp_path, target)
        final = run_cli(*args, cwd=tmp_path)
        assert final.returncode in (0, 4, 5), final.stdout + final.stderr
        ledger = sim.ledger("ark") + sim.ledger("chainhub")

    rows = read_jsonl(tmp_path / "results.jsonl")
    by_key = {r["key"]: r for r in rows}
    assert len(rows) == COUNT
    assert set(by_key) == set(keys)

    billed = Counter(prompt_of(entry["body"]) for entry in ledger)
    assert [p for p, n in billed.items() if n > 1] == []
    task_ids = {entry["task_id"]: prompt_of(entry["body"]) for entry in ledger}
    for key, row in by_key.items():
        if row["outcome"] == "succeeded":
            assert task_ids[row["task_id"]] == keys[key]  # the video is this line's, paid once
        else:  # 429s on every try: refused, so never billed; or unknown, with when and why
            assert row["outcome"] in ("unknown", "rejected"), row
            assert row["reason"], row
            assert row["outcome"] == "unknown" or keys[key] not in billed, row
    key_of = {prompt: key for key, prompt in keys.items()}
    for entry in ledger:  # every paid task is some line's result, or that line says unknown
        row = by_key[key_of[prompt_of(entry["body"])]]
        assert row["task_id"] == entry["task_id"] or row["outcome"] == "unknown", row
    assert sum(r["outcome"] == "succeeded" for r in rows) >= COUNT * 0.95

    videos = tmp_path / "videos"
    assert sorted(p.name for p in videos.iterdir() if p.name.startswith(".")) == []
    succeeded = {k for k, r in by_key.items() if r["outcome"] == "succeeded"}
    assert {p.name for p in videos.iterdir()} == {f"{k}.mp4" for k in succeeded}
    for key in succeeded:
        assert by_key[key]["video_path"] == str(Path("videos") / f"{key}.mp4")
        assert mp4_is_complete(videos / f"{key}.mp4"), key
    assert list(tmp_path.glob(".*.tmp")) == []


def test_a_rerun_sweeps_stray_parts_of_finished_lines_and_bills_nothing(tmp_path: Path) -> None:
    """A ``.part`` left beside a finished line's video goes on the next run; others stay.

    A download killed after its line was journaled finished (the double-download regression
    in the tracker could do that) left a temporary nobody would ever complete.
    """
    keys = write_tasks(tmp_path / "tasks.jsonl", 5)
    with simulator(tmp_path, "--time-scale", "0.002", "--seed", "3", "--unlimited") as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark"]
        args += ["--journal", "batch.db", "--out", "results.jsonl", "--download", "videos"]
        args += ["--poll-scale", "0.002"]
        first = run_cli(*args, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        videos = tmp_path / "videos"
        stray = videos / f".{next(iter(keys))}.mp4.k1ll3d.part"
        foreign = videos / ".not-this-batch.mp4.x.part"
        stray.write_bytes(b"half a video")
        foreign.write_bytes(b"someone else's")
        again = run_cli(*args, cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        ledger = sim.ledger("ark")
    assert not stray.exists()
    assert foreign.exists()
    assert len(ledger) == 5
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 5
