"""Every distributed fault in one run: a worker frozen (SIGSTOP) past its lease, another
SIGKILLed, and Redis restarted (data kept) while both are out, then the frozen one thawed.

Each fault has its own test elsewhere; this one checks that they compose: every task ends
``succeeded``, each prompt is billed exactly once (the simulator's ledger), no line adopts
another line's task, and every worker ends either done (exit 0) or, having found its tasks
taken over, with exit 75 (README, "Distributed-mode guarantees").
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from pathlib import Path

import redis as sync_redis

from seedance_async import VideoTask
from seedance_async.distributed._batch import enqueue_batch, redis_results, redis_summary
from seedance_async.distributed._keys import BatchKeys
from tests.distributed._procs import Proc, SimProcess, field, worker_args
from tests.distributed.conftest import RedisServer

MODEL = "doubao-seedance-1-0-pro-250528"
TASKS = 900
EXIT_LEASE_LOST = 75


def _worker(server: RedisServer, sim: SimProcess, worker_id: str) -> Proc:
    args = worker_args(server.url, "chaos", "seedance:", sim.config, worker_id)
    args[args.index("--concurrency") + 1] = "100"
    return Proc(args, name=worker_id)


def _wait_until_owns_nothing(server: RedisServer, worker_id: str, watcher: Proc) -> None:
    """Return once ``worker_id`` owns no unfinished key of the batch: checked after each progress line
    ``watcher`` prints (every 0.2 s while it runs), so the wait follows the workers, not a
    clock."""
    keys = BatchKeys.of("chaos")
    client = sync_redis.Redis.from_url(server.url, decode_responses=True)
    try:
        for _ in range(300):
            if client.scard(keys.owned(worker_id)) == 0:
                return
            watcher.wait_for(lambda line: "finished=" in line, timeout=30)
        raise AssertionError(f"{worker_id} still owns keys: {watcher.tail()}")
    finally:
        client.close()


def _stuck(server: RedisServer) -> str:
    """The records of the batch that are not final, for failure messages."""
    keys = BatchKeys.of("chaos")
    client = sync_redis.Redis.from_url(server.url, decode_responses=True)
    try:
        summary = asyncio.run(redis_summary(server.url, "chaos"))
        done = {r["key"] for r in asyncio.run(redis_results(server.url, "chaos"))}
        stuck = [k for k in (f"k{n}" for n in range(TASKS)) if k not in done]
        rows = [
            f"{k}: owner={client.hget(keys.owner, k)!r} {client.hgetall(keys.task(k))}"
            for k in stuck[:5]
        ]
        return f"summary={summary}\n" + "\n".join(rows)
    finally:
        client.close()


def test_sigkill_sigstop_and_a_redis_restart_in_one_run_bill_each_task_once(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    specs = [VideoTask(model=MODEL, prompt=f"chaos {n}") for n in range(TASKS)]
    items = [(f"k{n}", t, n + 1) for n, t in enumerate(specs)]
    asyncio.run(enqueue_batch(private_redis.url, "chaos", items))
    sim = SimProcess(tmp_path / "sim.toml")
    workers: list[Proc] = []
    frozen: Proc | None = None
    try:
        workers = [_worker(private_redis, sim, f"w{n}") for n in range(3)]
        killed, frozen, survivor = workers
        for worker in workers:
            worker.wait_for(lambda line: field(line, "finished") >= 30, timeout=60)

        # Freeze one worker mid-flight: it holds claimed, submitted and running tasks.
        frozen.process.send_signal(signal.SIGSTOP)
        # Kill another without cleanup.
        killed.kill()
        # Redis goes away while both are out of the game and comes back with its data.
        private_redis.stop(save=True)
        survivor.wait_for(lambda line: "redis=down" in line, timeout=30)
        private_redis.start()
        # A replacement for the killed worker; the survivor and it take over the keys of
        # both the dead and the frozen worker once their leases run out.
        replacement = _worker(private_redis, sim, "w3")
        workers.append(replacement)
        # Wait (by reading Redis, not the clock) until the frozen worker owns nothing.
        _wait_until_owns_nothing(private_redis, "w1", survivor)
        # Thaw the frozen worker: whatever it held was taken over, so it must neither send
        # what it was about to send nor keep working on keys it no longer owns.
        frozen.process.send_signal(signal.SIGCONT)

        try:
            exits = {w.name: w.wait(timeout=120) for w in (frozen, survivor, replacement)}
        except subprocess.TimeoutExpired:
            tails = "\n\n".join(
                f"{w.name}:\n" + "\n".join(x for x in w.lines if not x.startswith("progress"))
                for w in workers
            )
            raise AssertionError(
                f"a worker did not end:\n{tails}\n{_stuck(private_redis)}"
            ) from None
        assert set(exits.values()) <= {0, EXIT_LEASE_LOST}, (
            exits,
            frozen.tail(),
            survivor.tail(),
            replacement.tail(),
        )
        assert exits["w1"] == EXIT_LEASE_LOST, frozen.tail()
        # Whatever ended with exit 75 may have left keys behind: a restarted worker drains
        # them, as an operator's supervisor would (README: "restart the worker").
        rounds = 0
        while not asyncio.run(redis_summary(private_redis.url, "chaos"))["complete"]:
            rounds += 1
            assert rounds <= 3, asyncio.run(redis_summary(private_redis.url, "chaos"))
            again = _worker(private_redis, sim, f"w{3 + rounds}")
            workers.append(again)
            assert again.wait(timeout=120) in {0, EXIT_LEASE_LOST}, again.tail()
        ledger = sim.get("ledger")
    finally:
        if frozen is not None and frozen.process.poll() is None:
            frozen.process.send_signal(signal.SIGCONT)
        for worker in workers:
            worker.kill()
        sim.terminate()

    summary = asyncio.run(redis_summary(private_redis.url, "chaos"))
    assert not summary["restored"], summary
    assert summary["total"] == summary["final"] == TASKS, summary
    assert summary["by_outcome"] == {"succeeded": TASKS}, summary
    results = asyncio.run(redis_results(private_redis.url, "chaos"))
    assert sorted(r["key"] for r in results) == sorted(key for key, _, _ in items)
    billed = Counter(entry["body"]["content"][0]["text"] for entry in ledger)
    assert billed == Counter({t.prompt: 1 for t in specs})  # no duplicate, none missing
    # No line adopted another line's task: each result's remote task ran its own prompt.
    prompt_of_task = {entry["task_id"]: entry["body"]["content"][0]["text"] for entry in ledger}
    prompt_of_key = {key: task.prompt for key, task, _ in items}
    assert {r["key"]: prompt_of_task[r["task_id"]] for r in results} == prompt_of_key
