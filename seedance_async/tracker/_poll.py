"""The poll stage: following remote tasks until they end, deadlines, cancels, downloads.

The poll heap hands due tasks, grouped by provider, to poll workers; a provider with a list
endpoint answers a whole group in one call. What an answer leads to is decided by
:func:`~seedance_async.tracker._transitions.decide`; :meth:`PollStage._carry_out` does it. A
task that failed for a retryable reason goes back to the submit stage (``resubmit``) for
another provider; succeeded tasks go to the download workers when a folder is set.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from seedance_async.client._client import Client
from seedance_async.client._task_files import save_task_files
from seedance_async.core._errors import ProviderError, TaskNotFound
from seedance_async.core._events import EventKind
from seedance_async.policy._poll_schedule import EtaEstimator, PollSchedule
from seedance_async.spec._handle import Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.tracker._heap import PollHeap
from seedance_async.tracker._table import TaskTable
from seedance_async.tracker._task import TaskRun
from seedance_async.tracker._transitions import (
    Action,
    EndAttempt,
    Finish,
    KeepPolling,
    Rules,
    Succeed,
    decide,
)

__all__ = ["PollStage"]

_NOT_FOUND_LIMIT = 3


class PollStage:
    """Follows remote tasks to their end.

    Args:
        table: the task table (every state change goes through it).
        client: the open client.
        schedule: poll timing.
        rules: what decisions depend on (download folder set, extra attempts allowed).
        download_dir: where succeeded tasks' files go, when set.
        batch_size: most task ids in one list-based status call.
        rng: draws poll jitter (shared with the tracker's failover draws, for ``seed``).
        resubmit: hands a task back to the submit stage after a retryable remote failure.
        backstop: the schedule of tasks sent with a callback URL (``TaskRun.callbacks``),
            when callbacks are on.
    """

    def __init__(
        self,
        table: TaskTable,
        client: Client,
        *,
        schedule: PollSchedule,
        rules: Rules,
        download_dir: Path | None,
        batch_size: int,
        rng: random.Random,
        resubmit: Callable[[TaskRun], None],
        backstop: PollSchedule | None = None,
    ) -> None:
        self._table = table
        self._client = client
        self._clock = client.clock
        self._schedule = schedule
        self._rules = rules
        self._download_dir = download_dir
        self._batch_size = batch_size
        self._rng = rng
        self._resubmit = resubmit
        self._eta = EtaEstimator(early_quantile=schedule.early_quantile)
        self._backstop = backstop or schedule
        self._heap = PollHeap(self._clock, lookahead=schedule.min_interval / 2)
        self._poll_send: MemoryObjectSendStream[list[TaskRun]] | None = None
        self._download_send: MemoryObjectSendStream[TaskRun] | None = None

    # -- queues ------------------------------------------------------------------------------

    def open(
        self, poll_workers: int
    ) -> tuple[MemoryObjectReceiveStream[list[TaskRun]], MemoryObjectReceiveStream[TaskRun]]:
        """Fresh poll and download queues; the workers read the returned ends."""
        self._poll_send, poll_recv = anyio.create_memory_object_stream[list[TaskRun]](
            max_buffer_size=poll_workers
        )
        self._download_send, download_recv = anyio.create_memory_object_stream[TaskRun](
            max_buffer_size=float("inf")
        )
        return poll_recv, download_recv

    def close(self) -> None:
        """Close both queues (the workers end once they are drained)."""
        for stream in (self._poll_send, self._download_send):
            if stream is not None:
                stream.close()

    async def run_heap(self) -> None:
        """Forever: hand due polls and deadlines to the poll workers."""
        await self._heap.run(self._dispatch_due)

    def watch_deadline(self, tracked: TaskRun) -> None:
        """Put a new task's deadline on the heap (it ends there unless it ends before)."""
        if tracked.deadline_at is not None:
            self._heap.schedule(tracked, tracked.deadline_at)

    # -- following a remote task -------------------------------------------------------------

    async def attached(
        self,
        tracked: TaskRun,
        handle: TaskHandle,
        first: TaskStatus | None,
        *,
        journal: bool = True,
    ) -> None:
        """Start following a remote task (fresh submit, adopted by reconciliation, or resumed)."""
        elapsed = await self._table.attach(tracked, handle, journal=journal)
        if tracked.cancel_requested:
            await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")
            return
        # A first answer that is already terminal (an adopted task that ended while its
        # submit answer was lost) hands the task on; polling it as well would download twice.
        if first is not None and not await self._apply(tracked, first):
            return
        alias = handle.provider
        model = tracked.task.model
        if tracked.callbacks:
            # The backstop's first poll goes after nearly every task has called back.
            delay = self._backstop.first_delay(self._eta.longest(alias, model)) - elapsed
        else:
            delay = self._schedule.first_delay(self._eta.early(alias, model)) - elapsed
        self._schedule_poll(tracked, max(0.0, delay))

    def _timing(self, tracked: TaskRun) -> PollSchedule:
        return self._backstop if tracked.callbacks else self._schedule

    async def confirm(self, tasks: list[TaskRun]) -> None:
        """Poll ``tasks`` now (a callback asked for it), grouped as due polls are."""
        for tracked in tasks:
            self._heap.unschedule(tracked)
        await self._dispatch_due(tasks)

    def _schedule_poll(self, tracked: TaskRun, delay: float) -> None:
        jitter = self._timing(tracked).jitter_factor(self._rng.random())
        when = self._clock.now() + max(0.0, delay * jitter)
        if tracked.deadline_at is not None:
            when = min(when, tracked.deadline_at)
        self._heap.schedule(tracked, when)

    async def _dispatch_due(self, due: list[TaskRun]) -> None:
        assert self._poll_send is not None
        groups: dict[str, list[TaskRun]] = {}
        now = self._clock.now()
        for tracked in due:
            if tracked.deadline_at is not None and now >= tracked.deadline_at:
                groups.setdefault("", []).append(tracked)
            elif tracked.handle is not None:
                groups.setdefault(tracked.handle.provider, []).append(tracked)
            elif tracked.deadline_at is not None:
                # A deadline taken early with a poll group: keep it for its own time.
                self._heap.schedule(tracked, tracked.deadline_at)
        for alias, members in groups.items():
            step = (
                1
                if not alias or not self._client.provider(alias).adapter.capabilities.can_list
                else self._batch_size
            )
            for i in range(0, len(members), step):
                group = members[i : i + step]
                try:
                    # No event-loop round trip per group while the poll workers have room
                    # (``send`` always yields first); wait only when the buffer is full.
                    self._poll_send.send_nowait(group)
                except anyio.WouldBlock:
                    await self._poll_send.send(group)

    async def poll_group(self, group: list[TaskRun]) -> None:
        """Ask one provider about a group of tasks (or end them when their deadline passed)."""
        live = [t for t in group if not t.done]
        if not live:
            return
        if live[0].handle is None or (
            live[0].deadline_at is not None and self._clock.now() >= live[0].deadline_at
        ):
            for tracked in live:
                await self._deadline(tracked)
            return
        alias = live[0].handle.provider
        provider = self._client.provider(alias)
        ids = [t.handle.task_id for t in live if t.handle is not None]
        try:
            found = (
                await provider.statuses(ids)
                if len(ids) > 1
                else {ids[0]: await provider.status(ids[0], key=live[0].key)}
            )
        except TaskNotFound:
            found = {}
            for tracked in live:
                assert tracked.handle is not None
                try:
                    found[tracked.handle.task_id] = await provider.status(
                        tracked.handle.task_id, key=tracked.key
                    )
                except TaskNotFound:
                    await self._not_found(tracked)
                except ProviderError:
                    self._poll_failed(tracked)
        except ProviderError:
            for tracked in live:
                self._poll_failed(tracked)
            return
        for tracked in live:
            assert tracked.handle is not None
            status = found.get(tracked.handle.task_id)
            if status is not None and not tracked.done:
                tracked.poll_errors = 0
                await self._apply(tracked, status)

    def _poll_failed(self, tracked: TaskRun) -> None:
        # Transient poll errors never end a task: back off and keep following it.
        tracked.poll_errors += 1
        tracked.confirming = False
        schedule = self._timing(tracked)
        delay = min(
            schedule.max_interval, schedule.min_interval * 2.0 ** min(tracked.poll_errors, 10)
        )
        self._schedule_poll(tracked, delay)

    async def _not_found(self, tracked: TaskRun) -> None:
        tracked.poll_errors += 1
        if tracked.poll_errors >= _NOT_FOUND_LIMIT:
            await self._table.finish(
                tracked, Outcome.FAILED, "the provider no longer knows this task"
            )
        else:
            self._poll_failed(tracked)

    # -- the executor ------------------------------------------------------------------------

    async def _apply(self, tracked: TaskRun, status: TaskStatus) -> bool:
        """Take one answer about ``tracked``; True while it stays in the poll stage."""
        action = decide(tracked, status, self._rules)
        await self._table.observe(tracked, status)
        via_hint, tracked.confirming = tracked.confirming, False
        link = self._table.callbacks
        if not tracked.callbacks or link is None:
            return await self._carry_out(tracked, status, action)
        recheck = link.observe(tracked, status.state, via_hint=via_hint)
        polling = await self._carry_out(tracked, status, action)
        if polling and recheck:
            # A callback claimed an end this GET did not show: look once more soon, in
            # case the provider's read lagged its own notice (a forged claim costs one GET).
            self._schedule_poll(tracked, self._backstop.min_interval)
        return polling

    async def _carry_out(self, tracked: TaskRun, status: TaskStatus, action: Action) -> bool:
        """Do what :func:`decide` said; True while the task stays in the poll stage."""
        assert tracked.handle is not None
        alias = tracked.handle.provider
        if isinstance(action, KeepPolling):
            if action.now_running:
                if tracked.started_wall is None:
                    tracked.started_wall = self._clock.wall()
                self._table.emit(EventKind.RUNNING, tracked, alias)
            now = self._clock.now()
            tracked.running_seen_at = now
            elapsed = now - (tracked.submitted_mono or now)
            model = tracked.task.model
            if tracked.callbacks:
                # Sparse: not before the backstop's first poll, then every interval.
                first = self._backstop.first_delay(self._eta.longest(alias, model))
                delay = max(first - elapsed, self._backstop.next_delay(elapsed))
            else:
                eta = self._eta
                delay = self._schedule.next_delay(
                    elapsed, eta.eta(alias, model), eta.early(alias, model)
                )
            self._schedule_poll(tracked, delay)
            return True
        self._heap.unschedule(tracked)
        if isinstance(action, Succeed):
            self._observe_duration(tracked, status, alias)
            if action.download:
                assert self._download_send is not None
                self._download_send.send_nowait(tracked)
            else:
                await self._table.finish(tracked, Outcome.SUCCEEDED, None, provider=alias)
        elif isinstance(action, Finish):
            await self._table.finish(tracked, action.outcome, action.reason, provider=alias)
        elif isinstance(action, EndAttempt):
            self._table.end_attempt(tracked, action.outcome, action.reason)
            if action.fail_over:
                await self._table.detach(
                    tracked, status, f"{action.reason}; resubmitting elsewhere"
                )
                self._resubmit(tracked)
            else:
                await self._table.finish(tracked, action.outcome, action.reason, provider=alias)
        return False

    def _observe_duration(self, tracked: TaskRun, status: TaskStatus, alias: str) -> None:
        # The provider's own timestamps measure the generation itself; our clock adds poll
        # lag, and for a resumed task the whole outage, which would push every later first
        # poll too late (the first poll is placed at a fraction of this estimate).
        # Whole-second timestamps (Ark's) may overstate a duration by up to a second, and
        # the first poll must not land after the quickest tasks' end: the lower bound is
        # also kept, raised by the last poll that still saw the task unfinished.
        seen = None
        if tracked.running_seen_at is not None and tracked.submitted_mono is not None:
            seen = tracked.running_seen_at - tracked.submitted_mono
        model = tracked.task.model
        created, updated = status.created_at, status.updated_at
        if created is not None and updated is not None:
            seconds = (updated - created).total_seconds()
            if seconds > 0:
                whole = created.microsecond == 0 and updated.microsecond == 0
                low = seconds - 1.0 if whole else seconds
                self._eta.observe(alias, model, seconds, at_least=max(low, seen or 0.0))
                return
        if tracked.submitted_mono is not None and not tracked.resumed:
            self._eta.observe(
                alias, model, self._clock.now() - tracked.submitted_mono, at_least=seen
            )

    # -- deadlines and cancellation ----------------------------------------------------------

    async def _deadline(self, tracked: TaskRun) -> None:
        if tracked.handle is None:
            await self._table.finish(
                tracked, Outcome.DEADLINE, "deadline passed before the task could be submitted"
            )
            return
        await self._cancel_submitted(tracked, Outcome.DEADLINE, "deadline passed")

    async def _cancel_submitted(self, tracked: TaskRun, outcome: Outcome, why: str) -> None:
        assert tracked.handle is not None
        provider = self._client.provider(tracked.handle.provider)
        caps = provider.adapter.capabilities
        state = tracked.status.state if tracked.status else TaskState.QUEUED
        if caps.can_cancel and state in caps.cancel_states:
            try:
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    await provider.cancel(tracked.handle.task_id)
                await self._table.finish(
                    tracked, outcome, f"{why}; cancelled remotely (was {state.value})"
                )
                return
            except ProviderError as exc:
                why = f"{why}; remote cancel failed ({type(exc).__name__})"
        await self._table.finish(
            tracked,
            outcome,
            f"{why}; detached, the task may still run and bill (was {state.value})",
        )

    async def cancel(self, tracked: TaskRun) -> None:
        """Stop ``tracked`` only: cancel it remotely where the provider allows, else detach."""
        if tracked.done:
            return
        tracked.cancel_requested = True
        if tracked.handle is None:
            # Not sent yet (or being sent: the submit worker sees the flag after the answer).
            if tracked.slot_alias is None:
                await self._table.finish(tracked, Outcome.CANCELLED, "cancelled before submit")
            return
        self._heap.unschedule(tracked)
        await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")

    # -- downloads ---------------------------------------------------------------------------

    def refetch(self, tracked: TaskRun, result: TaskResult) -> None:
        """Download the files an earlier run's success lacks, then end the task afresh."""
        assert self._download_send is not None
        tracked.handle, tracked.status = result.handle, result.status
        tracked.attempts = list(result.attempts)
        tracked.submitted_wall, tracked.started_wall = result.submitted_at, result.started_at
        self._download_send.send_nowait(tracked)

    async def download(self, tracked: TaskRun) -> None:
        """Fetch a succeeded task's video (and last frame), then end it.

        The task stays ``succeeded`` whatever happens here (the video exists remotely); the
        result names the file that could not be saved and why, and keeps the video when
        only the last frame failed.
        """
        assert self._download_dir is not None
        assert tracked.status is not None
        assert tracked.handle is not None
        saved = await save_task_files(
            self._client,
            tracked.status,
            video=self._download_dir / f"{tracked.key}.mp4",
            last_frame=(
                self._download_dir / f"{tracked.key}.last.png"
                if tracked.task.return_last_frame
                else None
            ),
            handle=tracked.handle,
        )
        if saved.video is not None:
            # A file already there (attempts 0) was downloaded by an earlier run.
            size = saved.video.size if saved.video.attempts else None
            self._table.emit(EventKind.DOWNLOADED, tracked, tracked.handle.provider, size=size)
        await self._table.finish(
            tracked,
            Outcome.SUCCEEDED,
            saved.reason,
            provider=tracked.handle.provider,
            video_path=str(saved.video.path) if saved.video else None,
            last_frame_path=str(saved.last_frame.path) if saved.last_frame else None,
            download_failed=saved.failed,
        )
