"""Subprocesses for the end-to-end Redis tests: the simulator and worker processes.

Synchronisation is by reading their output (a thread per process feeds a queue), never by
sleeping: a test waits for the line that says what it needs.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seedance_async.simulator import DEFAULT_KEY, KEY_ENV

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.001


class Proc:
    """A child process whose merged output is read line by line into a queue."""

    def __init__(self, args: list[str], *, name: str) -> None:
        env = {**os.environ, KEY_ENV: DEFAULT_KEY, "PYTHONUNBUFFERED": "1"}
        self.name = name
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str:
        """The first line (from now on) that satisfies ``predicate``.

        Raises:
            AssertionError: the process ended or ``timeout`` passed first.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.name}: no such line in {timeout}s: {self.tail()}"
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"{self.name} ended first: {self.tail()}"
            if predicate(line):
                return line

    def tail(self, n: int = 15) -> str:
        """The last lines it printed, for failure messages."""
        return "\n".join(self.lines[-n:])

    def wait(self, timeout: float) -> int:
        """Wait for the exit code."""
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL (no cleanup of any kind), then reap."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, then reap (SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class SimProcess(Proc):
    """``tests.distributed._sim_proc``: the simulator in its own process."""

    def __init__(self, config: Path) -> None:
        super().__init__(
            ["-m", "tests.distributed._sim_proc", str(config), str(TIME_SCALE)], name="sim"
        )
        self.root = self.wait_for(lambda line: line.startswith("ready "), 30).split()[1]
        self.config = config

    def get(self, route: str) -> Any:
        """A ``/_sim/...`` admin route's JSON (loopback only)."""
        with urllib.request.urlopen(f"{self.root}/_sim/{route}", timeout=30) as answer:  # noqa: S310
            return json.load(answer)


def worker_args(url: str, batch: str, prefix: str, config: Path, worker_id: str) -> list[str]:
    """``seedance-async worker`` arguments for the tests (fast leases, frequent progress)."""
    return [
        "-m",
        "seedance_async",
        "worker",
        "--redis",
        url,
        "--batch",
        batch,
        "--prefix",
        prefix,
        "--config",
        str(config),
        "--provider",
        "ark",
        "--lease",
        "2",
        "--submit-burst",
        "5",
        "--concurrency",
        "300",
        "--time-scale",
        str(TIME_SCALE),
        "--progress-interval",
        "0.2",
        "--id",
        worker_id,
    ]


def field(line: str, name: str) -> int:
    """An integer ``name=N`` field of a worker line (-1 when absent)."""
    found = re.search(rf"\b{name}=(\d+)", line)
    return int(found.group(1)) if found else -1
