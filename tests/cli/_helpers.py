"""Run the CLI and the simulator as subprocesses: start, read, kill, always clean up."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import tomllib
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from seedance_async import load_task
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV
from seedance_async.simulator._server import config_toml
from seedance_async.spec import task_hash

PRO = "doubao-seedance-1-0-pro-250528"
LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO_FAST = "doubao-seedance-1-0-pro-fast-251015"
PRO_15 = "doubao-seedance-1-5-pro-251215"
IMAGE = "https://example.com/cli-test/{n}.png"
CLI = [sys.executable, "-m", "seedance_async"]
FINISHED = re.compile(r"finished=(\d+)/(\d+)")
# Fast budgets for the simulator (the built-in ones are a real provider's).
FAST = {"submit_rpm": 600_000.0, "poll_rps": 1000.0, "max_running": 200, "reconcile_settle": 0.2}
# Everything a test reads from a subprocess must arrive well within this.
DEADLINE = 120.0


def env() -> dict[str, str]:
    """The environment for CLI runs: the simulator's key, and nothing buffered."""
    return {**os.environ, KEY_ENV: DEFAULT_KEY, "PYTHONUNBUFFERED": "1"}


class Sim:
    """A ``seedance-async simulate`` subprocess and the config file it wrote."""

    def __init__(self, proc: subprocess.Popen[str], config: Path, urls: dict[str, str]) -> None:
        self.proc = proc
        self.config = config
        self.urls = urls

    def ledger(self, provider: str) -> list[dict[str, Any]]:
        """The provider's billing ledger (``GET /_sim/ledger`` on its root URL)."""
        parts = urlsplit(self.urls[provider])
        url = f"{parts.scheme}://{parts.netloc}/_sim/ledger"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            data: list[dict[str, Any]] = json.load(response)
        return data


@contextmanager
def simulator(
    folder: Path, *args: str, providers: Sequence[str] = ("ark", "chainhub"), **budget: Any
) -> Iterator[Sim]:
    """Start the simulator; yields once its config (with fast budgets) is written."""
    config = folder / "sim.toml"
    cmd = [*CLI, "simulate", "--write-config", str(config), *args]
    for name in providers:
        cmd += ["--provider", name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env())  # noqa: S603
    try:
        with watchdog(proc):
            urls: dict[str, str] = {}
            assert proc.stdout is not None
            for line in proc.stdout:
                words = line.split()
                if len(words) == 2 and words[1].startswith("http"):
                    urls[words[0]] = words[1]
                if line.startswith("wrote "):
                    break
            else:
                raise AssertionError(f"simulator exited early ({proc.wait()})")
        data = tomllib.loads(config.read_text())
        for table in data["providers"].values():
            table.update({**FAST, **budget})
        config.write_text(config_toml(data))
        yield Sim(proc, config, urls)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    """Terminate a subprocess (SIGKILL if it lingers) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def watchdog(proc: subprocess.Popen[str], seconds: float = DEADLINE) -> Iterator[None]:
    """Kill ``proc`` if the block takes longer than ``seconds`` (so a hang fails, not blocks)."""
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start ``seedance-async ARGS`` with stdout (and stderr) on one pipe."""
    return subprocess.Popen(  # noqa: S603 (our own CLI)
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
        cwd=cwd,
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``seedance-async ARGS`` to the end; stdout and stderr kept apart."""
    return subprocess.run(  # noqa: S603 (our own CLI)
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd,
        timeout=DEADLINE,
        check=False,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, parsed."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def task_line(n: int) -> dict[str, Any]:
    """The n-th task of a mixed batch: four models, three scenarios, all unique prompts."""
    prompt = f"cli batch task #{n}: a paper boat on a river"
    kind = n % 5
    if kind == 0:
        return {"model": PRO, "prompt": prompt, "duration": 5, "metadata": {"n": n}}
    if kind == 1:
        return {"model": LITE_T2V, "prompt": prompt, "resolution": "720p", "ratio": "16:9"}
    if kind == 2:
        image = {"url": IMAGE.format(n=n), "role": "first_frame"}
        return {"model": PRO_FAST, "prompt": prompt, "images": [image]}
    if kind == 3:
        images = [
            {"url": IMAGE.format(n=f"{n}a"), "role": "first_frame"},
            {"url": IMAGE.format(n=f"{n}b"), "role": "last_frame"},
        ]
        return {"model": LITE_I2V, "prompt": prompt, "images": images}
    return {"model": PRO_15, "prompt": prompt, "duration": 4}


def write_tasks(path: Path, count: int) -> dict[str, str]:
    """Write ``count`` tasks; returns their keys (spec hashes) → prompts."""
    lines = [task_line(n) for n in range(count)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {task_hash(load_task(line)): line["prompt"] for line in lines}


def prompt_of(body: dict[str, Any]) -> str:
    """The text prompt of an Ark create body."""
    return next(str(c["text"]) for c in body["content"] if c.get("type") == "text")


def mp4_is_complete(path: Path) -> bool:
    """True when the file is a sequence of whole MP4 boxes that starts with ``ftyp``."""
    data = path.read_bytes()
    if data[4:8] != b"ftyp":
        return False
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if size < 8:
            return False
        at += size
    return at == len(data)
