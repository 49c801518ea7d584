"""The tracker: drives thousands of tasks from submit to result under budgets.

Theory of operation
-------------------
Two rules hold the tracker together:

1. *Every ending goes through the table's finish.* A tracked task's lifecycle state (remote
   handle, status, attempts, running slot, result) changes only through
   :class:`~._table.TaskTable`, which journals each change; a task ends exactly once, in
   :meth:`TaskTable.finish`, which releases its running slot, journals the result, emits
   the event and wakes its waiters (``TaskTable.replay`` is its twin for a result an
   earlier run journaled, which is reported, not journaled again).
2. *Only* :mod:`._transitions` *decides.* What a status answer leads to (poll again,
   download, finish, fail over) is the pure :func:`~._transitions.decide`, and what a key an
   earlier run journaled leads to is :func:`~._transitions.decide_rerun`; the stages only
   carry the actions out.

The parts are plain classes, composed here: the task table, the submit stage
(:mod:`._submit`) and the poll stage (:mod:`._poll`) each receive the table and what else
they need; neither stage knows the other. ``Tracker.submit`` checks which providers can
express the spec and queues the task; it returns a :class:`TrackedTask` at once. Inside one
anyio task group:

* *submit workers* take queued tasks. With a journal that can be read back, a key new to
  this run is looked up first: a key an earlier run sent is followed again, or its result
  reported, instead of being sent twice. Otherwise they pick the first provider (failover
  order) whose circuit is closed and which has a free running slot, record the intent in
  the journal, and submit at most once (:class:`ProviderClient` reconciles ambiguous
  submits). Refusals that another provider may not share (rate limit with no retry, auth,
  permission, unavailable) move the task on; an ambiguous outcome never does. The remote
  task they create is handed to the poll stage here.
* one *poll heap* (:mod:`._heap`) keeps next-poll times and hands due tasks, grouped by
  provider, to *poll workers*; a provider with a list endpoint answers a group in one call.
  The first poll happens near the expected finish, later ones at an interval that grows with
  the time spent. Deadlines are heap entries too. A retryable remote failure goes back to
  the submit stage for another provider.
* *download workers* fetch results of succeeded tasks when a download folder is set.
* with ``callbacks``, tasks sent to providers that post status changes carry a per-task
  callback URL and are polled by the sparse backstop schedule; a callback is only a hint,
  which makes the poll stage GET the task at once (:mod:`._callbacks`). Everything the GET
  shows goes the usual way.

Leaving the ``async with`` block waits for every task, then cancels the workers: no task or
socket outlives the block, and every :meth:`Tracker.events_stream` ends. An exception inside
the block cancels everything at once (the event streams end too).
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from seedance_async.callbacks._receiver import CallbackReceiver
from seedance_async.callbacks._server import CallbackServer
from seedance_async.client._client import Client
from seedance_async.core._errors import ConfigurationError, InvalidTaskSpec
from seedance_async.core._events import Event
from seedance_async.journal._protocol import Journal, JournalEntry, NullJournal
from seedance_async.policy._failover import FailoverPolicy
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.spec._codec import task_hash
from seedance_async.spec._cost import PriceTable
from seedance_async.spec._handle import TaskResult
from seedance_async.spec._task import VideoTask
from seedance_async.tracker._callbacks import CallbackLink, CallbackSummary
from seedance_async.tracker._poll import PollStage
from seedance_async.tracker._spend import SpendCap, cap_currency
from seedance_async.tracker._submit import ReadableJournal, SubmitStage
from seedance_async.tracker._table import TaskTable
from seedance_async.tracker._task import TaskRun, TrackedTask
from seedance_async.tracker._transitions import Rules
from seedance_async.upload._protocol import SupportsAclose, Uploader

__all__ = ["Tracker"]

T = TypeVar("T")


class Tracker:
    """Submit and follow many tasks concurrently; use as ``async with``.

    Args:
        client: an open :class:`Client` (its providers, clock and events are used).
        providers: failover order (aliases) or a :class:`FailoverPolicy`; default: every
            alias of the client, in order.
        schedule: poll timing.
        deadline: default per-task deadline in seconds from submit (None: wait for the
            provider's own expiry).
        journal: durable record (default: none). One that can be read back by key
            (:class:`SqliteJournal`) makes a re-run of the same program resume: see
            :meth:`submit`.
        download_dir: when set, videos (and requested last frames) of succeeded tasks are
            downloaded there as ``<key>.mp4`` / ``<key>.last.png``.
        submit_workers / poll_workers / download_workers: concurrency of each stage.
        batch_size: most task ids in one list-based status call.
        refusal_rounds: when every provider refused a task for a reason that may pass (rate
            limited, unavailable, unreachable), offer it to them again this many times, after
            pauses growing from ``schedule.min_interval``, before ending it ``rejected``.
        seed: seeds weighted failover and jitter.
        max_cost: a spend cap (see :class:`SpendCap`): an amount in the one currency the
            price table uses for the failover aliases, or a :class:`SpendCap` naming its
            currency. Each task reserves its worst-case estimate when submitted; a task that
            would pass the cap, and every later one, ends ``capped`` without being sent.
        allow_unpriced: under an amount cap, run tasks without a price (uncounted) instead of
            ending them ``capped``.
        prices: the price table for an amount cap and for the cost in the events of
            succeeded tasks (the shipped one by default).
        callbacks: receive the providers' status-change callbacks, for tasks sent to
            providers that post them (``ProviderCapabilities.callbacks``) and whose spec
            names no ``callback_url`` of its own. A :class:`CallbackReceiver` you serve
            yourself (mounted in your app), a :class:`CallbackServer` (started on entry
            unless running, stopped on exit if started here), or the public URL of a
            server the tracker runs on ``callback_listen``. Entry fails with
            :class:`CallbackServerError` before anything is submitted when the port
            cannot be bound.
        callback_listen: ``HOST:PORT`` for the server the tracker runs when ``callbacks``
            is a URL. A resumed run receives the callbacks of an earlier run's tasks only
            at the same public URL: keep it (and the port behind it) fixed.
        backstop: poll timing of tasks with a callback URL (default
            :meth:`PollSchedule.backstop`): a task whose callbacks are all lost is found
            at most about its ``interval`` late.
        confirm_window: seconds to gather callbacks before confirming them together: the
            notices of one task, and the ends of a cluster of tasks, cost one GET each
            (or one list call per group).
        uploader: stores these tasks' local media for URLs (default: the client's); its
            URLs outlive each task's deadline.
        upload_all: send local images and audio through the uploader too, instead of
            inline (default: the client's setting).

    Raises:
        ConfigurationError: the failover list names an alias the client does not have, an
            amount cap's currency cannot be told from the price table, ``callback_listen``
            is malformed or given without a URL, a receiver has no public URL, or
            ``upload_all`` is set without an uploader.
    """

    def __init__(
        self,
        client: Client,
        *,
        providers: Sequence[str] | FailoverPolicy | None = None,
        schedule: PollSchedule | None = None,
        deadline: float | None = None,
        journal: Journal | None = None,
        download_dir: str | Path | None = None,
        submit_workers: int = 64,
        poll_workers: int = 16,
        download_workers: int = 8,
        batch_size: int = 50,
        refusal_rounds: int = 5,
        seed: int | None = None,
        max_cost: float | SpendCap | None = None,
        allow_unpriced: bool = False,
        prices: PriceTable | None = None,
        callbacks: CallbackReceiver | CallbackServer | str | None = None,
        callback_listen: str | tuple[str, int] | None = None,
        backstop: PollSchedule | None = None,
        confirm_window: float = 0.5,
        uploader: Uploader | None = None,
        upload_all: bool | None = None,
    ) -> None:
        if upload_all and uploader is None and client.uploader is None:
            raise ConfigurationError("upload_all=True needs an uploader")
        self._uploader = uploader
        self._upload_all = upload_all
        if isinstance(providers, FailoverPolicy):
            self.policy = providers
        else:
            self.policy = FailoverPolicy(providers=tuple(providers or client.aliases))
        unknown = [p for p in self.policy.providers if p not in client.configs]
        if unknown:
            raise ConfigurationError(f"failover list names unknown aliases {unknown}")
        self.client = client
        self.clock = client.clock
        self.events = client.events
        self.schedule = schedule or PollSchedule()
        self.default_deadline = deadline
        self.refusal_rounds = refusal_rounds
        self.journal: Journal = journal or NullJournal()
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self._workers = (submit_workers, poll_workers, download_workers)
        # One generator for failover draws and poll jitter, so ``seed`` fixes both.
        self._rng = random.Random(seed)
        if max_cost is None or isinstance(max_cost, SpendCap):
            spend = max_cost
        else:
            currency = cap_currency(self.policy.providers, prices)
            spend = SpendCap(max_cost, currency, allow_unpriced=allow_unpriced, prices=prices)
        self._server = _callback_server(callbacks, callback_listen)
        self._started_server = False
        self._link: CallbackLink | None = None
        if callbacks is not None:
            if not confirm_window >= 0:
                raise ConfigurationError(f"confirm_window must be >= 0, got {confirm_window!r}")
            receiver = (
                callbacks
                if isinstance(callbacks, CallbackReceiver)
                else self._server.receiver
                if self._server is not None
                else None
            )
            assert receiver is not None
            self._link = CallbackLink(
                receiver,
                backstop=backstop or PollSchedule.backstop(),
                confirm_window=confirm_window,
                clock=self.clock,
            )
        self._table = TaskTable(client, self.journal, spend, prices, callbacks=self._link)
        # A journal that can be read back makes a re-run of the same program resume.
        readable = self.journal if isinstance(self.journal, ReadableJournal) else None
        self._submit = SubmitStage(
            self._table,
            client,
            schedule=self.schedule,
            refusal_rounds=refusal_rounds,
            journal=readable,
            refetch=self._refetch if self.download_dir is not None else None,
            uploader=uploader,
            upload_all=upload_all,
        )
        self._poll = PollStage(
            self._table,
            client,
            schedule=self.schedule,
            rules=Rules(
                downloads=self.download_dir is not None,
                max_extra_attempts=self.policy.max_extra_attempts,
            ),
            download_dir=self.download_dir,
            batch_size=batch_size,
            rng=self._rng,
            resubmit=self._submit.resubmit,
            backstop=None if self._link is None else self._link.backstop,
        )
        self._canceller = self._poll.cancel  # one bound method shared by every task, not one each
        self._tg: TaskGroup | None = None
        # Added to the client's hub on the first events_stream() only: a hub has no way to
        # remove a callback, so what stays behind after close is this small, empty object.
        self._fanout = _EventFanout()
        self._fanout_added = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        server = self._server
        started = False
        if server is not None and not server.running:
            await server.start()  # CallbackServerError now, before any submit names its URL
            started = True
        if self._link is not None and self._link.receiver.public_url is None:
            if started and server is not None:
                await server.close()
            raise ConfigurationError(
                "the callback receiver has no public URL: give CallbackReceiver(public_url=...)"
                " the address the provider posts to"
            )
        self._started_server = started
        submit_recv = self._submit.open()
        poll_recv, download_recv = self._poll.open(self._workers[1])
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        for _ in range(self._workers[0]):
            tg.start_soon(self._worker, submit_recv.clone(), self._submit_one)
        for _ in range(self._workers[1]):
            tg.start_soon(self._worker, poll_recv.clone(), self._poll.poll_group)
        for _ in range(self._workers[2]):
            tg.start_soon(self._worker, download_recv.clone(), self._poll.download)
        submit_recv.close()
        poll_recv.close()
        download_recv.close()
        tg.start_soon(self._poll.run_heap)
        if self._link is not None:
            tg.start_soon(self._link.run, self._table.get, self._poll.confirm)
        self._fanout.closed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        try:
            if exc_type is None:
                await self._table.wait_idle()
        except BaseException:
            self._tg.cancel_scope.cancel()
            raise
        finally:
            self._tg.cancel_scope.cancel()
            self._submit.close()
            self._poll.close()
            try:
                result = await self._tg.__aexit__(exc_type, exc, tb)
            finally:
                self._tg = None
                self._fanout.close()
                if self._started_server and self._server is not None:
                    self._started_server = False
                    with anyio.CancelScope(shield=True):
                        await self._server.close()
                uploader: object = self._uploader  # a plain callable has nothing to close
                if isinstance(uploader, SupportsAclose):
                    with anyio.CancelScope(shield=True):
                        await uploader.aclose()
        return result

    async def wait_idle(self) -> None:
        """Wait until every task submitted so far has a final result."""
        await self._table.wait_idle()

    @property
    def pending(self) -> int:
        """Tasks without a final result yet."""
        return self._table.pending

    @property
    def tasks(self) -> dict[str, TrackedTask]:
        """Every task tracked, by key (a new dict each time)."""
        return {key: run.view for key, run in self._table.tasks.items()}

    @property
    def spend_cap(self) -> SpendCap | None:
        """The spend cap (what is spent and reserved so far), or None without one."""
        return self._table.spend

    @property
    def callback_stats(self) -> CallbackSummary | None:
        """What callbacks did so far (received, confirmed, rejected, found by the backstop);
        None without ``callbacks``."""
        return None if self._link is None else self._link.summary()

    @property
    def callback_server(self) -> CallbackServer | None:
        """The callback server the tracker uses (given, or its own), if any."""
        return self._server

    # -- submitting --------------------------------------------------------------------------

    def eligible_providers(self, task: VideoTask) -> tuple[list[str], list[str]]:
        """(aliases that serve the model and accept the spec, reasons of those that do not)."""
        ok, reasons = [], []
        for alias in self.policy.providers:
            violations = self.client.check(
                task, alias, uploader=self._uploader, upload_all=self._upload_all
            )
            if violations:
                reasons.append(f"{alias}: " + "; ".join(str(v) for v in violations))
            else:
                ok.append(alias)
        return ok, reasons

    async def submit(
        self,
        task: VideoTask,
        *,
        key: str | None = None,
        deadline: float | None = None,
        provider: str | None = None,
    ) -> TrackedTask:
        """Queue a task; returns its :class:`TrackedTask` at once.

        The key is ``key``, or else the spec's hash (:func:`task_hash`, metadata included).
        Submitting the same key twice returns the first task (a batch line is never doubled).
        With a journal that can be read back (:class:`SqliteJournal`), a key an earlier run
        already sent is never sent again: a finished one ends at once with its journaled
        result, an unfinished one is followed again as :meth:`resume` would (polled,
        reconciled, downloaded). A key the journal holds with another spec ends
        ``rejected``, and one sent to a provider this client lacks ends ``unknown``; neither
        touches the journal's record, nor does a cancel or deadline before the key was read.

        ``provider`` pins the task to one alias of the failover list (no failover): a final
        made from a draft (``from_draft``) must run where its draft ran.

        Raises:
            InvalidTaskSpec: no provider in the failover list can express the spec.
            ConfigurationError: the tracker is not open.
        """
        if self._tg is None:
            raise ConfigurationError("the tracker is not open: use 'async with Tracker(...)'")
        key = key or task_hash(task)
        existing = self._table.get(key)
        if existing is not None:
            return existing.view
        eligible, reasons = self.eligible_providers(task)
        if provider is not None:
            if provider not in self.policy.providers:
                raise ConfigurationError(f"provider {provider!r} is not in the failover list")
            eligible = [p for p in eligible if p == provider]
            reasons = [r for r in reasons if r.startswith(f"{provider}: ")]
        if not eligible:
            raise InvalidTaskSpec(
                [], context="no provider can run this task: " + " | ".join(reasons)
            )
        order = [p for p in self.policy.order(self._rng) if p in eligible]
        if self._table.spend is not None:
            # Decided here, in submit order, so the cap stops at the same task every run.
            self._table.spend.admit(key, task, order)
        tracked = self._track(key, task, order=order, deadline=deadline)
        self._submit.enqueue(tracked, new=True)
        return tracked.view

    def _track(
        self,
        key: str,
        task: VideoTask,
        *,
        order: list[str],
        deadline: float | None,
        resumed: JournalEntry | None = None,
    ) -> TaskRun:
        limit = self.default_deadline if deadline is None else deadline
        tracked = TaskRun(
            key,
            task,
            order=order,
            deadline_at=None if limit is None else self.clock.now() + limit,
            canceller=self._canceller,
        )
        if resumed is not None:
            self._table.restore(tracked, resumed)
        self._table.add(tracked)
        self._poll.watch_deadline(tracked)
        return tracked

    # -- resume ------------------------------------------------------------------------------

    async def resume(
        self, entries: Iterable[JournalEntry], *, may_resend: bool = True
    ) -> list[TrackedTask]:
        """Take over unfinished tasks of an earlier run (from :meth:`SqliteJournal.unfinished`).

        A task with a remote id is followed again with the alias that created it, and may
        still fail over along the failover order. An intent the journal proves was never
        sent (``never_sent``: it stamps each send and this one was not stamped), and a
        failover that was waiting for its next provider (``failover``), are submitted
        again ahead of new tasks. The attempts the journal holds carry over: a provider
        that refused the task or whose task failed is not tried again, and the result
        lists every attempt. Any other intent
        without a remote id is reconciled (list endpoint), never blindly resubmitted: it is
        sent again only when the listing proves nothing was created, the intent is recent
        and ``may_resend``; when reconciliation cannot settle it the task ends ``unknown``
        with the intent time.

        Raises:
            ConfigurationError: an entry names an alias this client does not have.
        """
        out: list[TaskRun] = []
        for entry in entries:
            alias = entry.handle.provider if entry.handle else entry.provider
            if alias is None or alias not in self.client.configs:
                raise ConfigurationError(
                    f"journal entry {entry.key!r} was created with provider {alias!r}, which is not configured"
                )
            existing = self._table.get(entry.key)
            if existing is not None:
                out.append(existing)
                continue
            # The whole failover order, not only the alias of the last attempt: the task
            # may still fail over, past the attempts the journal holds.
            order = self._order(entry.task)
            if entry.handle is None and (entry.never_sent or entry.failover):
                out.append(await self._resend(entry, alias, order))
                continue
            if alias not in order:
                order.insert(0, alias)
            tracked = self._track(entry.key, entry.task, order=order, deadline=None, resumed=entry)
            if self._table.spend is not None:
                self._table.spend.hold(entry.key, entry.task, alias)
            # The running slot is taken without waiting: the task already runs remotely.
            if await self.client.provider(alias).budget.try_acquire_running_slot():
                self._table.hold_slot(tracked, alias)
            if entry.handle is not None:
                self.client.provider(alias).remember([entry.handle.task_id])
                await self._poll.attached(tracked, entry.handle, None, journal=False)
            else:
                assert self._tg is not None
                self._tg.start_soon(
                    self._reconcile_one, tracked, alias, entry.intent_at or 0.0, may_resend
                )
            out.append(tracked)
        return [run.view for run in out]

    def _order(self, task: VideoTask) -> list[str]:
        eligible, _ = self.eligible_providers(task)
        return [p for p in self.policy.order(self._rng) if p in eligible]

    async def _resend(self, entry: JournalEntry, alias: str, order: list[str]) -> TaskRun:
        """Submit again a task with nothing remote to follow: an intent whose request never
        left, or a failover waiting for its next provider. It goes ahead of new tasks and
        after the attempts the journal holds (same numbering, none made twice)."""
        tracked = self._track(entry.key, entry.task, order=order or [alias], deadline=None)
        tracked.attempts = list(entry.attempts)
        tracked.status = entry.last_status if entry.failover else None
        if entry.never_sent:
            await self._table.forget_intent(tracked, alias, "never sent before the run stopped")
        self._submit.enqueue(tracked, front=True)
        return tracked

    # -- consuming results -------------------------------------------------------------------

    def as_completed(self) -> AsyncIterator[TaskResult]:
        """Results in the order tasks finish, until every task submitted so far is done."""
        return self._table.as_completed()

    def events_stream(self) -> MemoryObjectReceiveStream[Event]:
        """A stream of every later lifecycle event; it ends when the tracker closes.

        Every event emitted before the ``async with`` block is left (or fails) is delivered
        before the end; a stream taken after that ends at once. Close it earlier when done.
        """
        if not self._fanout_added:
            self.events.add_callback(self._fanout)
            self._fanout_added = True
        return self._fanout.stream()

    # -- internals ---------------------------------------------------------------------------

    def _refetch(self, tracked: TaskRun, result: TaskResult) -> None:
        # The stages are built in turn: the submit stage reaches the poll stage through here.
        self._poll.refetch(tracked, result)

    async def _submit_one(self, received: TaskRun | None) -> None:
        for tracked in self._submit.take(received):
            created = await self._submit.run(tracked)
            if created is not None:
                await self._poll.attached(
                    tracked, created.handle, created.first, journal=not created.journaled
                )

    async def _reconcile_one(
        self, tracked: TaskRun, alias: str, intent_at: float, may_resend: bool
    ) -> None:
        created = await self._submit.reconcile(
            tracked, alias, intent_at, sent=tracked.task, may_resend=may_resend
        )
        if created is not None:
            await self._poll.attached(tracked, created.handle, created.first)

    @staticmethod
    async def _worker(
        stream: MemoryObjectReceiveStream[T], handle: Callable[[T], Awaitable[None]]
    ) -> None:
        async with stream:
            while True:
                try:
                    # Take what is queued without yielding first (``receive`` costs an
                    # event-loop round trip per item, a large share of a poll's CPU); wait
                    # only on an empty queue. ``handle`` yields on its own I/O.
                    item = stream.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        item = await stream.receive()
                    except anyio.EndOfStream:
                        return
                except anyio.EndOfStream:
                    return
                await handle(item)


class _EventFanout:
    """Copies the client's events into the tracker's event streams until the tracker closes.

    A callback rather than a hub subscription: the hub's own streams cannot be ended from
    here, and these must end when the tracker closes.
    """

    __slots__ = ("_streams", "closed")

    def __init__(self) -> None:
        self._streams: list[MemoryObjectSendStream[Event]] = []
        self.closed = False

    def __call__(self, event: Event) -> None:
        if not self._streams:
            return
        alive = []
        for stream in self._streams:
            try:
                stream.send_nowait(event)  # unbounded: never blocks
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                stream.close()  # its reader closed it
                continue
            alive.append(stream)
        self._streams = alive

    def stream(self) -> MemoryObjectReceiveStream[Event]:
        """A new stream of later events (already ended when the tracker is closed)."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
        if self.closed:
            send.close()
        else:
            self._streams.append(send)
        return receive

    def close(self) -> None:
        """End every stream: readers get what is buffered, then the end."""
        self.closed = True
        for stream in self._streams:
            stream.close()
        self._streams = []


def _callback_server(
    callbacks: CallbackReceiver | CallbackServer | str | None,
    listen: str | tuple[str, int] | None,
) -> CallbackServer | None:
    """The server to run or use for ``Tracker(callbacks=...)``, if any."""
    if isinstance(callbacks, str):
        if listen is None:
            raise ConfigurationError(
                "callbacks given as a public URL need callback_listen='HOST:PORT' for the"
                " server that receives them"
            )
        return CallbackServer(listen=listen, public_url=callbacks)
    if listen is not None:
        raise ConfigurationError(
            "callback_listen goes with callbacks='<public URL>' (a CallbackServer has its own"
            " listen address; a receiver is served by your app)"
        )
    return callbacks if isinstance(callbacks, CallbackServer) else None
