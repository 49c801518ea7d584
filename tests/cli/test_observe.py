"""Observability on the command line: --log-json lines and the --metrics-port endpoint."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedance_async.cli._run import _log_json
from seedance_async.simulator import DEFAULT_KEY
from tests.cli._helpers import PRO, run_cli, simulator


def _batch(folder: Path, count: int) -> None:
    lines = [{"model": PRO, "prompt": f"observed #{n}"} for n in range(count)]
    (folder / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_log_json_writes_one_object_per_state_change_and_no_key(tmp_path: Path) -> None:
    _batch(tmp_path, 2)
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        done = run_cli(
            *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--log-json"),
            *("--config", str(sim.config), "--poll-scale", "0.001"),
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    events = [(r["event"], r["key"]) for r in records if r["logger"] == "seedance_async.events"]
    keys = {key for _, key in events}
    assert len(keys) == 2
    for key in keys:
        assert ("submitted", key) in events
        assert ("succeeded", key) in events
    assert all(r["level"] == "info" and r["provider"] == "ark" for r in records)
    assert all(r["model"] == PRO for r in records)
    assert DEFAULT_KEY not in done.stdout + done.stderr


@pytest.fixture
def restore_logging() -> Iterator[None]:
    logger = logging.getLogger("seedance_async")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_log_handler_redacts_the_keys_it_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What ``run --log-json`` installs: the keys of the aliases in use never reach stderr."""
    _log_json(["sk-cli-secret-42"])
    logging.getLogger("seedance_async.client").warning("refused: key sk-cli-secret-42")
    err = capsys.readouterr().err
    assert json.loads(err)["message"] == "refused: key [redacted]"
    assert "sk-cli-secret-42" not in err


def test_a_metrics_port_in_use_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    _batch(tmp_path, 1)
    with (
        socket.socket() as busy,
        simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim,
    ):
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli(
            *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl"),
            *("--config", str(sim.config), "--metrics-port", str(port)),
            cwd=tmp_path,
        )
        billed = sim.ledger("ark")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"metrics port {port} on 127.0.0.1: cannot listen" in done.stderr
    assert billed == []
