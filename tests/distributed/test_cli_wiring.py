"""`run --redis` queues a batch and `status --redis` reports it, through the main CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedance_async.cli import main

MODEL = "doubao-seedance-1-0-pro-250528"


def test_run_with_redis_queues_valid_lines_and_status_reports_them(
    tmp_path: Path, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --redis` validates, queues the valid lines once, and `status --redis` counts them."""
    tasks = tmp_path / "batch.jsonl"
    lines = [json.dumps({"model": MODEL, "prompt": f"cat {n}"}) for n in range(5)]
    lines.append(json.dumps({"model": MODEL, "prompt": "bad", "frames": 30}))
    tasks.write_text("\n".join(lines) + "\n")
    argv = ["run", str(tasks), "--provider", "ark", "--redis", redis_url, "--redis-prefix", prefix]
    assert main(argv) == 3  # one invalid line; the five valid ones were queued
    out = capsys.readouterr()
    assert "5 queued, 0 already known" in out.out
    assert "frames" in out.err
    assert main(argv) == 3
    assert "0 queued, 5 already known" in capsys.readouterr().out
    status = [
        "status",
        "--redis",
        redis_url,
        "--batch",
        "batch",
        "--redis-prefix",
        prefix,
        "--json",
    ]
    assert main(status) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total"] == 5


def test_status_needs_a_journal_or_a_redis_batch(capsys: pytest.CaptureFixture[str]) -> None:
    """`status` without --journal or --redis is a usage error that says what is missing."""
    assert main(["status"]) == 2
    assert "--journal" in capsys.readouterr().err
