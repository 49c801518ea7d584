"""Many workers on many hosts sharing one Redis: budgets, journal, work queue, worker.

Needs the ``redis`` extra (``pip install -e '.[redis]'`` in a checkout) to connect.
"""

from __future__ import annotations

from seedance_async.distributed._batch import BatchRestored, EnqueueReport, enqueue_batch
from seedance_async.distributed._budget import RedisBudget, redis_budget_factory
from seedance_async.distributed._journal import LeaseLost, RedisJournal
from seedance_async.distributed._worker import RedisWorker, WorkerReport, WorkerSettings

__all__ = [
    "BatchRestored",
    "EnqueueReport",
    "LeaseLost",
    "RedisBudget",
    "RedisJournal",
    "RedisWorker",
    "WorkerReport",
    "WorkerSettings",
    "enqueue_batch",
    "redis_budget_factory",
]
