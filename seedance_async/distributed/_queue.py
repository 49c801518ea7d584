"""A worker's membership of a Redis batch: lease, claims, takeover, and restore.

Theory of operation
-------------------
A worker *claims* keys from the batch's pending list; each claimed key is *owned* by it
(``owner`` hash and its ``owned`` set; layout in :mod:`seedance_async.distributed._keys`) for
as long as its *lease* lives. The lease is one key per worker, renewed by
:meth:`BatchMember.heartbeat`: one write per beat, however many tasks the worker follows.
When a lease runs out, another worker takes the dead one's unfinished keys over, a chunk at
a time (:meth:`BatchMember.take_over`), and follows them from their records.

Every write is fenced on ownership: a worker that was declared dead (its lease ran out while
it was paused or cut off) gets :class:`LeaseLost` instead of overwriting its successor's
records, and must stop. The paid request is fenced too: the submit token is granted only
to the owner under a live lease (:mod:`seedance_async.distributed._budget`), and right
before the request is sent the worker checks that its lease still provably runs
(:meth:`BatchMember.lease_holds`): the time of the last renewal Redis confirmed, taken when
the renewal was *sent*, plus the lease, on the local monotonic clock. A worker paused
between its token and its send therefore sends nothing once its lease may have run out,
which is the only time another worker can take its keys over; it asks for a new token,
whose grant proves ownership again (or refuses: :class:`LeaseLost`). A worker that lost touch itself waits a whole lease before taking
anything over (:meth:`BatchMember.steady_for`): the others may be reconnecting too.

Each Redis call waits until Redis answers (:class:`RedisLink`): a worker pauses and loses
nothing while Redis is away. Every record the worker writes or claims is also kept in
memory; when Redis comes back without the batch (restarted without persistence),
:meth:`BatchMember.restore` writes back what this worker knows and marks the batch
``restored``. Records only Redis held (keys nobody had claimed, tasks of workers that are
gone) are lost with it.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio

from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import JournalError, LeaseLost
from seedance_async.distributed._conn import RedisLink
from seedance_async.distributed._keys import DEFAULT_PREFIX, BatchKeys
from seedance_async.distributed._queue_lua import (
    ADOPTION,
    CLAIM,
    HEARTBEAT,
    INTENT,
    NOT_CREATED,
    RESTORE,
    RESULT,
    STATUS,
    SUBMITTED,
    TAKEOVER,
)
from seedance_async.journal._record import JournalRecord, load_record
from seedance_async.spec._codec import dumps

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BatchMember", "default_worker_id"]

_RESTORE_CHUNK = 200
# Sending is refused this long before the lease provably ends: the fence is checked right
# before the request is handed to the transport, and a few event-loop steps may pass.
_SEND_MARGIN = 0.05


def default_worker_id() -> str:
    """``host-pid-random``: unique per process, readable in ``status``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class BatchMember:
    """One worker's membership of one batch: its lease, its claims, what it knows.

    Args:
        redis: a ``redis.asyncio.Redis`` answering ``str``.
        batch: the batch name.
        worker: this worker's id (default: host, pid and a random suffix).
        prefix: key prefix shared by every process of the deployment.
        lease: seconds without a heartbeat after which the worker counts as dead.
        clock: time source for ``intent_at``-like stamps and sleeps.
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
        self.keys = BatchKeys.of(batch, prefix)
        self.batch = batch
        self.worker = worker or default_worker_id()
        self.lease = lease
        self._clock = clock or SystemClock()
        self.link = RedisLink(redis, clock=self._clock, name=f"journal {batch}")
        self._redis = redis
        self._mirror: dict[str, dict[str, str]] = {}
        self.unsent: set[str] = set()  # keys in hand with no submit sent (pending, intent)
        self._epoch: str | None = None
        self._restore_lock: anyio.Lock | None = None
        self._ids_seen = 0
        self._beats = 0
        self.lapsed_at: float | None = None  # wall time a heartbeat found our lease gone
        self.lease_until = -math.inf  # clock.now() until which our lease provably runs
        self.taken_from: dict[str, str] = {}  # key -> the worker we took it over from
        self.restores = 0
        self._scripts = {
            name: redis.register_script(text)
            for name, text in {
                "intent": INTENT,
                "submitted": SUBMITTED,
                "not_created": NOT_CREATED,
                "status": STATUS,
                "result": RESULT,
                "claim": CLAIM,
                "takeover": TAKEOVER,
                "heartbeat": HEARTBEAT,
                "restore": RESTORE,
                "adoption": ADOPTION,
            }.items()
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch={self.batch!r}, worker={self.worker!r})"

    # -- plumbing ----------------------------------------------------------------------------

    def _note(self, key: str) -> None:
        if self._mirror.get(key, {}).get("state") in ("pending", "intent", "new"):
            self.unsent.add(key)
        else:
            self.unsent.discard(key)

    async def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        return await self.link.call(lambda: script(keys=keys, args=args), name)

    async def _write(
        self, name: str, key: str, fields: Mapping[str, str], keys: list[str], args: list[Any]
    ) -> None:
        self._mirror.setdefault(key, {}).update(fields)  # first: a restore must see it
        self._note(key)
        for _ in range(3):
            answer = await self._script(name, keys, args)
            if answer == "ok":
                return
            if answer == "lost":
                raise LeaseLost(f"batch {self.batch}: {key!r} belongs to another worker now")
            if answer == "missing":
                await self.restore()
                continue
            raise JournalError(f"batch {self.batch}: {name} for {key!r} refused ({answer})")
        raise JournalError(f"batch {self.batch}: {key!r} keeps vanishing from Redis")

    # -- leases --------------------------------------------------------------------------------

    def extend(self, until: float) -> None:
        """Our lease provably runs until ``until`` (``clock.now()``): a grant said so."""
        self.lease_until = max(self.lease_until, until)

    def lease_holds(self) -> bool:
        """True while our lease provably runs (a paid request may go out now).

        False means it may have run out, so another worker may own our keys and send them
        itself: send nothing before a new token's grant has proven ownership again.
        """
        return self._clock.now() < self.lease_until - _SEND_MARGIN

    def sent(self, key: str, at: str) -> None:
        """Remember the ``sent_at`` stamp a submit token put on ``key`` (for a restore)."""
        fields = self._mirror.get(key)
        if fields is not None and fields.get("state") == "intent":
            fields["sent_at"] = at

    async def refresh(self) -> None:
        """Renew the lease now (a grant found it gone, or the record lost with Redis).

        Raises:
            LeaseLost: keys were taken from us meanwhile.
        """
        await self.heartbeat()

    async def heartbeat(self, *, info: Mapping[str, str] | None = None) -> None:
        """Renew this worker's lease; restore the batch if Redis lost it.

        Raises:
            LeaseLost: the lease had run out and another worker took some of our keys.
        """
        k = self.keys
        if info:
            await self.link.call(
                lambda: self._redis.hset(k.info(self.worker), mapping=cast("Any", info)), "info"
            )
        asked_at = self._clock.now()
        had, epoch = await self._script(
            "heartbeat",
            [k.alive(self.worker), k.meta, k.workers, k.info(self.worker)],
            [self.worker, max(1, int(self.lease * 1000))],
        )
        self._beats += 1
        if not had and self._beats > 1:
            self.lapsed_at = self._clock.wall()
        if self._epoch is None:
            self._epoch = epoch or None
        elif epoch != self._epoch:
            await self.restore()  # Redis lost the batch (or another worker restored it first)
        elif not had:
            await self._check_ownership()
        # Set from before the call: nobody can take our keys while the lease runs, and the
        # checks above found none taken before it was renewed.
        self.extend(asked_at + self.lease)

    async def _check_ownership(self) -> None:
        mine = [key for key, f in self._mirror.items() if f.get("state") != "final"]
        if not mine:
            return
        owners = cast(
            "list[str | None]",
            await self.link.call(lambda: self._redis.hmget(self.keys.owner, mine), "owners"),
        )
        taken = [key for key, o in zip(mine, owners, strict=True) if o and o != self.worker]
        if taken:
            raise LeaseLost(f"batch {self.batch}: our lease ran out; {len(taken)} keys taken over")

    async def restore(self) -> int:
        """Write back every record this worker knows that Redis no longer has.

        Returns:
            How many records were written.

        Raises:
            LeaseLost: another worker owns a key this worker holds.
        """
        if self._restore_lock is None:
            self._restore_lock = anyio.Lock()
        async with self._restore_lock:
            k = self.keys
            items = [(key, dumps(f)) for key, f in self._mirror.items() if f.get("spec")]
            if not items:  # nothing to give back: learn the epoch at the next heartbeat
                self._epoch = None
                return 0
            lost: list[str] = []
            epoch = self._epoch or ""
            for i in range(0, len(items), _RESTORE_CHUNK):
                args: list[Any] = [k.base, self.worker, uuid.uuid4().hex, self._epoch or ""]
                for key, fields in items[i : i + _RESTORE_CHUNK]:
                    args += [key, fields]
                answer = await self._script(
                    "restore",
                    [
                        *(k.meta, k.order, k.idx, k.owner, k.owned(self.worker)),
                        *(k.ids, k.idkey, k.sending),
                    ],
                    args,
                )
                epoch, lost = answer[0], lost + list(answer[1:])
            self._epoch = epoch
            self._ids_seen = 0
            self.restores += 1
            if lost:
                raise LeaseLost(f"batch {self.batch}: {len(lost)} of our keys have another owner")
            return len(items)

    def steady_for(self) -> float:
        """Seconds since this worker last lost touch with Redis or its own lease (inf: never).

        Others may have lost touch at the same time: a worker takes nobody's keys over
        before it has been steady for a whole lease, which gives every other worker the
        time to renew its own.
        """
        since = [t for t in (self.link.recovered_at, self.lapsed_at) if t is not None]
        return self._clock.wall() - max(since) if since else math.inf

    async def release(self) -> None:
        """End this worker's lease now, so others take over its unfinished keys at once."""
        await self.link.try_call(lambda: self._redis.delete(self.keys.alive(self.worker)), "bye")

    # -- claiming ------------------------------------------------------------------------------

    async def _keys_from(self, name: str, keys: list[str], args: list[Any]) -> list[str] | None:
        answer = await self._script(name, keys, args)
        if answer[0] == "dead":
            await self.heartbeat()
            answer = await self._script(name, keys, args)
        return list(answer[1:]) if answer[0] == "ok" else None

    async def claim(self, limit: int) -> list[JournalRecord]:
        """Take up to ``limit`` pending keys from the queue, in batch order."""
        k = self.keys
        keys = await self._keys_from(
            "claim",
            [k.pending, k.owner, k.owned(self.worker), k.alive(self.worker)],
            [self.worker, limit],
        )
        return await self.records(keys or [])

    async def dead_workers(self) -> list[str]:
        """Registered workers (other than this one) whose lease has run out."""
        k = self.keys
        workers = cast(
            "set[str]", await self.link.call(lambda: self._redis.smembers(k.workers), "workers")
        )
        others = sorted(w for w in workers if w != self.worker)
        if not others:
            return []
        alive: list[int] = await self.link.call(
            lambda: self._pipeline_exists([k.alive(w) for w in others]), "leases"
        )
        return [w for w, a in zip(others, alive, strict=True) if not a]

    async def _pipeline_exists(self, names: Iterable[str]) -> list[int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(name)
            out: list[int] = await pipe.execute()
        return out

    async def take_over(self, limit: int) -> list[JournalRecord]:
        """Take up to ``limit`` unfinished keys of workers whose lease ran out."""
        k = self.keys
        for dead in await self.dead_workers():
            taken = await self._keys_from(
                "takeover",
                [
                    k.alive(dead),
                    k.owned(dead),
                    k.owner,
                    k.owned(self.worker),
                    k.workers,
                    k.alive(self.worker),
                ],
                [dead, self.worker, limit],
            )
            if taken:
                self.taken_from.update(dict.fromkeys(taken, dead))
                return await self.records(taken)
        return []

    async def worker_info(self, worker: str) -> dict[str, str]:
        """What ``worker`` registered about itself (``host``, ``pid``, ``seen_at``), if anything."""
        name = self.keys.info(worker)
        out = await self.link.call(lambda: self._redis.hgetall(name), "worker info")
        return cast("dict[str, str]", out)

    async def owned_keys(self) -> set[str]:
        """Unfinished keys Redis says this worker owns."""
        k = self.keys
        out = await self.link.call(lambda: self._redis.smembers(k.owned(self.worker)), "owned")
        return cast("set[str]", out)

    async def records(self, keys: Sequence[str]) -> list[JournalRecord]:
        """The records of ``keys`` (missing ones skipped); they join this worker's memory."""
        if not keys:
            return []

        async def read() -> list[dict[str, str]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(self.keys.task(key))
                out: list[dict[str, str]] = await pipe.execute()
            return out

        rows = await self.link.call(read, "records")
        out = []
        for key, fields in zip(keys, rows, strict=True):
            if fields and fields.get("spec"):
                self._mirror[key] = dict(fields)
                self._note(key)
                out.append(_record(self.batch, key, fields, self.worker))
        return out

    async def new_task_ids(self) -> list[str]:
        """Remote ids recorded by any worker since the last call (for ``remember()``)."""
        name = self.keys.ids
        total: int = await self.link.call(lambda: self._redis.llen(name), "ids")
        if total < self._ids_seen:  # the list restarted: Redis lost its data
            self._ids_seen = 0
        start = self._ids_seen
        ids = cast(
            "list[str]", await self.link.call(lambda: self._redis.lrange(name, start, -1), "ids")
        )
        self._ids_seen = start + len(ids)
        return ids


def _record(batch: str, key: str, fields: Mapping[str, str], owner: str) -> JournalRecord:
    try:
        return load_record(key, fields, owner=owner)
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"batch {batch}: the record of {key!r} is unreadable: {exc}") from exc
