"""Batch-level operations on a Redis batch, from any host: enqueue, summarise, read results.

These are what ``seedance-async run --redis URL`` and ``status --redis URL`` call; workers
(:mod:`seedance_async.distributed._worker`) do the processing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import attrs

from seedance_async.core._errors import JournalError
from seedance_async.distributed._conn import connect
from seedance_async.distributed._keys import DEFAULT_PREFIX, BatchKeys
from seedance_async.distributed._queue_lua import ENQUEUE, PROGRESS
from seedance_async.journal._record import dump_fields
from seedance_async.spec._task import VideoTask

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "BatchRestored",
    "EnqueueReport",
    "batch_progress",
    "enqueue_batch",
    "redis_results",
    "redis_summary",
]

_CHUNK = 500


class BatchRestored(JournalError):
    """The batch was rebuilt by its workers after Redis lost its data; enqueueing it again
    would re-run tasks that had finished (and pay for them twice)."""


@attrs.frozen(kw_only=True)
class EnqueueReport:
    """What :func:`enqueue_batch` did.

    Attributes:
        added: keys new to the batch (queued for the workers).
        known: keys the batch already had (left as they are: never queued twice).
    """

    added: int
    known: int


@asynccontextmanager
async def _client(url: str | Redis) -> AsyncIterator[Redis]:
    if not isinstance(url, str):
        yield url
        return
    redis = connect(url, name="seedance-admin")
    try:
        yield redis
    finally:
        await redis.aclose()


async def enqueue_batch(
    url: str | Redis,
    batch: str,
    tasks: Iterable[tuple[str, VideoTask, int | None]],
    *,
    prefix: str = DEFAULT_PREFIX,
    force: bool = False,
) -> EnqueueReport:
    """Queue ``(key, task, line_no)`` tasks for the workers of ``batch`` (idempotent).

    A key the batch already has is left alone, so running the same command again after a
    crash never queues a task twice. Keys are queued in the order given.

    Args:
        url: ``redis://host:port/db`` (or an open ``redis.asyncio.Redis``).
        batch: the batch name (letters, digits, ``_ . : -``).
        tasks: the tasks, keyed (the spec hash is the batch CLI's key).
        prefix: key prefix shared by the deployment.
        force: enqueue even into a batch rebuilt after Redis lost its data.

    Raises:
        BatchRestored: the batch was rebuilt after a Redis data loss and ``force`` is off.
        ValueError: bad batch name.
        redis.exceptions.ConnectionError: Redis cannot be reached.
    """
    keys = BatchKeys.of(batch, prefix)
    items = list(tasks)
    added = 0
    async with _client(url) as redis:
        script = redis.register_script(ENQUEUE)
        for i in range(0, len(items), _CHUNK):
            args: list[Any] = [keys.base, uuid.uuid4().hex, "1" if force else "0"]
            for key, task, line_no in items[i : i + _CHUNK]:
                f = dump_fields(task=task)
                args += [key, f["spec"], f["hash"], "" if line_no is None else str(line_no)]
            new, flag = await script(
                keys=[keys.meta, keys.pending, keys.order, keys.idx], args=args
            )
            if flag == -1:
                raise BatchRestored(
                    f"batch {batch!r} was rebuilt after Redis lost its data; results of tasks "
                    "that finished before the loss may be gone, so their keys cannot be told "
                    "from new ones. Check `status --redis` and the provider console, then "
                    "enqueue with force, or under a new batch name."
                )
            added += int(new)
    return EnqueueReport(added=added, known=len(items) - added)


async def batch_progress(
    redis: Redis, batch: str, *, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any]:
    """Counters of ``batch`` in one atomic read.

    Returns:
        ``total``, ``final``, ``pending`` (queued, unclaimed), ``owned`` (claimed, unfinished),
        ``epoch``, ``restored`` and ``complete`` (every task final, none queued or owned).
    """
    keys = BatchKeys.of(batch, prefix)
    total, final, pending, owned, epoch, restored = await redis.register_script(PROGRESS)(
        keys=[keys.meta, keys.pending, keys.workers], args=[keys.base]
    )
    return {
        "total": int(total),
        "final": int(final),
        "pending": int(pending),
        "owned": int(owned),
        "epoch": epoch,
        "restored": restored == "1",
        "complete": bool(epoch) and int(final) >= int(total) and not pending and not owned,
    }


async def redis_summary(
    url: str | Redis, batch: str, *, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any]:
    """What ``status --redis`` shows, from any host.

    Returns:
        The SQLite journal's summary keys (``total``, ``by_state``, ``by_outcome``,
        ``by_provider``) plus :func:`batch_progress` counters and ``workers``: one dict per
        registered worker (``id``, ``alive``, ``owned``, ``host``, ``pid``, ``seen_at``).
        A batch Redis does not know has ``total`` 0 and an empty ``epoch``.

    Raises:
        redis.exceptions.ConnectionError: Redis cannot be reached.
    """
    keys = BatchKeys.of(batch, prefix)
    async with _client(url) as redis:
        out: dict[str, Any] = await batch_progress(redis, batch, prefix=prefix)
        meta = cast("dict[str, str]", await redis.hgetall(keys.meta))
        out |= {"batch": batch, "by_state": {}, "by_outcome": {}, "by_provider": {}}
        out["restored_at"] = float(meta["restored_at"]) if meta.get("restored_at") else None
        out["created_at"] = float(meta["created_at"]) if meta.get("created_at") else None
        async for _key, value in redis.hscan_iter(keys.idx, count=1000):
            state, outcome, provider = [*str(value).split("|"), "", ""][:3]
            out["by_state"][state] = out["by_state"].get(state, 0) + 1
            if outcome:
                out["by_outcome"][outcome] = out["by_outcome"].get(outcome, 0) + 1
            if provider:
                per = out["by_provider"].setdefault(provider, {})
                label = outcome if state == "final" else state
                per[label] = per.get(label, 0) + 1
        workers = sorted(cast("set[str]", await redis.smembers(keys.workers)))
        out["workers"] = []
        for worker in workers:
            info = cast("dict[str, str]", await redis.hgetall(keys.info(worker)))
            out["workers"].append(
                {
                    "id": worker,
                    "alive": bool(await redis.exists(keys.alive(worker))),
                    "owned": int(await redis.scard(keys.owned(worker))),
                    "host": info.get("host"),
                    "pid": int(info["pid"]) if info.get("pid") else None,
                    "seen_at": float(info["seen_at"]) if info.get("seen_at") else None,
                }
            )
    return out


async def redis_results(
    url: str | Redis, batch: str, *, prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """:meth:`TaskResult.to_dict` of every finished task of ``batch``, in batch order.

    Raises:
        redis.exceptions.ConnectionError: Redis cannot be reached.
    """
    keys = BatchKeys.of(batch, prefix)
    out: list[dict[str, Any]] = []
    async with _client(url) as redis:
        ordered = cast("list[str]", await redis.zrange(keys.order, 0, -1))
        for i in range(0, len(ordered), _CHUNK):
            async with redis.pipeline(transaction=False) as pipe:
                for key in ordered[i : i + _CHUNK]:
                    pipe.hget(keys.task(key), "result")
                rows: list[str | None] = await pipe.execute()
            out += [json.loads(r) for r in rows if r]
    return out
