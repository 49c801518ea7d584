"""RedisJournal: claims, leases and takeover, fenced writes, restore, views from any host."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import attrs
import pytest
from redis.asyncio import Redis

from seedance_async import Outcome, TaskHandle, TaskResult, TaskState, TaskStatus, VideoTask
from seedance_async.distributed._batch import (
    BatchRestored,
    enqueue_batch,
    redis_results,
    redis_summary,
)
from seedance_async.distributed._budget import SUBMIT_MARK, RedisBudget
from seedance_async.distributed._journal import LeaseLost, RedisJournal
from seedance_async.journal import Journal, SqliteJournal
from seedance_async.journal._record import JournalRecord
from seedance_async.spec import dump_result, task_hash

MODEL = "doubao-seedance-1-0-pro-250528"


def tasks(n: int, word: str = "journal") -> list[tuple[str, VideoTask, int | None]]:
    out: list[tuple[str, VideoTask, int | None]] = []
    for i in range(n):
        task = VideoTask(model=MODEL, prompt=f"{word} {i}")
        out.append((f"k{i}", task, i + 1))
    return out


def handle(task_id: str, task: VideoTask) -> TaskHandle:
    return TaskHandle(
        provider="ark",
        adapter="ark",
        model=MODEL,
        task_id=task_id,
        created_at=time.time(),
        spec_hash=task_hash(task),
    )


async def join(redis: Redis, prefix: str, worker: str, lease: float = 5.0) -> RedisJournal:
    journal = RedisJournal(redis, "b1", worker=worker, prefix=prefix, lease=lease)
    await journal.heartbeat()
    return journal


async def test_enqueue_is_idempotent_and_claims_follow_batch_order(
    redis: Redis, prefix: str
) -> None:
    """Keys are queued once, whatever the number of enqueues; claims come in line order."""
    first = await enqueue_batch(redis, "b1", tasks(5), prefix=prefix)
    again = await enqueue_batch(redis, "b1", tasks(7), prefix=prefix)
    assert (first.added, first.known, again.added, again.known) == (5, 0, 2, 5)
    journal = await join(redis, prefix, "w1")
    claimed = await journal.claim(3)
    assert [r.key for r in claimed] == ["k0", "k1", "k2"]
    assert [r.line_no for r in claimed] == [1, 2, 3]
    assert all(r.state == "pending" and r.owner == "w1" for r in claimed)
    assert [r.key for r in await journal.claim(10)] == ["k3", "k4", "k5", "k6"]
    assert await journal.claim(10) == []


async def test_a_dead_workers_keys_are_taken_over_and_it_is_fenced_out(
    redis: Redis, prefix: str
) -> None:
    """When a lease runs out another worker takes the keys; the old owner can no longer write."""
    await enqueue_batch(redis, "b1", tasks(6), prefix=prefix)
    w1 = await join(redis, prefix, "w1", lease=0.3)
    w2 = await join(redis, prefix, "w2")
    mine = await w1.claim(4)
    await w1.record_intent("k0", mine[0].task, "ark", 0, time.time())
    await w1.record_submitted("k0", handle("cgt-1", mine[0].task))
    assert await w2.take_over(10) == []  # w1 is alive
    taken: list[str] = []
    with anyio.fail_after(5):
        while not taken:  # w1 stopped beating; its lease runs out within 0.3 s
            await w2.heartbeat()
            taken += [r.key for r in await w2.take_over(10)]
            await anyio.sleep(0.05)
    assert sorted(taken) == ["k0", "k1", "k2", "k3"]
    k0 = next(r for r in await w2.records(["k0"]))
    assert k0.state == "submitted"
    assert k0.handle is not None
    assert k0.handle.task_id == "cgt-1"
    with pytest.raises(LeaseLost):
        await w1.record_status(
            "k1", TaskStatus(task_id="x", provider="ark", state=TaskState.RUNNING)
        )
    with pytest.raises(LeaseLost):
        await w1.heartbeat()
    assert await w2.new_task_ids() == ["cgt-1"]
    assert await w2.new_task_ids() == []


async def test_the_submit_token_stamps_the_intent_it_sends(redis: Redis, prefix: str) -> None:
    """``sent_at`` is written with the grant of the submit token, and only for that intent."""
    await enqueue_batch(redis, "b1", tasks(2), prefix=prefix)
    journal = await join(redis, prefix, "w1")
    budget = RedisBudget(redis, f"{prefix}budget", submit_rate=100)
    claimed = await journal.claim(2)

    async def intent_then_token(key: str, task: VideoTask, send: bool) -> None:
        await journal.record_intent(key, task, "ark", 0, time.time())
        if send:
            await budget.before_submit()

    async with anyio.create_task_group() as tg:  # one task per submit, as in the tracker
        tg.start_soon(intent_then_token, "k0", claimed[0].task, True)
        tg.start_soon(intent_then_token, "k1", claimed[1].task, False)
    assert SUBMIT_MARK.get() is None  # the mark lives in the task that journaled the intent
    k0, k1 = await journal.records(["k0", "k1"])
    assert k0.state == "intent"
    assert k0.sent_at is not None
    assert k1.state == "intent"
    assert k1.sent_at is None
    await journal.record_not_created("k1", "ark", "refused")
    (k1,) = await journal.records(["k1"])
    assert k1.state == "pending"
    assert k1.intent_at is None
    assert journal.open_intents == 1  # k0 is still on its way


async def test_results_are_visible_from_another_connection(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    """Summary and results read over a fresh connection show what a worker journaled."""
    await enqueue_batch(redis, "b1", tasks(3), prefix=prefix)
    journal = await join(redis, prefix, "w1")
    claimed = await journal.claim(2)
    task = claimed[0].task
    await journal.record_intent("k0", task, "ark", 0, time.time())
    h = handle("cgt-9", task)
    await journal.record_submitted("k0", h)
    status = TaskStatus(
        task_id="cgt-9", provider="ark", state=TaskState.SUCCEEDED, video_url="https://v/1.mp4"
    )
    await journal.record_status("k0", status)
    result = TaskResult(key="k0", task=task, outcome=Outcome.SUCCEEDED, status=status, handle=h)
    await journal.record_result("k0", result)

    summary = await redis_summary(redis_url, "b1", prefix=prefix)
    assert summary["total"] == 3
    assert summary["final"] == 1
    assert summary["pending"] == 1
    assert summary["by_state"] == {"final": 1, "pending": 2}
    assert summary["by_outcome"] == {"succeeded": 1}
    assert summary["by_provider"] == {"ark": {"succeeded": 1}}
    assert summary["owned"] == 1
    assert not summary["complete"]
    assert [w["id"] for w in summary["workers"]] == ["w1"]
    assert summary["workers"][0]["alive"]
    rows = await redis_results(redis_url, "b1", prefix=prefix)
    assert rows == [dump_result(result)]


async def test_what_a_live_worker_knows_survives_a_data_loss(redis: Redis, prefix: str) -> None:
    """After Redis loses the batch a worker writes back its records and marks the batch
    restored; keys nobody had claimed are gone, and enqueueing again is refused."""
    await enqueue_batch(redis, "b1", tasks(5), prefix=prefix)
    journal = await join(redis, prefix, "w1")
    claimed = await journal.claim(2)
    task = claimed[0].task
    await journal.record_intent("k0", task, "ark", 0, time.time())
    await journal.record_submitted("k0", handle("cgt-5", task))
    result = TaskResult(key="k1", task=claimed[1].task, outcome=Outcome.FAILED, reason="x")
    await journal.record_result("k1", result)

    names = [n async for n in redis.scan_iter(match=f"{prefix}*")]
    await redis.delete(*names)  # what a restart without persistence does to the batch

    await journal.heartbeat()
    assert journal.restores == 1
    summary = await redis_summary(redis, "b1", prefix=prefix)
    assert summary["restored"]
    assert summary["total"] == 2
    assert summary["final"] == 1
    assert summary["by_state"] == {"submitted": 1, "final": 1}
    (k0,) = await journal.records(["k0"])
    assert k0.handle is not None
    assert k0.handle.task_id == "cgt-5"
    assert await redis_results(redis, "b1", prefix=prefix) == [dump_result(result)]
    assert await journal.new_task_ids() == ["cgt-5"]
    with pytest.raises(BatchRestored):
        await enqueue_batch(redis, "b1", tasks(5), prefix=prefix)

    # A write that finds its record gone restores first, then applies.
    names = [n async for n in redis.scan_iter(match=f"{prefix}*")]
    await redis.delete(*names)
    status = TaskStatus(task_id="cgt-5", provider="ark", state=TaskState.RUNNING)
    await journal.record_status("k0", status)
    (k0,) = await journal.records(["k0"])
    assert k0.state == "running"
    assert journal.restores == 2


async def test_redis_and_sqlite_hold_the_same_record(
    redis: Redis, prefix: str, tmp_path: Path
) -> None:
    """One record type and one stored form: the same writes read back equal from both."""
    await enqueue_batch(redis, "b1", tasks(1), prefix=prefix)
    shared = await join(redis, prefix, "w1")
    (claimed,) = await shared.claim(1)
    task = claimed.task
    h = handle("cgt-7", task)
    running = TaskStatus(task_id="cgt-7", provider="ark", state=TaskState.RUNNING, progress=0.5)
    done = TaskStatus(
        task_id="cgt-7", provider="ark", state=TaskState.SUCCEEDED, video_url="https://v/7.mp4"
    )
    result = TaskResult(
        key="k0", task=task, outcome=Outcome.SUCCEEDED, status=done, handle=h, finished_at=9.0
    )
    seen: dict[str, list[JournalRecord | None]] = {"redis": [], "sqlite": []}
    writes: list[Callable[[Journal], Awaitable[None]]] = [
        lambda j: j.record_intent("k0", task, "ark", 0, 5.0),
        lambda j: j.record_submitted("k0", h),
        lambda j: j.record_status("k0", running),
        lambda j: j.record_result("k0", result),
    ]
    async with SqliteJournal(tmp_path / "j.sqlite") as local:
        await local.add_pending("k0", task, line_no=1)
        for write in writes:
            for journal in (shared, local):
                await write(journal)
            seen["redis"] += await shared.records(["k0"])
            seen["sqlite"].append(await local.get("k0"))

    def comparable(record: JournalRecord | None) -> JournalRecord:
        # Who holds the key and when it was written are the store's own business.
        assert record is not None
        return attrs.evolve(record, owner=None, updated_at=0.0, sent_at=None)

    records = {store: list(map(comparable, found)) for store, found in seen.items()}
    assert [r.state for r in records["sqlite"]] == ["intent", "submitted", "running", "final"]
    assert records["redis"] == records["sqlite"]
    assert records["redis"][-1].result == result
