"""``seedance-async download --journal`` and ``run --download`` fetch what is missing of
succeeded tasks, through CDN faults, without ever creating a task again."""

from __future__ import annotations

import json
from pathlib import Path

from seedance_async.spec import load_task, task_hash
from tests.cli._helpers import PRO, mp4_is_complete, read_jsonl, run_cli, simulator

COUNT = 6
# A third of the CDN's answers are 503s, a third of its bodies are cut short.
# Faults on about a third of the requests: every download retries somewhere, and a file
# fails its six attempts with odds of 0.3**6 (at 0.6 a run of ~20 files failed 1 in 3).
CDN_FAULTS = "unavailable=0.15,truncated=0.15,truncate_mode=closed"


def _write(path: Path) -> dict[str, bool]:
    """COUNT tasks, every other one asking for its last frame; keys → asks for a frame."""
    lines = [
        {"model": PRO, "prompt": f"download test #{n}", "return_last_frame": n % 2 == 0}
        for n in range(COUNT)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {task_hash(load_task(line)): bool(line["return_last_frame"]) for line in lines}


def _files_whole(folder: Path, keys: dict[str, bool]) -> None:
    for key, frame in keys.items():
        assert mp4_is_complete(folder / f"{key}.mp4"), key
        if frame:
            assert (folder / f"{key}.last.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert not (folder / f"{key}.last.png").exists()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_download_fetches_what_a_run_without_a_folder_left_and_bills_nothing(
    tmp_path: Path,
) -> None:
    """A run without --download, then `download`: every file, through 503s and cut bodies;
    a second `download` finds everything on disk; the ledger never grows."""
    keys = _write(tmp_path / "tasks.jsonl")
    with simulator(
        tmp_path, "--time-scale", "0.002", "--seed", "4", "--unlimited", "--cdn-faults", CDN_FAULTS
    ) as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark"]
        args += ["--journal", "batch.db", "--out", "results.jsonl", "--poll-scale", "0.002"]
        first = run_cli(*args, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        billed = len(sim.ledger("ark"))
        fetch = ["download", "--journal", "batch.db", "--config", str(sim.config)]
        no_folder = run_cli(*fetch, cwd=tmp_path)
        assert no_folder.returncode == 2, no_folder.stdout + no_folder.stderr
        assert "--out DIR" in no_folder.stderr
        got = run_cli(*fetch, "--out", "videos", cwd=tmp_path)
        assert got.returncode == 0, got.stdout + got.stderr
        assert f"{COUNT} succeeded tasks: 0 already on disk, {COUNT} downloaded" in got.stdout
        again = run_cli(*fetch, cwd=tmp_path)  # the folder is the journal's now
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"{COUNT} already on disk, 0 downloaded, 0 failed" in again.stdout
        # A video cut short in place (as versions without length checks could leave one).
        cut = tmp_path / "videos" / f"{next(iter(keys))}.mp4"
        cut.write_bytes(cut.read_bytes()[:100])
        mended = run_cli(*fetch, cwd=tmp_path)
        assert mended.returncode == 0, mended.stdout + mended.stderr
        assert f"{COUNT - 1} already on disk, 1 downloaded, 0 failed" in mended.stdout
        assert len(sim.ledger("ark")) == billed == COUNT
    _files_whole(tmp_path / "videos", keys)
    results = run_cli("results", "--journal", "batch.db", cwd=tmp_path)
    rows = [json.loads(line) for line in results.stdout.splitlines()]
    for row in rows:
        assert row["video_path"] == str(Path("videos") / f"{row['key']}.mp4")
        assert row["download_failed"] is None
        assert (row["last_frame_path"] is not None) == keys[row["key"]]


def test_a_rerun_with_a_folder_downloads_earlier_successes(tmp_path: Path) -> None:
    """The same run again, now with --download: nothing is submitted, every file lands."""
    keys = _write(tmp_path / "tasks.jsonl")
    with simulator(
        tmp_path, "--time-scale", "0.002", "--seed", "5", "--unlimited", "--cdn-faults", CDN_FAULTS
    ) as sim:
        args = ["run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark"]
        args += ["--journal", "batch.db", "--out", "results.jsonl", "--poll-scale", "0.002"]
        first = run_cli(*args, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        again = run_cli(*args, "--download", "videos", cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(sim.ledger("ark")) == COUNT
    _files_whole(tmp_path / "videos", keys)
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert len(rows) == COUNT
    assert all(row["video_path"] for row in rows)
