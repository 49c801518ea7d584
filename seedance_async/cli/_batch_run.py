"""Running a batch from the command line: journal, tracker, results file and Ctrl-C.

Theory of operation
-------------------
The SQLite journal is the only source of truth; everything else is a view of it.

* Every valid line becomes a ``pending`` row (idempotent: a key is added once). A run first
  resumes the journal's unfinished tasks (remote ids are polled again, intents whose request
  never left are submitted again, other intents without an id are reconciled, never
  blindly resent), then submits every row still ``pending``. Finished keys are
  never touched again, so running the same command after a crash continues the batch.
* The results file (``--out``) is rewritten atomically (temporary file, fsync, rename) from
  the journal when a run starts and when it ends; in between, each result is appended as one
  ``write()`` after the tracker has durably journaled it. A SIGKILL at any point therefore
  leaves a file whose lines are all complete and distinct (a subset of the journal), and the
  next run rewrites it to exactly one line per finished task.
* Stale ``.part`` download files and results temporaries left by a killed run are removed at
  start. An exclusive lock file next to the journal keeps two runs off one batch, which
  would otherwise submit the same pending tasks twice.
* The journal records which batch file(s) it belongs to (a hash of the file). Running
  another batch with it would run both batches' tasks and write both to ``--out``: that is
  refused unless the user asks to append.
* First Ctrl-C (or SIGTERM): no new submit starts (:class:`_GatedJournal` holds every new
  intent back, so the row stays ``pending``), submits already on the wire are seen through
  until their remote id or failure is journaled, then everything stops. Tasks running
  remotely keep running; the next run follows them. Second Ctrl-C: exit at once; committed
  journal records survive any exit, and an uncommitted one is rolled back on the next open.
  A submit stopped before its request left (waiting for a rate-limit token, or after a 429)
  has no send stamp, so the next run submits it again instead of reporting it ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs

from seedance_async.callbacks._server import CallbackServer
from seedance_async.cli._batch_file import BatchLine
from seedance_async.cli._costs import CostTally, line_cost, priced_lines, spent_so_far
from seedance_async.cli._fetch_files import fetch_missing_files, needs_files
from seedance_async.cli._progress import ProgressReporter
from seedance_async.cli._results_file import JournalLock, ResultsFile, sweep_partial_downloads
from seedance_async.client._client import Client
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import ConfigurationError, InvalidTaskSpec
from seedance_async.core._events import EventHub
from seedance_async.journal._protocol import JournalEntry
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.journal._sqlite_schema import BatchIdentity
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.spec._codec import dump_result
from seedance_async.spec._cost import PriceTable, price_table
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.telemetry import (
    EventLogger,
    MetricsServer,
    OpenTelemetryObserver,
    PrometheusMetrics,
    otel_available,
)
from seedance_async.tracker._callbacks import CallbackSummary
from seedance_async.tracker._spend import SpendCap
from seedance_async.tracker._tracker import Tracker
from seedance_async.upload._protocol import Uploader

__all__ = [
    "EXIT_CAPPED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "RunPlan",
    "RunReport",
    "run_batch",
]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_FAILED = 4
EXIT_UNKNOWN = 5
EXIT_CAPPED = 6
EXIT_INTERRUPTED = 130


class _GatedJournal:
    """The journal as the tracker sees it, with a gate that holds new submits back.

    Every paid submit is preceded by ``record_intent`` and followed by exactly one of
    ``record_submitted``, ``record_not_created`` or ``record_result``: the keys in between
    are the submits on the wire. Once draining, a new intent waits forever (until the run is
    cancelled) *before* anything is written, so its row stays ``pending`` for the next run.
    """

    def __init__(self, inner: SqliteJournal) -> None:
        self.inner = inner
        self._open: set[str] = set()
        self._draining = False
        self._empty = anyio.Event()

    @property
    def in_flight(self) -> int:
        """Submits (and reconciliations) whose outcome is not journaled yet."""
        return len(self._open)

    def expect(self, keys: Iterable[str]) -> None:
        """Count resumed intents being reconciled as in flight."""
        self._open.update(keys)

    def start_draining(self) -> None:
        """Hold back every later submit."""
        self._draining = True
        self._close(None)

    async def drained(self) -> None:
        """Wait until draining started and no submit is in flight."""
        await self._empty.wait()

    def _close(self, key: str | None) -> None:
        if key is not None:
            self._open.discard(key)
        if self._draining and not self._open:
            self._empty.set()

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        if self._draining:
            await anyio.sleep_forever()
        self._open.add(key)
        await self.inner.record_intent(key, task, provider, attempt, at)

    async def record_sent(self, key: str, at: float) -> None:
        await self.inner.record_sent(key, at)

    async def record_unsent(self, key: str, reason: str) -> None:
        await self.inner.record_unsent(key, reason)

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        try:
            await self.inner.record_submitted(key, handle)
        finally:
            self._close(key)

    async def record_not_created(self, key: str, provider: str, reason: str) -> None:
        try:
            await self.inner.record_not_created(key, provider, reason)
        finally:
            self._close(key)

    async def record_callback_token(self, key: str, token: str) -> None:
        await self.inner.record_callback_token(key, token)

    async def record_status(self, key: str, status: TaskStatus) -> None:
        await self.inner.record_status(key, status)

    async def record_attempts(
        self, key: str, attempts: Sequence[Attempt], *, failover: bool = False
    ) -> None:
        await self.inner.record_attempts(key, attempts, failover=failover)

    async def record_result(self, key: str, result: TaskResult) -> None:
        try:
            await self.inner.record_result(key, result)
        finally:
            self._close(key)


@attrs.frozen(kw_only=True)
class RunPlan:
    """What ``seedance-async run`` was asked to do (after argument checks).

    Attributes:
        catalog: every usable alias (built-ins and the config file, overrides applied).
        failover: aliases new tasks may go to, in order.
        journal_path / out_path / download_dir: the files.
        deadline: per-task deadline in seconds, if any.
        schedule: poll timing.
        progress: ``auto``, ``bars`` or ``plain``.
        log_interval: seconds between progress redraws (None: the renderer's default).
        command: the command line, shown in "resume with".
        batch: the batch file's identity, checked against the journal's (None: not checked).
        append: add the batch to a journal of another batch instead of refusing.
        max_cost: the spend cap, (amount, currency), or None.
        allow_unpriced: under a cap, run tasks without a price (uncounted).
        prices: the price table (the shipped one when None).
        metrics_port / metrics_host: serve Prometheus metrics there while running (None: not).
        log_events: log every lifecycle event (INFO; the caller set up the handler).
        probe_media: read each remote reference clip's header before its task is sent.
        callback_listen: ``HOST:PORT`` to receive provider callbacks on (None: poll only).
        callback_url: the public URL that reaches it (default ``http://HOST:PORT``).
        backstop: poll timing of tasks sent with a callback URL.
        confirm_window: seconds to gather callbacks before confirming them together.
        uploader: stores local media for URLs (``--upload``); None: inline only.
        upload_all: send local images and audio through ``uploader`` too (``--upload-all``).
    """

    catalog: Mapping[str, ProviderConfig]
    failover: tuple[str, ...]
    journal_path: Path
    out_path: Path
    download_dir: Path | None = None
    deadline: float | None = None
    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    progress: str = "auto"
    log_interval: float | None = None
    command: str = "seedance-async run ..."
    batch: BatchIdentity | None = None
    append: bool = False
    max_cost: tuple[float, str] | None = None
    allow_unpriced: bool = False
    prices: PriceTable | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_events: bool = False
    probe_media: bool = False
    callback_listen: str | None = None
    callback_url: str | None = None
    backstop: PollSchedule = attrs.field(factory=PollSchedule.backstop)
    confirm_window: float = 0.5
    uploader: Uploader | None = None
    upload_all: bool = False


@attrs.frozen(kw_only=True)
class RunReport:
    """How a run ended: outcomes of every task in the journal (this run and earlier ones).

    ``capped`` counts the tasks the spend cap kept from being sent (still pending).
    """

    outcomes: Mapping[str, int]
    total: int
    missing_downloads: int = 0
    capped: int = 0
    callbacks: CallbackSummary | None = None

    @property
    def finished(self) -> int:
        """Tasks with a result."""
        return sum(self.outcomes.values())

    def exit_code(self) -> int:
        """130 unfinished (interrupted), 5 some unknown, 6 some kept back by the spend cap,
        4 some failed or not downloaded, else 0."""
        if self.finished + self.capped < self.total:
            return EXIT_INTERRUPTED
        if self.outcomes.get(Outcome.UNKNOWN.value):
            return EXIT_UNKNOWN
        if self.capped:
            return EXIT_CAPPED
        if self.finished > self.outcomes.get(Outcome.SUCCEEDED.value, 0) or self.missing_downloads:
            return EXIT_FAILED
        return EXIT_OK

    def describe(self) -> str:
        """One line for the end of a run."""
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()) if n)
        text = f"finished {self.finished}/{self.total}" + (f": {parts}" if parts else "")
        if self.missing_downloads:
            text += f"; {self.missing_downloads} succeeded but could not be downloaded"
        if self.capped:
            text += (
                f"; {self.capped} not sent (spend cap): raise --max-cost (or add"
                " --allow-unpriced) and run again to send them"
            )
        if self.callbacks is not None:
            text += f"; {self.callbacks.describe()}"
        return text


def _report(
    rows: Sequence[Mapping[str, Any]], total: int, downloads: bool, capped: int
) -> RunReport:
    missing = sum(
        1
        for r in rows
        if downloads
        and r["outcome"] == Outcome.SUCCEEDED
        and (not r["video_path"] or r.get("download_failed"))
    )
    return RunReport(
        outcomes=dict(Counter(str(r["outcome"]) for r in rows)),
        total=total,
        missing_downloads=missing,
        capped=capped,
    )


async def _specs(
    journal: SqliteJournal,
    lines: Sequence[BatchLine],
    unfinished: Sequence[JournalEntry],
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, VideoTask]:
    """The spec of every key of the batch (the journal's, for keys of appended batches)."""
    tasks = {ln.key: ln.task for ln in lines}
    tasks.update((e.key, e.task) for e in unfinished)
    for row in rows:
        key = str(row["key"])
        if key not in tasks:
            record = await journal.get(key)
            if record is not None:
                tasks[key] = record.task
    return tasks


def _cost_lines(
    rows: Sequence[Mapping[str, Any]], tasks: Mapping[str, VideoTask], table: PriceTable
) -> list[str]:
    """Estimated vs actual cost of the succeeded tasks, per provider and model."""
    tally = CostTally(table)
    for row in rows:
        task = tasks.get(str(row["key"]))
        if row["outcome"] == Outcome.SUCCEEDED and task is not None and row.get("provider"):
            usage = row.get("usage")
            tally.finished(task, str(row["provider"]), Usage(**usage) if usage else None)
    lines = tally.lines(actual=True)
    return ["cost of the succeeded tasks:", *lines] if lines else []


def _owned_ids(rows: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Remote ids that finished tasks of earlier runs own, by alias.

    Reconciliation of a lost submit must never adopt one of them: without this, a resumed
    run would take a finished task of the same model and correlation nonce for its own.
    """
    owned: dict[str, set[str]] = {}
    for row in rows:
        for attempt in row.get("attempts") or ():
            if attempt.get("task_id"):
                owned.setdefault(attempt["provider"], set()).add(attempt["task_id"])
    return owned


def _alias_of(entry: JournalEntry) -> str | None:
    return entry.handle.provider if entry.handle else entry.provider


async def run_batch(plan: RunPlan, lines: Sequence[BatchLine]) -> RunReport:
    """Add ``lines`` to the journal, then drive every unfinished task of it to a result.

    Raises:
        ConfigurationError: another process holds the journal, a resumed task names an
            alias that is not configured, or a key is missing.
        BatchMismatch: the journal belongs to another batch and ``plan.append`` is false.
        JournalError: the journal cannot be opened, read or written.
        CallbackServerError: the callback port cannot be bound (raised first of all).
    """
    server = None
    if plan.callback_listen is not None:
        # Bound before anything else: a port that is taken fails the run before any task
        # is sent with a URL nobody listens on.
        server = CallbackServer(listen=plan.callback_listen, public_url=plan.callback_url)
        await server.start()
    try:
        return await _run_batch(plan, lines, server)
    finally:
        if server is not None:
            with anyio.CancelScope(shield=True):
                await server.close()


async def _run_batch(
    plan: RunPlan, lines: Sequence[BatchLine], server: CallbackServer | None
) -> RunReport:
    with JournalLock(plan.journal_path):
        async with SqliteJournal(plan.journal_path) as journal:
            if plan.batch is not None:
                await journal.claim_batch(plan.batch, (ln.key for ln in lines), append=plan.append)
            await journal.add_pending_many((ln.key, ln.task, ln.line_no) for ln in lines)
            unfinished = await journal.unfinished()
            pending = await journal.pending()
            earlier = await journal.results()
            total = len(unfinished) + len(pending) + len(earlier)
            needed = list(
                dict.fromkeys([*plan.failover, *filter(None, map(_alias_of, unfinished))])
            )
            missing = [a for a in needed if a not in plan.catalog]
            if missing:
                raise ConfigurationError(
                    f"the journal has tasks created with provider {', '.join(missing)}, which is"
                    " not configured: pass the --config that defines it"
                )
            results = ResultsFile(plan.out_path)
            specs = await _specs(journal, lines, unfinished, earlier)
            await anyio.to_thread.run_sync(
                results.rewrite, priced_lines(earlier, specs, plan.prices)
            )
            if plan.download_dir is not None:
                plan.download_dir.mkdir(parents=True, exist_ok=True)
                # Every key of the batch, finished ones too: the lock keeps other runs of
                # this journal out, so no .part of these keys can belong to a live download.
                keys = [e.key for e in unfinished] + [k for k, _ in pending]
                keys += [str(row["key"]) for row in earlier]
                await anyio.to_thread.run_sync(sweep_partial_downloads, plan.download_dir, keys)
            reporter = ProgressReporter(
                total=total, providers=plan.failover, mode=plan.progress, interval=plan.log_interval
            )
            for row in earlier:
                reporter.preload(row["key"], row.get("provider"), str(row["outcome"]))
            for entry in unfinished:
                if entry.never_sent or entry.failover:  # to be submitted again
                    reporter.preload(entry.key, None, "waiting")
                    continue
                state = entry.last_status.state.value if entry.last_status else "queued"
                reporter.preload(entry.key, _alias_of(entry), state)
            for key, _ in pending:
                reporter.preload(key, None, "waiting")
            table = plan.prices or price_table()
            cap = None
            if plan.max_cost is not None:
                cap = SpendCap(
                    plan.max_cost[0],
                    plan.max_cost[1],
                    allow_unpriced=plan.allow_unpriced,
                    prices=table,
                )
                cap.spent = spent_so_far(earlier, specs, cap)
            run = _Run(
                plan,
                journal,
                results,
                reporter,
                owned=_owned_ids(earlier),
                cap=cap,
                server=server,
            )
            try:
                await run.drive([plan.catalog[a] for a in needed], unfinished, pending)
                if plan.download_dir is not None and not run.interrupted:
                    await _fetch_earlier(plan, journal, earlier, reporter)
            finally:
                results.close()
            final = await journal.results()
            specs.update(await _specs(journal, (), (), final))
            # Capped tasks stay pending in the journal (a re-run sends them); their result
            # lines of this run are kept so that the file says why they were not sent.
            await anyio.to_thread.run_sync(
                results.rewrite, [*priced_lines(final, specs, plan.prices), *run.capped]
            )
            results.close()
    report = attrs.evolve(
        _report(final, total, plan.download_dir is not None, len(run.capped)),
        callbacks=run.callback_stats,
    )
    for line in _cost_lines(final, specs, table):
        reporter.note(line)
    if cap is not None:
        reporter.note(
            f"spend cap: {cap.spent:.4f} of {cap.limit:g} {cap.currency} spent"
            + (f" ({cap.reserved:.4f} reserved by tasks still running)" if cap.reserved else "")
        )
    reporter.note(f"{report.describe()}; results in {plan.out_path}")
    if report.exit_code() == EXIT_INTERRUPTED:
        reporter.note(f"interrupted; resume with: {plan.command}")
    return report


async def _fetch_earlier(
    plan: RunPlan,
    journal: SqliteJournal,
    earlier: Sequence[Mapping[str, Any]],
    reporter: ProgressReporter,
) -> None:
    """Download what earlier runs' successes lack (a failed download, a run without a folder)."""
    assert plan.download_dir is not None
    folder = plan.download_dir
    keys = [str(row["key"]) for row in earlier if needs_files(row, folder)]
    if not keys:
        return
    reporter.note(f"downloading the missing files of {len(keys)} earlier succeeded task(s)")
    try:
        report = await fetch_missing_files(
            journal, keys, folder, plan.catalog, note=lambda line: None
        )
    except ConfigurationError as exc:
        reporter.note(f"cannot download the missing files: {exc}")
        return
    reporter.note(report.describe())


class _Run:
    """One run's moving parts: the tracker, the signal handlers and the results file."""

    def __init__(
        self,
        plan: RunPlan,
        journal: SqliteJournal,
        results: ResultsFile,
        reporter: ProgressReporter,
        *,
        owned: dict[str, set[str]],
        cap: SpendCap | None = None,
        server: CallbackServer | None = None,
    ) -> None:
        self.plan = plan
        self.cap = cap
        self.capped: list[dict[str, Any]] = []  # result lines of tasks the cap kept back
        self.server = server
        self.tracker: Tracker | None = None
        self.journal = journal
        self.gate = _GatedJournal(journal)
        self.results = results
        self.reporter = reporter
        self.interrupted = False
        self.owned = owned
        self._stop = anyio.Event()

    @property
    def callback_stats(self) -> CallbackSummary | None:
        """What callbacks did in this run (None without them, or before the tracker ran)."""
        return None if self.tracker is None else self.tracker.callback_stats

    def _on_signal(self) -> None:
        if self.interrupted:
            self.reporter.note("interrupted again: exiting now; the journal keeps every record")
            with contextlib.suppress(Exception):
                self.reporter.stop()
            os._exit(EXIT_INTERRUPTED)
        self.interrupted = True
        self.gate.start_draining()
        self._stop.set()

    async def _stop_when_drained(self, work: anyio.CancelScope) -> None:
        await self._stop.wait()
        if self.gate.in_flight:
            self.reporter.note(
                f"interrupted: no new submits; waiting for {self.gate.in_flight} submit(s) on"
                " the wire to be journaled (Ctrl-C again to exit at once)"
            )
        await self.gate.drained()
        work.cancel()

    def _install_signals(self) -> list[signal.Signals]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal)
                installed.append(sig)
        return installed

    async def drive(
        self,
        configs: list[ProviderConfig],
        unfinished: list[JournalEntry],
        pending: list[tuple[str, VideoTask]],
    ) -> None:
        hub = EventHub()
        hub.add_callback(self.reporter.on_event)
        if self.plan.log_events:
            hub.add_callback(EventLogger())
        if otel_available():  # the globally configured SDK, if any, receives them
            hub.add_callback(OpenTelemetryObserver())
        # Intents to reconcile are on the wire until settled; one never sent and a waiting
        # failover are new submits, which a drain holds back.
        self.gate.expect(
            e.key for e in unfinished if e.handle is None and not (e.never_sent or e.failover)
        )
        async with contextlib.AsyncExitStack() as stack:
            if self.plan.metrics_port is not None:
                metrics = PrometheusMetrics()
                hub.add_callback(metrics)
                server = MetricsServer(metrics, self.plan.metrics_port, self.plan.metrics_host)
                await stack.enter_async_context(server)
                self.reporter.note(f"metrics at http://{server.host}:{server.port}/metrics")
            await self._drive(hub, configs, unfinished, pending)

    async def _drive(
        self,
        hub: EventHub,
        configs: list[ProviderConfig],
        unfinished: list[JournalEntry],
        pending: list[tuple[str, VideoTask]],
    ) -> None:
        installed = self._install_signals()
        try:
            async with Client(
                configs,
                events=hub,
                probe_media=self.plan.probe_media,
                uploader=self.plan.uploader,
                upload_all=self.plan.upload_all,
            ) as client:
                for alias, ids in self.owned.items():
                    if alias in client.configs:
                        client.provider(alias).remember(ids)
                self.reporter.start()
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self.reporter.run)
                        with anyio.CancelScope() as work:
                            tg.start_soon(self._stop_when_drained, work)
                            await self._track(client, unfinished, pending)
                        tg.cancel_scope.cancel()
                finally:
                    self.reporter.stop()
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _track(
        self,
        client: Client,
        unfinished: list[JournalEntry],
        pending: list[tuple[str, VideoTask]],
    ) -> None:
        plan = self.plan
        async with Tracker(
            client,
            providers=plan.failover,
            journal=self.gate,
            download_dir=plan.download_dir,
            deadline=plan.deadline,
            schedule=plan.schedule,
            max_cost=self.cap,
            prices=plan.prices,
            callbacks=self.server,
            backstop=plan.backstop,
            confirm_window=plan.confirm_window,
        ) as tracker:
            self.tracker = tracker
            await tracker.resume(unfinished)
            for key, task in pending:
                if self.interrupted:
                    break
                try:
                    await tracker.submit(task, key=key)
                except InvalidTaskSpec as exc:  # e.g. the journal predates a --provider change
                    await self._reject(key, task, str(exc))
            async for result in tracker.as_completed():
                line = dump_result(result)
                if plan.prices is not None:  # the user's prices, not the shipped list
                    line["cost"] = line_cost(line, result.task, plan.prices)
                self.results.append(line)
                if result.outcome is Outcome.CAPPED:
                    self.capped.append(line)

    async def _reject(self, key: str, task: VideoTask, reason: str) -> None:
        result = TaskResult(
            key=key, task=task, outcome=Outcome.REJECTED, reason=reason, finished_at=time.time()
        )
        await self.journal.record_result(key, result)
        self.results.append(dump_result(result))
        self.reporter.preload(key, None, Outcome.REJECTED.value)
