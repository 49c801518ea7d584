"""The demo runs offline end to end and reports what the ledger billed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedance_async.cli._demo import demo_2x_tasks, demo_tasks, run_demo


def test_demo_batch_covers_every_scenario() -> None:
    """The demo batch mixes text, first frame, first+last and reference-image tasks."""
    scenarios = {t.scenario for t in demo_tasks(8)}
    assert scenarios == {"text", "first_frame", "first_last_frame", "reference_images"}


def test_demo_2x_tasks_cover_multimodal_fast_search_and_drafts() -> None:
    tasks = demo_2x_tasks(
        4, video_url="http://127.0.0.1:1/v.mp4", audio_url="http://127.0.0.1:1/a.wav"
    )
    assert tasks[0].scenario == "multimodal_reference"
    assert "fast" in tasks[1].model
    assert tasks[2].tools == ("web_search",)
    assert tasks[3].draft


async def test_demo_runs_and_writes_results_and_videos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A small demo run ends every task, downloads videos, and nothing is billed twice."""
    code = await run_demo(count=24, out_dir=tmp_path, quiet=True, seedance_2=8)
    assert code == 0
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    finals = [r for r in results if "draft_task_id" in r["metadata"]]
    drafts = [
        r
        for r in results
        if str(r["metadata"].get("row")) in ("2x-3", "2x-7") and r["outcome"] == "succeeded"
    ]
    assert len(results) == 24 + 8 + len(finals)
    assert len(finals) == len(drafts)  # every succeeded draft got its final
    assert {f["metadata"]["draft_task_id"] for f in finals} == {d["task_id"] for d in drafts}
    outcomes = {r["outcome"] for r in results}
    assert "succeeded" in outcomes
    assert any((tmp_path / "videos").glob("*.mp4"))
    out = capsys.readouterr().out
    assert "billed twice: 0" in out
    assert "Seedance 2.x: multimodal " in out
    # How to run a batch for real: a file of your own, checked first; never the demo's
    # batch, whose every line would be paid for and whose images are placeholders.
    assert "seedance-async run my-tasks.jsonl --provider ark --dry-run" in out
    assert "placeholders (https://example.com/demo/...)" in out
    assert f"run {tmp_path / 'tasks.jsonl'}" not in out


async def test_demo_with_callbacks_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo --callbacks``: Ark and its gateways call back (some notices dropped, doubled,
    reordered or forged); every task still ends, and the summary counts the callbacks."""
    code = await run_demo(count=24, out_dir=tmp_path, quiet=True, callbacks=True, seedance_2=0)
    assert code == 0
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 24
    out = capsys.readouterr().out
    assert "billed twice: 0" in out
    assert "status requests per task:" in out
    line = next(x for x in out.splitlines() if x.startswith("callbacks: "))
    received = int(line.split()[1])
    assert received > 0, out
