"""The two-stage draft batch: ``run --draft``, then ``finalize``, then ``run`` the finals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._helpers import read_jsonl, run_cli, simulator

PRO15 = "doubao-seedance-1-5-pro-251215"


def test_drafts_then_finals_each_billed_once(tmp_path: Path) -> None:
    lines = [{"model": PRO15, "prompt": f"a lighthouse at dusk, take {n}"} for n in range(3)]
    lines.append({"model": PRO15, "prompt": "a draft at 720p", "resolution": "720p"})
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with simulator(tmp_path, "--time-scale", "0.001", "--unlimited") as sim:
        common = ["--provider", "ark", "--config", str(sim.config), "--poll-scale", "0.001"]
        drafts = run_cli("run", "t.jsonl", "--draft", "--out", "d.jsonl", *common, cwd=tmp_path)
        assert drafts.returncode == 3, drafts.stdout + drafts.stderr  # the 720p line is refused
        assert "a draft renders at 480p" in drafts.stdout + drafts.stderr
        assert [e["charge"] for e in sim.ledger("ark")] == ["draft"] * 3
        # Keep two of the three drafts.
        kept = read_jsonl(tmp_path / "d.jsonl")[:2]
        (tmp_path / "keep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
        made = run_cli(
            "finalize",
            *("--journal", "d.journal.db", "--out", "f.jsonl", "--keep", "keep.jsonl"),
            *("--resolution", "720p", "--watermark", "false"),
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        assert "seedance-async run f.jsonl --provider ark --out f-results.jsonl" in made.stdout
        finals = read_jsonl(tmp_path / "f.jsonl")
        draft_ids = {r["task_id"] for r in kept}
        assert {f["from_draft"] for f in finals} == draft_ids
        assert {f["metadata"]["draft_key"] for f in finals} == {r["key"] for r in kept}
        assert all(f["resolution"] == "720p" and "prompt" not in f for f in finals)
        for _ in range(2):  # a second run of the finals sends nothing again
            done = run_cli("run", "f.jsonl", "--out", "f-results.jsonl", *common, cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
        billed = sim.ledger("ark")
        assert [e["charge"] for e in billed] == ["draft"] * 3 + ["final"] * 2
        assert {e["draft_task_id"] for e in billed[3:]} == draft_ids
        results = read_jsonl(tmp_path / "f-results.jsonl")
        assert len(results) == 2
        assert all(r["outcome"] == "succeeded" for r in results)


def test_finalize_without_drafts_says_so(tmp_path: Path) -> None:
    missing = run_cli("finalize", "--journal", "nope.db", "--out", "f.jsonl", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such journal" in missing.stderr
