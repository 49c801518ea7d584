"""One worker process of a Redis batch: claim, submit, follow, take over, repeat.

Theory of operation
-------------------
A worker is a :class:`Client` whose budgets are :class:`RedisBudget` (shared with every
other worker using the same keys), a :class:`Tracker` whose journal is this worker's
:class:`RedisJournal`, and four loops:

* the *claim loop* keeps up to ``concurrency`` unfinished tasks in the tracker, claiming
  pending keys from the batch queue as tasks finish, and ends when the batch is complete
  (every task final, none queued or owned by anyone) or a stop is requested;
* the *heartbeat loop* renews the worker's lease and its running slots, and nothing else
  (a renewal held up by slow work would let the lease lapse);
* the *takeover loop* feeds every remote id any worker created into
  ``ProviderClient.remember``, takes over the keys of workers whose lease ran out, and
  adopts keys Redis says we own but we do not follow (a claim whose answer was lost);
* a *progress loop* prints one line every few seconds.

A key taken over (or claimed) is handled by its record, never by a blind resubmit:
``pending`` is submitted; ``intent`` without ``sent_at`` provably never left the old owner
and never will (a submit token is granted only to the owner under a live lease, see
:data:`SUBMIT_MARK`) and is submitted; ``intent`` with ``sent_at`` is reconciled by listing
(:meth:`ProviderClient.reconcile`): the task found is adopted; when the listing proves none
was created (and the alias allows resubmitting then, as its own submits do) it is submitted,
but only once the old owner's last possible send has had time to be listed: an old owner
that may still be alive (paused, cut off) sends only while its lease runs, so the new owner
lists again ``timeouts.total`` + ``reconcile_settle`` after taking the key over; one
provably gone (same host, process ended) needs no wait. Otherwise the task ends ``unknown``
with the candidates. Records with a remote id are re-attached by :meth:`Tracker.resume`.

Reconciliation adopts a listed task only when the shared journal proves it is no other
line's (:meth:`RedisJournal.adoption_check`): no line recorded its id, and no other line's
granted, unanswered submit could have created it. Every worker records the id a submit
returned before it acts on it, and a granted submit stays in the journal's ``sending`` set
until then, so a task listed by another worker is always accounted for.

Stopping (SIGTERM): no new submit starts, submits already on their way are seen through
until their remote id or refusal is journaled, then the worker ends its lease at once so
others take its tasks over immediately. A worker that learns its lease ran out and keys
were taken from it (:class:`LeaseLost`) stops at once; it never writes over its successor
and never sends a submit its successor may send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import anyio
import attrs

from seedance_async.callbacks._server import CallbackServer
from seedance_async.client._alias import SubmitOutcomeUnknown
from seedance_async.client._client import Client, TransportFactory
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import ConfigurationError, InvalidTaskSpec, ProviderError
from seedance_async.core._events import FINAL_KINDS, Event
from seedance_async.distributed._batch import batch_progress
from seedance_async.distributed._budget import RedisBudget, redis_budget_factory
from seedance_async.distributed._callbacks import RedisCallbackRelay
from seedance_async.distributed._conn import connect
from seedance_async.distributed._journal import LeaseLost, RedisJournal
from seedance_async.distributed._keys import DEFAULT_PREFIX, budget_prefix
from seedance_async.distributed._queue import default_worker_id
from seedance_async.journal._record import JournalRecord
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import Outcome, TaskResult
from seedance_async.tracker._callbacks import CallbackSummary
from seedance_async.tracker._tracker import Tracker

__all__ = ["RedisWorker", "WorkerReport", "WorkerSettings"]


@attrs.frozen(kw_only=True)
class WorkerSettings:
    """How a worker runs.

    Attributes:
        url: ``redis://host:port/db``.
        batch: the batch to work on.
        providers: every alias the batch may use (all workers need the same ones).
        order: failover order of aliases for new submits (default: all, in order).
        concurrency: most unfinished tasks followed at once by this worker.
        chunk: most keys claimed or taken over at once; a worker also claims only while
            it holds fewer than ``chunk`` keys not yet sent, so that workers share the
            queue and a dead worker leaves little unsent work behind.
        lease: seconds without a heartbeat after which others take over this worker's tasks.
        heartbeat: seconds between heartbeats (default ``lease / 4``).
        submit_burst: creates allowed back to back per key (default 1: evenly spaced).
        poll_burst: status/list requests allowed back to back per key (default 1).
        schedule: poll timing (``PollSchedule().scaled(...)`` against a fast simulator).
        retry: retry policy for requests.
        exit_when_done: stop once the batch is complete (else keep waiting for work).
        progress_interval: seconds between progress lines.
        prefix: Redis key prefix of the deployment.
        worker_id: this worker's id (default ``host-pid-random``).
        resubmit_horizon: a taken-over submit sent longer ago than this is never resent,
            even when listing finds no task (a list may not reach that far back).
        submit_workers / poll_workers: tracker concurrency.
        callback_listen: ``HOST:PORT`` this worker receives provider callbacks on (None:
            poll only); bound before the worker claims anything.
        callback_url: the public URL that reaches it (default ``http://HOST:PORT``).
        backstop: poll timing of tasks sent with a callback URL.
        confirm_window: seconds to gather callbacks before confirming them together.
    """

    url: str
    batch: str
    providers: tuple[ProviderConfig, ...]
    order: tuple[str, ...] | None = None
    concurrency: int = 500
    lease: float = 15.0
    heartbeat: float | None = None
    chunk: int = 100
    submit_burst: float | None = None
    poll_burst: float | None = None
    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    retry: RetryPolicy | None = None
    exit_when_done: bool = True
    progress_interval: float = 5.0
    prefix: str = DEFAULT_PREFIX
    worker_id: str | None = None
    resubmit_horizon: float = 60.0
    submit_workers: int = 64
    poll_workers: int = 16
    callback_listen: str | None = None
    callback_url: str | None = None
    backstop: PollSchedule = attrs.field(factory=PollSchedule.backstop)
    confirm_window: float = 0.5


@attrs.define
class WorkerReport:
    """What a worker did, and why it stopped (``done``, ``stopped`` or ``lease lost``).

    ``paths`` counts how keys were taken on: ``submitted`` (never sent), ``resent``
    (an intent proven unsent), ``reconciled`` (adopted by listing), ``reattached`` (by
    remote id) and ``resumed`` (left to :meth:`Tracker.resume`).
    """

    worker: str
    reason: str = "running"
    claimed: int = 0
    taken_over: int = 0
    finished: int = 0
    restores: int = 0
    paths: dict[str, int] = attrs.field(factory=dict)
    callbacks: CallbackSummary | None = None

    def count(self, path: str) -> None:
        """Count one key taken on by ``path``."""
        self.paths[path] = self.paths.get(path, 0) + 1


class RedisWorker:
    """One worker of a Redis batch; :meth:`run` it until the batch is done or ``stop`` is set.

    Args:
        settings: what to run and how.
        env: where API keys are read (default ``os.environ``).
        transport_factory: for tests (see :class:`Client`).
        output: where progress lines go (default: stdout, flushed).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        env: Mapping[str, str] | None = None,
        transport_factory: TransportFactory | None = None,
        output: Callable[[str], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_event_extra = on_event
        self.id = settings.worker_id or default_worker_id()
        self.report = WorkerReport(worker=self.id)
        self._env = env
        self._transport_factory = transport_factory
        self._out = output or (lambda line: print(line, flush=True))
        self._handled: set[str] = set()
        self._budgets: list[RedisBudget] = []
        self._wake: anyio.Event | None = None  # set when a task ends: room to claim more
        self._stopping = False

    # -- wiring ------------------------------------------------------------------------------

    def _say(self, kind: str, **fields: Any) -> None:
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        self._out(f"{kind} worker={self.id} {text}".rstrip())

    def _on_event(self, event: Event) -> None:
        if event.kind in FINAL_KINDS and self._wake is not None:
            self._wake.set()

    async def run(self, stop: anyio.Event | None = None) -> WorkerReport:
        """Work until the batch is complete (or forever without ``exit_when_done``) or
        ``stop`` is set; see the module doc for what stopping does.

        Returns:
            The report; ``reason`` is ``lease lost`` when other workers took our tasks.

        Raises:
            ConfigurationError: a key is missing, or a task names an alias not configured.
        """
        s = self.settings
        stop = stop or anyio.Event()
        redis = connect(s.url, name=f"seedance-worker:{self.id}")
        self.journal = RedisJournal(redis, s.batch, worker=self.id, prefix=s.prefix, lease=s.lease)
        factory = redis_budget_factory(
            redis,
            prefix=budget_prefix(s.prefix),
            submit_burst=s.submit_burst,
            poll_burst=s.poll_burst,
            slot_lease=s.lease,
            holder=self.id,
            created=self._budgets,
        )
        try:
            info = {"host": socket.gethostname(), "pid": str(os.getpid())}
            await self.journal.heartbeat(info=info)
            self._say("started", batch=s.batch, concurrency=s.concurrency)
            async with Client(
                s.providers,
                budget_factory=factory,
                env=self._env,
                transport_factory=self._transport_factory,
                retry=s.retry,
            ) as client:
                client.events.add_callback(self._on_event)
                if self._on_event_extra is not None:
                    client.events.add_callback(self._on_event_extra)
                self.client = client
                for alias in client.aliases:
                    client.provider(alias).guard_adoptions(self.journal.adoption_check)
                await self._run_tracker(client, stop)
        except* LeaseLost as group:
            self.report.reason = "lease lost"
            self._say("lease-lost", error=str(_first_leaf(group)))
        finally:
            with anyio.CancelScope(shield=True):
                for budget in self._budgets:
                    await budget.aclose()
                await self.journal.release()  # others take over whatever is left at once
                await redis.aclose()
        self.report.finished = self.journal.finished
        tracker = getattr(self, "tracker", None)
        self.report.callbacks = tracker.callback_stats if tracker is not None else None
        self.report.restores = self.journal.restores
        extra: dict[str, Any] = {}
        if self.report.callbacks is not None:
            c = self.report.callbacks
            extra = {
                "callbacks_received": c.received,
                "callbacks_confirmed": c.confirmed,
                "callbacks_rejected": c.rejected,
                "found_by_backstop": c.found_by_backstop,
            }
        self._say("exit", reason=self.report.reason, **self._counts(), **self.report.paths, **extra)
        return self.report

    async def _run_tracker(self, client: Client, stop: anyio.Event) -> None:
        s = self.settings
        callbacks = None
        self._relay: RedisCallbackRelay | None = None
        if s.callback_listen is not None:
            callbacks = CallbackServer(listen=s.callback_listen, public_url=s.callback_url)
            # Any worker may receive a callback for a task another one follows.
            self._relay = RedisCallbackRelay(self.journal.link.redis, self.journal.keys)
            callbacks.receiver.relay = self._relay
        with anyio.CancelScope() as tracker_scope:
            async with Tracker(
                client,
                providers=list(s.order) if s.order else None,
                journal=self.journal,
                schedule=s.schedule,
                submit_workers=s.submit_workers,
                poll_workers=s.poll_workers,
                callbacks=callbacks,
                backstop=s.backstop,
                confirm_window=s.confirm_window,
            ) as tracker:
                self.tracker = tracker
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    tg.start_soon(self._beat_loop)
                    tg.start_soon(self._takeover_loop)
                    tg.start_soon(self._progress_loop)
                    if self._relay is not None and callbacks is not None:
                        tg.start_soon(self._relay.run, callbacks.receiver)
                    self.report.reason = await self._claim_loop(stop)
                    if self.report.reason == "stopped":
                        await self._drain()
                        tracker_scope.cancel()
                    tg.cancel_scope.cancel()

    async def _drain(self) -> None:
        self._stopping = True
        self.journal.hold_intents()
        self._say("stopping", open_intents=self.journal.open_intents)
        # Submits already on the wire get their remote id or refusal journaled; a paused
        # Redis may hold this up, and a second signal ends the process.
        await self.journal.wait_intents_settled()

    def _counts(self) -> dict[str, Any]:
        tracker = getattr(self, "tracker", None)
        return {
            "claimed": self.report.claimed,
            "taken_over": self.report.taken_over,
            "finished": self.journal.finished,
            "active": tracker.pending if tracker is not None else 0,
            "redis": "down" if self.journal.link.down_since is not None else "up",
        }

    # -- loops -------------------------------------------------------------------------------

    async def _claim_loop(self, stop: anyio.Event) -> str:
        s = self.settings
        tick = max(0.05, min(0.5, self._heartbeat_every()))
        while not stop.is_set():
            self._wake = wake = anyio.Event()
            room = min(s.concurrency - self.tracker.pending, s.chunk - len(self.journal.unsent))
            if room > 0:
                records = await self.journal.claim(room)
                if records:
                    self.report.claimed += len(records)
                    await self._adopt(records)
                    continue
            progress = await self.journal.link.call(
                lambda: batch_progress(self.journal.link.redis, s.batch, prefix=s.prefix),
                "progress",
            )
            if progress["complete"] and self.tracker.pending == 0 and s.exit_when_done:
                return "done"
            with anyio.move_on_after(tick):
                await wake.wait()
        return "stopped"

    def _heartbeat_every(self) -> float:
        return self.settings.heartbeat or self.settings.lease / 4

    async def _beat_loop(self) -> None:
        # Only the lease and the slots here: nothing slow may hold up a renewal (a lease
        # that lapses lets others take our keys, and stops our paid sends).
        while True:
            await anyio.sleep(self._heartbeat_every())
            await self.journal.heartbeat()
            for budget in self._budgets:
                await budget.renew()

    async def _takeover_loop(self) -> None:
        while True:
            await anyio.sleep(self._heartbeat_every())
            await self._remember_new_ids()
            if self._stopping or self.journal.steady_for() < self.settings.lease:
                continue
            taken = await self.journal.take_over(self.settings.chunk)
            if taken:
                self.report.taken_over += len(taken)
                self._say("takeover", keys=len(taken))
                await self._adopt(taken, taken=True)
                await self._replay_callbacks()
            orphans = await self.journal.owned_keys() - self._handled
            if orphans:
                await self._adopt(await self.journal.records(sorted(orphans)), taken=True)
                await self._replay_callbacks()

    async def _replay_callbacks(self) -> None:
        # Callbacks that arrived for the taken tasks while nobody held their tokens.
        server = self.tracker.callback_server
        if self._relay is not None and server is not None:
            await self._relay.replay(server.receiver)

    async def _progress_loop(self) -> None:
        while True:
            await anyio.sleep(self.settings.progress_interval)
            self._say("progress", **self._counts())

    async def _remember_new_ids(self) -> None:
        ids = await self.journal.new_task_ids()
        if ids:
            for alias in self.client.aliases:
                self.client.provider(alias).remember(ids)

    # -- taking tasks on ---------------------------------------------------------------------

    async def _adopt(self, records: Sequence[JournalRecord], *, taken: bool = False) -> None:
        """Follow claimed keys (``taken``: another worker's, counted in the report)."""
        count = self.report.count if taken else (lambda _: None)
        taken_at = self.client.clock.now()
        for rec in records:
            if rec.key in self._handled:
                continue
            self._handled.add(rec.key)
            if rec.is_finished:
                continue
            if rec.state == "pending":
                count("submitted")
                await self._submit(rec)
            elif rec.state == "intent" and rec.sent_at is None:
                count("resent")
                # No submit token was granted, and the old owner can no longer get one (it
                # is granted only to the owner under a live lease): the request never left.
                await self.journal.record_not_created(
                    rec.key, rec.provider or "", "taken over before it was sent"
                )
                await self._submit(rec)
            elif rec.state == "intent":
                previous = self.journal.taken_from.get(rec.key)
                self._tg.start_soon(self._settle_intent, rec, previous, taken_at)
            else:
                count("reattached")
                await self._resume(rec)

    async def _submit(self, rec: JournalRecord) -> None:
        try:
            await self.tracker.submit(rec.task, key=rec.key)
        except InvalidTaskSpec as exc:
            result = TaskResult(
                key=rec.key,
                task=rec.task,
                outcome=Outcome.REJECTED,
                reason=str(exc),
                finished_at=self.client.clock.wall(),
            )
            await self.journal.record_result(rec.key, result)

    async def _resume(self, rec: JournalRecord, *, may_resend: bool = True, **changes: Any) -> None:
        alias = rec.handle.provider if rec.handle else rec.provider
        if alias not in self.client.configs:
            raise ConfigurationError(
                f"batch task {rec.key!r} uses provider {alias!r}, which this worker lacks: "
                "give every worker the same provider config"
            )
        if self.tracker.callback_server is not None and "callback_token" not in changes:
            # The token of the attempt being followed: its callbacks keep reaching us.
            changes["callback_token"] = await self.journal.callback_token(rec.key)
        await self.tracker.resume([attrs.evolve(rec.entry(), **changes)], may_resend=may_resend)

    async def _owner_is_gone(self, worker: str | None) -> bool:
        """True when ``worker`` provably runs no more (same host, its process has ended)."""
        if worker is None or worker == self.id:
            return True
        info = await self.journal.worker_info(worker)
        if info.get("host") != socket.gethostname() or not info.get("pid", "").isdigit():
            return False
        try:
            os.kill(int(info["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    async def _settle(self, previous: str | None, *, until: float, settle: float) -> None:
        """Wait until ``until``, or less: until the old owner provably ends, plus the
        provider's listing lag (``settle``). An owner that ended sends nothing more, so any
        request it started is listed by then; a frozen owner that thaws finds its lease gone
        and exits, which cuts a submit-timeout wait to a heartbeat or two."""
        while (left := until - self.client.clock.now()) > 0:
            await self.client.clock.sleep(min(left, self._heartbeat_every()))
            if await self._owner_is_gone(previous):
                await self.client.clock.sleep(
                    max(0.0, min(settle, until - self.client.clock.now()))
                )
                return

    async def _settle_intent(
        self, rec: JournalRecord, previous: str | None, taken_at: float
    ) -> None:
        """Reconcile a submit another worker sent but did not see answered."""
        assert rec.sent_at is not None
        alias = rec.provider or ""
        if alias not in self.client.configs:
            await self._resume(rec)  # raises the configuration error
            return
        provider = self.client.provider(alias)
        await self._remember_new_ids()
        age = self.client.clock.wall() - rec.sent_at
        if (
            not provider.config.resubmit_when_not_listed
            or not provider.adapter.capabilities.can_list
            or age > self.settings.resubmit_horizon
        ):
            self.report.count("resumed")
            # Exactly as resume: reconcile, adopt or end unknown; never send again.
            await self._resume(rec, may_resend=False)
            return
        # The old owner may have sent right up to the end of its lease (it sends only while
        # the lease provably runs, and we took the key over after it ended); a request sent
        # then is listed at the latest a submit timeout (plus listing lag) later.
        timeouts = provider.config.timeouts
        window = timeouts.total or (timeouts.connect or 0.0) + (timeouts.read or 120.0)
        listed_by = taken_at + window + provider.config.reconcile_settle
        waited = await self._owner_is_gone(previous)
        while True:
            try:
                handle, status = await provider.reconcile(
                    rec.task,
                    spec_hash=task_hash(rec.task),
                    sent_at=rec.sent_at,
                    cause="worker died after sending",
                    key=rec.key,
                )
            except SubmitOutcomeUnknown as exc:
                if not exc.not_found:
                    self.report.count("resumed")
                    await self._resume(rec, may_resend=False)  # ends it unknown
                    return
                wait = listed_by - self.client.clock.now()
                if not waited and wait > 0:
                    # Nothing listed yet, but the old owner may be alive (paused, cut off)
                    # with its request still on the way: look again once it must be listed.
                    waited = True
                    self._say("settle-wait", key=rec.key, seconds=f"{wait:.1f}")
                    await self._settle(
                        previous, until=listed_by, settle=provider.config.reconcile_settle
                    )
                    continue
                # Listing is authoritative for this alias and the old owner's requests
                # have settled: nothing was created, so sending cannot double-bill.
                self.report.count("resent")
                await self.journal.record_not_created(rec.key, alias, exc.reason)
                await self._submit(rec)
                return
            except ProviderError:
                self.report.count("resumed")
                await self._resume(rec, may_resend=False)
                return
            self.report.count("reconciled")
            await self.journal.record_submitted(rec.key, handle)
            await self._resume(rec, handle=handle, last_status=status)
            return


def _first_leaf(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups: the cause worth logging."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = cast("BaseException", error.exceptions[0])
    return error
