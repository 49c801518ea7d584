"""2. Scale: memory per tracked task and the tracker's own CPU per poll with 10k-100k tasks.

Method. Each case runs in a fresh process (``python -m benchmarks.bench_scale --case ...``)
so its peak RSS is its own (``VmHWM``: see :func:`peak_rss_kb`). Submitting 100,000 tasks over HTTP would measure
the simulator, so tasks are attached the way a resumed batch is: ``Tracker.resume`` with one
:class:`JournalEntry` per task (a distinct spec and a synthetic handle). The transport is a
function of the request that answers every GET with a realistic Ark ``running`` task
object (and, unlike ``testing.FunctionTransport``, logs nothing), so there is no network and the CPU measured is the library's alone: budget,
request building, answer parsing, status handling and the heap scheduler. The tracker polls
flat out (zero-wait schedule) until every task was polled ``polls_per_task`` times, so every
task holds a status like it would in a real run.

Cases: ``base`` (client and tracker open, nothing tracked), ``inputs`` (the N specs and
journal entries built, as a caller holds them, but not tracked) and ``tracked`` (the same N
tasks tracked and polled). Per task: (tracked - base) / N is what a user pays for a task in
the tracker including its spec; (tracked - inputs) / N is the tracker's own share.

The scheduler's own cost is also timed alone: one reschedule plus one pop of
:class:`PollHeap` (the heap) with N entries.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import anyio

from benchmarks._common import (
    MODEL,
    REPO_ROOT,
    ZERO_WAIT,
    BenchResult,
    Row,
    cpu_now,
    sample_task,
    verdict,
)
from seedance_async import ApiKey, Client, ProviderConfig, TaskHandle, Timeouts, Tracker
from seedance_async.core import HttpRequest, HttpResponse
from seedance_async.journal import JournalEntry
from seedance_async.spec import task_hash
from seedance_async.testing import FakeClock
from seedance_async.tracker._heap import PollHeap

__all__ = ["child", "peak_rss_kb", "run"]

TARGET_BYTES = 2048
_ALIAS = "ark"
_PATH = "/contents/generations/tasks/"


def _config() -> ProviderConfig:
    # No list endpoint: every task poll is one request, the case where per-poll costs show.
    return ProviderConfig(
        alias=_ALIAS,
        adapter="ark",
        base_url="http://127.0.0.1:9/api/v3",
        api_key=ApiKey("sk-bench"),
        options={"can_list": False},
        poll_rps=1e9,
        max_running=10**7,
    )


def _task_id(n: int) -> str:
    return f"cgt-20260101000000-{n:05x}"


def _entries(n: int) -> list[JournalEntry]:
    now = time.time()
    out = []
    for i in range(n):
        task = sample_task(i)
        out.append(
            JournalEntry(
                key=f"batch-line-{i:07d}",
                task=task,
                provider=_ALIAS,
                handle=TaskHandle(
                    provider=_ALIAS,
                    adapter="ark",
                    model=MODEL,
                    task_id=_task_id(i),
                    created_at=now,
                    spec_hash=task_hash(task),
                ),
            )
        )
    return out


class _RunningTransport:
    """Answers every status GET with Ark's ``running`` task object; counts the polls.

    Unlike ``testing.FunctionTransport`` it keeps no log of requests, which would be
    counted as tracker memory.
    """

    def __init__(self, target: int) -> None:
        self.polls = 0
        self.target = target
        self.reached = anyio.Event()
        stamp = int(time.time())
        self._tail = (
            f'","model":"{MODEL}","status":"running","created_at":{stamp},'
            f'"updated_at":{stamp},"service_tier":"default","execution_expires_after":172800}}'
        ).encode()

    async def send(self, request: HttpRequest, *, timeouts: Timeouts | None = None) -> HttpResponse:
        """The running task object of the id in the path."""
        self.polls += 1
        if self.polls >= self.target:
            self.reached.set()
        task_id = request.path.rsplit("/", 1)[1]
        return HttpResponse(status=200, body=b'{"id":"' + task_id.encode() + self._tail)

    async def aclose(self) -> None:
        """Nothing to close."""


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` from ``/proc/self/status``: Linux carries ``ru_maxrss`` across ``execve``, so
    a process forked from a large parent would report the parent's size as its own peak.
    ``ru_maxrss`` is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _heap_us(tracker: Tracker, cycles: int) -> float:
    """Microseconds for one reschedule + one pop with every tracked task in the heap."""
    tasks = list(tracker._table.tasks.values())  # the tracker's own records, as it schedules them
    heap = PollHeap(FakeClock())
    for i, tracked in enumerate(tasks):
        heap.schedule(tracked, float(i))
    now = float(len(tasks))
    start = time.perf_counter()
    for k in range(cycles):
        for tracked in heap.pop_due(k):
            heap.schedule(tracked, now + k)
    return (time.perf_counter() - start) / cycles * 1e6


async def _case(case: str, n: int, polls_per_task: int) -> dict[str, Any]:
    handler = transport = _RunningTransport(target=max(1, n * polls_per_task))
    out: dict[str, Any] = {"case": case, "n": n}
    entries = _entries(n) if case in ("inputs", "tracked") else []
    async with Client([_config()], transport_factory=lambda *_: transport) as client:
        with anyio.CancelScope() as scope:
            async with Tracker(
                client, schedule=ZERO_WAIT, submit_workers=1, download_workers=1
            ) as tracker:
                if case == "tracked":
                    cpu = cpu_now()
                    await tracker.resume(entries)
                    out["attach_us"] = (cpu_now() - cpu) / max(n, 1) * 1e6
                    del entries[:]  # the tracker holds what it needs
                    cpu, wall = cpu_now(), time.perf_counter()
                    await handler.reached.wait()
                    out["poll_us"] = (cpu_now() - cpu) / handler.polls * 1e6
                    out["polls"] = handler.polls
                    out["polls_per_s"] = handler.polls / (time.perf_counter() - wall)
                    out["heap_us"] = _heap_us(tracker, cycles=min(200_000, 4 * n))
                scope.cancel()
        out["maxrss_kb"] = peak_rss_kb()
        out["alive"] = len(entries)  # keep the inputs alive until RSS is read
    return out


def child(case: str, n: int, polls_per_task: int) -> dict[str, Any]:
    """Run one case in this process and return its figures."""
    return anyio.run(_case, case, n, polls_per_task)


def _spawn(case: str, n: int, polls_per_task: int) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "benchmarks.bench_scale",
            "--case",
            case,
            "--n",
            str(n),
            "--polls-per-task",
            str(polls_per_task),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


async def run(
    *, sizes: tuple[int, ...] = (10_000, 100_000), polls_per_task: int = 2
) -> BenchResult:
    """Memory per tracked task and CPU per poll at each size, each case in its own process."""
    result = BenchResult("scale")
    base = await anyio.to_thread.run_sync(_spawn, "base", 0, polls_per_task)
    result.figures["base_rss_mb"] = base["maxrss_kb"] / 1024
    b = "2 scale"
    for n in sizes:
        inputs = await anyio.to_thread.run_sync(_spawn, "inputs", n, polls_per_task)
        tracked = await anyio.to_thread.run_sync(_spawn, "tracked", n, polls_per_task)
        per_task = (tracked["maxrss_kb"] - base["maxrss_kb"]) * 1024 / n
        own = (tracked["maxrss_kb"] - inputs["maxrss_kb"]) * 1024 / n
        f = result.figures
        f[f"rss_bytes_per_task_{n}"] = per_task
        f[f"tracker_own_bytes_per_task_{n}"] = own
        f[f"peak_rss_mb_{n}"] = tracked["maxrss_kb"] / 1024
        f[f"poll_cpu_us_{n}"] = tracked["poll_us"]
        f[f"polls_per_s_{n}"] = tracked["polls_per_s"]
        f[f"attach_cpu_us_{n}"] = tracked["attach_us"]
        f[f"heap_us_{n}"] = tracked["heap_us"]
        label = f"{n:,} tasks"
        result.rows += [
            Row(
                b,
                f"peak RSS per tracked task, {label} (spec included)",
                f"{per_task:,.0f} B",
                "",
                f"tracker own {own:,.0f} B",
                f"<= {TARGET_BYTES:,} B",
                verdict(per_task <= TARGET_BYTES),
            ),
            Row(
                b,
                f"library CPU per poll, no network, {label}",
                f"{tracked['poll_us']:.1f} us",
                "",
                f"heap alone {tracked['heap_us']:.2f} us",
            ),
        ]
    return result


def main() -> None:
    """Entry point of a case process: prints its figures as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=("base", "inputs", "tracked"), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--polls-per-task", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(child(args.case, args.n, args.polls_per_task)))


if __name__ == "__main__":
    main()
