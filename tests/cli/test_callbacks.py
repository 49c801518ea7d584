"""``run --callback-listen HOST:PORT --callback-url URL``: callbacks through the CLI."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from tests.cli._helpers import PRO, read_jsonl, run_cli, simulator

SUMMARY = re.compile(
    r"callbacks: (\d+) received, (\d+) confirmed, (\d+) rejected; (\d+) of (\d+) tasks found"
    r" by the backstop poll"
)


def _batch(folder: Path, count: int) -> None:
    lines = [{"model": PRO, "prompt": f"callback cli task {n}"} for n in range(count)]
    (folder / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_run_with_callbacks_reports_them_in_its_summary(tmp_path: Path) -> None:
    """Ark posts each end; the run summary counts them, and every task ends."""
    _batch(tmp_path, 6)
    with simulator(tmp_path, "--time-scale", "0.01", providers=["ark"]) as sim:
        done = run_cli(
            *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl"),
            *("--config", str(sim.config), "--poll-scale", "0.01"),
            *("--callback-listen", "127.0.0.1:0"),  # a free port; the URL names it
            cwd=tmp_path,
        )
        ledger = sim.ledger("ark")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["outcome"] for r in read_jsonl(tmp_path / "r.jsonl")] == ["succeeded"] * 6
    found = SUMMARY.search(done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    received, confirmed, rejected, backstop, tasks = map(int, found.groups())
    # A poll may find a task first (then its callback is late, or confirms it as well).
    assert tasks == 6
    assert confirmed + backstop >= 6
    assert received >= confirmed + rejected
    # Each create named its own URL on the address given; the results file holds no token.
    urls = {e["body"]["callback_url"] for e in ledger}
    assert len(urls) == 6
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    tokens = {u.rsplit("/", 1)[1] for u in urls}
    text = (tmp_path / "r.jsonl").read_text() + done.stdout + done.stderr
    assert not any(token in text for token in tokens)


def test_a_callback_port_in_use_fails_before_any_submit(tmp_path: Path) -> None:
    _batch(tmp_path, 2)
    with simulator(tmp_path, "--time-scale", "0.01", providers=["ark"]) as sim:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            failed = run_cli(
                *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl"),
                *("--config", str(sim.config), "--callback-listen", f"127.0.0.1:{port}"),
                cwd=tmp_path,
            )
        assert sim.ledger("ark") == []
    assert failed.returncode == 2
    assert f"cannot listen for callbacks on 127.0.0.1:{port}" in failed.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_callback_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    _batch(tmp_path, 1)
    base = ("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl")
    cases = {
        ("--callback-url", "https://hooks.example.com/sd"): "needs --callback-listen",
        ("--callback-listen", "0.0.0.0:8080"): "give --callback-url",
        ("--callback-listen", "localhost"): "HOST:PORT",
        ("--callback-listen", "127.0.0.1:1", "--callback-url", "ftp://x"): "http(s)",
        ("--callback-listen", "127.0.0.1:1", "--redis", "redis://x"): "worker",
    }
    for extra, message in cases.items():
        done = run_cli(*base, *extra, cwd=tmp_path)
        assert done.returncode == 2, (extra, done.stderr)
        assert message in done.stderr, (extra, done.stderr)
    assert not (tmp_path / "r.jsonl").exists()
