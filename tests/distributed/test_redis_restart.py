"""Redis going away mid-batch, with and without its data: exactly what the design claims.

Claims (README, "What survives a Redis loss"):

* Redis unreachable, data kept (restart with persistence, network cut): workers pause and
  continue; nothing is lost and nothing is billed twice.
* Redis restarted *without* persistence: every task a live worker had claimed survives
  (the worker writes back its records, results included, and the batch is marked
  ``restored``); keys still queued and unclaimed are lost, and were never billed; nothing
  is billed twice; enqueueing the batch again is refused.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from seedance_async import VideoTask
from seedance_async.distributed._batch import (
    BatchRestored,
    enqueue_batch,
    redis_results,
    redis_summary,
)
from seedance_async.simulator import max_in_window
from tests.distributed._procs import Proc, SimProcess, field, worker_args
from tests.distributed._sim_proc import SUBMIT_RPS
from tests.distributed.conftest import RedisServer

MODEL = "doubao-seedance-1-0-pro-250528"
BURST = 5
TASKS = 600


def _run_batch_across_a_restart(
    server: RedisServer, tmp_path: Path, *, save: bool
) -> tuple[list[VideoTask], list[Proc], list[dict[str, object]], list[float]]:
    """Two workers; Redis stops once they have finished some tasks and comes back once both
    say it is down. Returns the specs, the workers, the ledger and the create times."""
    specs = [VideoTask(model=MODEL, prompt=f"restart {n}") for n in range(TASKS)]
    items = [(f"k{n}", t, n + 1) for n, t in enumerate(specs)]
    asyncio.run(enqueue_batch(server.url, "rb", items))
    sim = SimProcess(tmp_path / "sim.toml")
    workers: list[Proc] = []
    try:
        for n in range(2):
            args = worker_args(server.url, "rb", "seedance:", sim.config, f"w{n}")
            args[args.index("--concurrency") + 1] = "100"
            # A lease longer than the outage: this test is about what survives a restart.
            # An outage that outlasts the lease may legitimately hand a live worker's keys to
            # another one, which then stops with exit 75 (README, "What survives a Redis
            # loss"); with the tests' 2 s lease that raced the restart on a busy machine.
            args[args.index("--lease") + 1] = "8"
            workers.append(Proc(args, name=f"w{n}"))
        for worker in workers:
            worker.wait_for(lambda line: field(line, "finished") >= 40, timeout=60)
        server.stop(save=save)
        for worker in workers:  # each notices, and pauses
            worker.wait_for(lambda line: "redis=down" in line, timeout=30)
        server.start()
        for worker in workers:
            assert worker.wait(timeout=90) == 0, worker.tail()
        ledger = sim.get("ledger")
        creates = [r["time"] for r in sim.get("requests") if r["op"] == "create"]
    finally:
        for worker in workers:
            worker.kill()
        sim.terminate()
    return specs, workers, ledger, creates


def test_a_restart_that_keeps_the_data_loses_nothing(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis down mid-batch, back with its data: workers pause, then finish every task; each
    prompt is billed exactly once."""
    specs, workers, ledger, creates = _run_batch_across_a_restart(
        private_redis, tmp_path, save=True
    )
    summary = asyncio.run(redis_summary(private_redis.url, "rb"))
    assert summary["complete"]
    assert not summary["restored"]
    assert summary["total"] == summary["final"] == TASKS
    assert summary["by_outcome"] == {"succeeded": TASKS}
    billed = Counter(entry["body"]["content"][0]["text"] for entry in ledger)  # type: ignore[index]
    assert billed == Counter({t.prompt: 1 for t in specs})
    # Server-side arrival times: requests granted on schedule can bunch a little on the way
    # (scheduling jitter on a loaded 2-core machine), so allow ~10 % in one second; over
    # five seconds the jitter averages out and the budget must hold almost exactly.
    assert max_in_window(creates, 1.0) <= SUBMIT_RPS * 1.1 + BURST
    assert max_in_window(creates, 5.0) <= SUBMIT_RPS * 5 + BURST + 2
    assert all("reason=done" in w.lines[-1] for w in workers)


def test_a_restart_without_persistence_keeps_what_live_workers_know(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis restarted empty mid-batch: every task the live workers had claimed comes back
    and finishes (results included); unclaimed keys are lost and were never billed; nothing
    is billed twice; enqueueing the batch again is refused."""
    specs, workers, ledger, creates = _run_batch_across_a_restart(
        private_redis, tmp_path, save=False
    )
    claimed = sum(field(w.lines[-1], "claimed") for w in workers)
    summary = asyncio.run(redis_summary(private_redis.url, "rb"))
    assert summary["restored"], summary
    assert summary["complete"], summary
    # Every claimed task survived the loss; the queue's remainder did not.
    assert summary["total"] == summary["final"] == claimed
    assert 0 < claimed < TASKS
    assert summary["by_outcome"] == {"succeeded": claimed}
    results = asyncio.run(redis_results(private_redis.url, "rb"))
    result_prompts = {r["key"] for r in results}
    billed = Counter(entry["body"]["content"][0]["text"] for entry in ledger)  # type: ignore[index]
    assert set(billed.values()) == {1}  # nothing billed twice
    prompt_of = {f"k{n}": t.prompt for n, t in enumerate(specs)}
    assert set(billed) == {prompt_of[k] for k in result_prompts}  # every paid task has its result
    # After a loss the bucket starts full again: one more burst at most.
    # Server-side arrival times: requests granted on schedule can bunch a little on the way
    # (scheduling jitter on a loaded 2-core machine), so allow ~10 % in one second; over
    # five seconds the jitter averages out and the budget must hold almost exactly.
    assert max_in_window(creates, 1.0) <= SUBMIT_RPS * 1.1 + 2 * BURST
    assert max_in_window(creates, 5.0) <= SUBMIT_RPS * 5 + 2 * BURST + 2
    items = [(f"k{n}", t, n + 1) for n, t in enumerate(specs)]
    with pytest.raises(BatchRestored):
        asyncio.run(enqueue_batch(private_redis.url, "rb", items))
