"""A :class:`~seedance_async.journal._protocol.Journal` in Redis: the SQLite journal's records, shared.

One :class:`RedisJournal` belongs to one worker of one batch (the lease, claim and restore
machinery is :class:`~seedance_async.distributed._queue.BatchMember`). Records mirror the SQLite
journal: ``intent`` is written before a paid submit is sent, the remote id right after the
answer, then state changes and the result; each record is one fenced script.

Durability: a write returns once Redis has applied it in memory. Whether it survives a
Redis crash depends on Redis persistence (``appendonly yes`` with ``appendfsync always``
makes the intent as durable as SQLite's FULL sync; ``everysec`` may lose the last second of
writes, and without persistence a restart loses what no live worker remembers).

Recording an intent also sets :data:`~seedance_async.distributed._budget.SUBMIT_MARK` (and
the send fence, :data:`~seedance_async.core._fence.SEND_FENCE`) in the task that will
submit: the submit token granted next in that task is checked against ownership and the
lease and stamps ``sent_at`` on the record, and the request is sent only while the lease
provably runs. An intent without ``sent_at`` provably never left the worker, and never will.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from seedance_async.client._reconcile import matches_spec
from seedance_async.core._clock import Clock
from seedance_async.core._errors import LeaseLost
from seedance_async.core._fence import SEND_FENCE
from seedance_async.distributed._budget import SUBMIT_MARK, SubmitMark
from seedance_async.distributed._callbacks import CallbackTokens
from seedance_async.distributed._keys import DEFAULT_PREFIX
from seedance_async.distributed._queue import BatchMember
from seedance_async.journal._record import dump_fields
from seedance_async.spec._codec import load_task
from seedance_async.spec._handle import TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["LeaseLost", "RedisJournal"]

_SKEW = 30.0  # seconds of clock difference between Redis, us and the provider
_RECHECK = 0.25  # seconds between looks at other lines' unanswered submits


class RedisJournal(BatchMember):
    """The journal of one worker in one batch (and, through its base, its queue and lease).

    Args:
        redis: a ``redis.asyncio.Redis`` answering ``str``.
        batch: the batch name.
        worker: this worker's id (default: host, pid and a random suffix).
        prefix: key prefix shared by every process of the deployment.
        lease: seconds without a heartbeat after which the worker counts as dead.
        clock: time source.
    """

    def __init__(
        self,
        redis: Redis,
        batch: str,
        *,
        worker: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        lease: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(redis, batch, worker=worker, prefix=prefix, lease=lease, clock=clock)
        self._open_intents: set[str] = set()
        self._hold: anyio.Event | None = None
        self.callback_tokens = CallbackTokens(redis, self.keys)
        self._settled: anyio.Event | None = None
        self.finished = 0

    @staticmethod
    def _spec_args(spec: dict[str, str], known: bool) -> list[str]:
        # A key this worker never saw is created by the write (the journal used directly,
        # without a queue); a known key whose record is gone means Redis lost it: restore.
        return [spec["spec"], spec["hash"], "0" if known else "1"]

    def _clear_mark(self, key: str) -> None:
        self._open_intents.discard(key)
        mark = SUBMIT_MARK.get()
        if mark is not None and mark.key == key:
            SUBMIT_MARK.set(None)
            SEND_FENCE.set(None)
        if not self._open_intents and self._settled is not None:
            self._settled.set()

    # -- the Journal protocol ------------------------------------------------------------------

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        """Record that a paid submit of ``key`` is about to be sent (before it is).

        Raises:
            LeaseLost: another worker owns ``key``.
            JournalError: Redis refused the write.
        """
        if self._hold is not None:
            await self._hold.wait()  # shutting down: this submit never starts
        known = key in self._mirror
        fields = {"state": "intent", "provider": provider, "attempt": str(attempt)}
        fields |= {"intent_at": repr(at), "sent_at": "", "task_id": "", "handle": ""}
        fields |= {"status": "", "result": "", "outcome": ""}
        spec = dump_fields(task=task)
        fields |= spec
        if not known:
            fields["line"] = ""
        k = self.keys
        await self._write(
            "intent",
            key,
            fields,
            [k.task(key), k.owner, k.idx, k.meta, k.order, k.owned(self.worker), k.sending],
            [key, self.worker, provider, attempt, repr(at), *self._spec_args(spec, known)],
        )
        self._open_intents.add(key)
        mark = SubmitMark(
            k.task(key), k.owner, key, self.worker, k.alive(self.worker), k.sending, self
        )
        SUBMIT_MARK.set(mark)
        SEND_FENCE.set(mark)

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        """Record the remote task created for ``key``.

        Raises:
            LeaseLost: another worker owns ``key``.
            JournalError: no open intent for ``key``.
        """
        handle_json = dump_fields(handle=handle)["handle"]
        fields = {"state": "submitted", "provider": handle.provider}
        fields |= {"task_id": handle.task_id, "handle": handle_json}
        k = self.keys
        await self._write(
            "submitted",
            key,
            fields,
            [k.task(key), k.owner, k.idx, k.ids, k.idkey, k.sending],
            [key, self.worker, handle.provider, handle.task_id, handle_json],
        )
        self._clear_mark(key)

    async def record_not_created(self, key: str, provider: str, reason: str) -> None:
        """Record that the intended submit provably created nothing (back to ``pending``).

        Raises:
            LeaseLost: another worker owns ``key``.
        """
        fields = {"state": "pending", "intent_at": "", "sent_at": "", "task_id": "", "handle": ""}
        if self._mirror.get(key, {}).get("state") != "intent":
            fields = {}
        k = self.keys
        await self._write(
            "not_created",
            key,
            fields,
            [k.task(key), k.owner, k.idx, k.sending],
            [key, self.worker],
        )
        self._clear_mark(key)

    async def record_callback_token(self, key: str, token: str) -> None:
        """Record the callback token of ``key``'s current attempt (after its intent), so a
        worker that takes the task over registers it again and any worker can tell that
        the token is held (see ``_callbacks``). A secret, as in the SQLite journal."""
        await self.link.call(lambda: self.callback_tokens.record(key, token), "callback token")

    async def callback_token(self, key: str) -> str | None:
        """The callback token recorded for ``key``'s current attempt, if any."""
        return await self.link.call(lambda: self.callback_tokens.token(key), "callback token")

    async def record_status(self, key: str, status: TaskStatus) -> None:
        """Record a state change (ignored once the task is final).

        Raises:
            LeaseLost: another worker owns ``key``.
        """
        if self._mirror.get(key, {}).get("state") == "final":
            return
        status_json = dump_fields(status=status)["status"]
        fields = {"state": status.state.value, "status": status_json}
        if not self._mirror.get(key, {}).get("task_id"):
            fields["task_id"] = status.task_id
        k = self.keys
        await self._write(
            "status",
            key,
            fields,
            [k.task(key), k.owner, k.idx],
            [key, self.worker, status.state.value, status_json, status.task_id],
        )

    async def record_result(self, key: str, result: TaskResult) -> None:
        """Record the final word on ``key`` (its record is created if none exists).

        Raises:
            LeaseLost: another worker owns ``key``.
        """
        handle, attempts = result.handle, result.attempts
        provider = handle.provider if handle else (attempts[-1].provider if attempts else "")
        task_id = handle.task_id if handle else ""
        stored = dump_fields(task=result.task, handle=handle, status=result.status, result=result)
        handle_json, status_json = stored.get("handle", ""), stored.get("status", "")
        result_json = stored["result"]
        spec = {"spec": stored["spec"], "hash": stored["hash"]}
        fields = {"state": "final", "outcome": result.outcome.value, "result": result_json}
        for name, value in (
            ("provider", provider),
            ("task_id", task_id),
            ("handle", handle_json),
            ("status", status_json),
        ):
            if value:
                fields[name] = value
        known = key in self._mirror
        if not known:
            fields |= spec
        k = self.keys
        await self._write(
            "result",
            key,
            fields,
            [
                *(k.task(key), k.owner, k.idx, k.meta, k.owned(self.worker), k.order, k.ids),
                *(k.idkey, k.sending),
            ],
            [
                *(key, self.worker, result.outcome.value, provider, task_id, handle_json),
                *(status_json, result_json, *self._spec_args(spec, known)),
            ],
        )
        self.finished += 1
        self._clear_mark(key)

    # -- adopting listed tasks -----------------------------------------------------------------

    async def adoption_check(
        self,
        key: str,
        task: VideoTask,
        candidates: Sequence[TaskStatus],
        *,
        sent_at: float,
        patience: float,
    ) -> tuple[list[TaskStatus], bool]:
        """Which listed ``candidates`` no other line of the batch owns, and whether that is proven.

        One atomic snapshot of the batch gives the key owning each candidate id (ids are
        journaled before a worker acts on a submit's answer) and every other line whose
        submit token was granted but whose answer is not journaled yet. A candidate another
        line owns is dropped. While another line's unanswered submit could have created a
        remaining candidate (its spec matches what the listing shows, and it was sent
        before the task was created), this waits up to ``patience`` seconds for that line
        to settle, then answers "not proven": the caller adopts nothing.

        The :class:`~seedance_async.client._ambiguous_submit.AdoptionGuard` of this worker.
        """
        deadline = self._clock.now() + patience
        while True:
            free, rivals = await self._adoption_snapshot(key, candidates)
            if not any(_may_have_created(r, c) for r in rivals for c in free):
                return free, True
            if self._clock.now() >= deadline:
                return free, False
            await self._clock.sleep(_RECHECK)

    async def _adoption_snapshot(
        self, key: str, candidates: Sequence[TaskStatus]
    ) -> tuple[list[TaskStatus], list[tuple[VideoTask | None, float]]]:
        k = self.keys
        answer: list[Any] = await self._script(
            "adoption", [k.idkey, k.sending], [k.base, key, *(c.task_id for c in candidates)]
        )
        count = int(answer[0])
        owners, rest = answer[1 : 1 + count], answer[1 + count :]
        free = [c for c, o in zip(candidates, owners, strict=True) if o in ("", key)]
        rivals: list[tuple[VideoTask | None, float]] = []
        for i in range(0, len(rest), 5):
            _, state, sent, task_id, spec = rest[i : i + 5]
            if state != "intent" or not sent or task_id:
                continue
            try:
                rival: VideoTask | None = load_task(json.loads(spec))
            except (TypeError, ValueError):
                rival = None  # unreadable: it may have created anything
            rivals.append((rival, float(sent)))
        return free, rivals

    # -- shutting down -----------------------------------------------------------------------

    def hold_intents(self) -> None:
        """From now on, :meth:`record_intent` waits forever: no new paid submit starts."""
        self._hold = anyio.Event()

    async def wait_intents_settled(self) -> None:
        """Wait until every intent recorded has its remote id, refusal or result."""
        while self._open_intents:
            self._settled = anyio.Event()
            await self._settled.wait()

    @property
    def open_intents(self) -> int:
        """Intents whose submit has not settled yet."""
        return len(self._open_intents)

    def forget(self, key: str) -> None:
        """Drop ``key`` from this worker's memory (it belongs to someone else now)."""
        self._mirror.pop(key, None)
        self.unsent.discard(key)
        self._open_intents.discard(key)


def _may_have_created(rival: tuple[VideoTask | None, float], candidate: TaskStatus) -> bool:
    """Whether a submit of ``rival``'s spec sent at its time could have created ``candidate``."""
    task, sent_at = rival
    created = candidate.created_at.timestamp() if candidate.created_at else None
    if created is not None and created < sent_at - _SKEW:
        return False
    return task is None or matches_spec(candidate, task)
