"""End to end: Redis, the simulator and three worker processes; one is SIGKILLed mid-batch."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from seedance_async import VideoTask
from seedance_async.distributed._batch import enqueue_batch, redis_results, redis_summary
from seedance_async.simulator import max_in_window
from tests.distributed._procs import Proc, SimProcess, field, worker_args
from tests.distributed._sim_proc import SUBMIT_RPS

MODEL = "doubao-seedance-1-0-pro-250528"
BURST = 5  # --submit-burst in worker_args
TASKS = 2000


def test_three_workers_one_killed_every_task_billed_once(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """2,000 tasks, three workers sharing 50 creates/s; one worker is SIGKILLed mid-batch.
    Every task finishes, each prompt is billed exactly once, and no second ever saw more
    than 50 + burst creates."""
    specs = [VideoTask(model=MODEL, prompt=f"scale-out {n}") for n in range(TASKS)]
    added = asyncio.run(
        enqueue_batch(
            redis_url, "e2e", [(f"k{n}", t, n + 1) for n, t in enumerate(specs)], prefix=prefix
        )
    )
    assert added.added == TASKS
    sim = SimProcess(tmp_path / "sim.toml")
    workers: list[Proc] = []
    try:
        for n in range(3):
            args = worker_args(redis_url, "e2e", prefix, sim.config, f"w{n}")
            workers.append(Proc(args, name=f"w{n}"))
        victim, survivors = workers[0], workers[1:]
        # Kill once the victim has finished tasks and holds many more at every stage.
        victim.wait_for(lambda line: field(line, "finished") >= 150, timeout=60)
        victim.kill()
        for worker in survivors:
            assert worker.wait(timeout=90) == 0, worker.tail()
        ledger = sim.get("ledger")
        requests = sim.get("requests")
    finally:
        for worker in workers:
            worker.kill()
        sim.terminate()

    exits = [w.lines[-1] for w in survivors]
    assert all(line.startswith("exit ") and "reason=done" in line for line in exits), exits
    assert sum(field(line, "taken_over") for line in exits) > 0, exits

    summary = asyncio.run(redis_summary(redis_url, "e2e", prefix=prefix))
    assert summary["complete"], summary
    assert summary["total"] == summary["final"] == TASKS
    assert summary["by_outcome"] == {"succeeded": TASKS}
    results = asyncio.run(redis_results(redis_url, "e2e", prefix=prefix))
    assert sorted(r["key"] for r in results) == sorted(f"k{n}" for n in range(TASKS))

    billed = Counter(entry["body"]["content"][0]["text"] for entry in ledger)
    assert billed == Counter({t.prompt: 1 for t in specs})  # each billed exactly once
    task_ids = {r["task_id"] for r in results}
    assert task_ids == {entry["task_id"] for entry in ledger}

    creates = [r["time"] for r in requests if r["op"] == "create"]
    assert len(creates) == TASKS
    # Server-side arrival times: requests granted on schedule can bunch a little on the way
    # (scheduling jitter on a loaded 2-core machine), so allow ~10 % in one second; over
    # five seconds the jitter averages out and the budget must hold almost exactly.
    assert max_in_window(creates, 1.0) <= SUBMIT_RPS * 1.1 + BURST
    assert max_in_window(creates, 5.0) <= SUBMIT_RPS * 5 + BURST + 2
