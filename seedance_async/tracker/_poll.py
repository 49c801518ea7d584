"""The poll stage: following remote tasks until they end, deadlines, cancels, downloads.

The scheduler hands due tasks, grouped by provider, to poll workers; a provider with a list
endpoint answers a whole group in one call. A task that failed for a retryable reason goes
back to the submit stage for another provider; succeeded tasks go to the download workers.
"""

from __future__ import annotations

import sys

import anyio
import attrs

from seedance_async.core._errors import (
    InvalidTaskSpec,
    ProviderError,
    TaskNotFound,
)
from seedance_async.core._events import EventKind
from seedance_async.policy._failover import is_retryable_failure
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.tracker._table import NO_RAW, TrackerCore
from seedance_async.tracker._task import TrackedTask

__all__ = ["PollStage"]

_NOT_FOUND_LIMIT = 3


class PollStage(TrackerCore):
    """Poll, deadline, cancel and download logic (mixed into :class:`~seedance_async.Tracker`)."""

    async def _attached(
        self,
        tracked: TrackedTask,
        handle: TaskHandle,
        first: TaskStatus | None,
        *,
        journal: bool = True,
    ) -> None:
        """Start following a remote task (fresh submit, adopted by reconciliation, or resumed)."""
        alias = handle.provider
        tracked.handle = handle
        tracked.attempts.append(
            Attempt(provider=alias, task_id=handle.task_id, outcome="submitted")
        )
        elapsed = max(0.0, self.clock.wall() - handle.created_at)
        tracked.submitted_mono = self.clock.now() - elapsed
        tracked.submitted_wall = handle.created_at
        if journal:
            await self.journal.record_submitted(tracked.key, handle)
        self._emit(EventKind.SUBMITTED, tracked, alias)
        if tracked.cancel_requested:
            await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")
            return
        # A first answer that is already terminal (an adopted task that ended while its
        # submit answer was lost) hands the task on; polling it as well would download twice.
        if first is not None and not await self._apply_status(tracked, first):
            return
        delay = self.schedule.first_delay(self._eta.early(alias, tracked.task.model)) - elapsed
        self._schedule_poll(tracked, max(0.0, delay))

    async def _dispatch_due(self, due: list[TrackedTask]) -> None:
        groups: dict[str, list[TrackedTask]] = {}
        now = self.clock.now()
        for tracked in due:
            if tracked.deadline_at is not None and now >= tracked.deadline_at:
                groups.setdefault("", []).append(tracked)
            elif tracked.handle is not None:
                groups.setdefault(tracked.handle.provider, []).append(tracked)
            elif tracked.deadline_at is not None:
                # A deadline taken early with a poll group: keep it for its own time.
                self._scheduler.schedule(tracked, tracked.deadline_at)
        for alias, members in groups.items():
            step = (
                1
                if not alias or not self.client.provider(alias).adapter.capabilities.can_list
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

    async def _poll_group(self, group: list[TrackedTask]) -> None:
        live = [t for t in group if not t.done]
        if not live:
            return
        if live[0].handle is None or (
            live[0].deadline_at is not None and self.clock.now() >= live[0].deadline_at
        ):
            for tracked in live:
                await self._deadline(tracked)
            return
        alias = live[0].handle.provider
        provider = self.client.provider(alias)
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
                await self._apply_status(tracked, status)

    def _poll_failed(self, tracked: TrackedTask) -> None:
        # Transient poll errors never end a task: back off and keep following it.
        tracked.poll_errors += 1
        delay = min(
            self.schedule.max_interval,
            self.schedule.min_interval * 2.0 ** min(tracked.poll_errors, 10),
        )
        self._schedule_poll(tracked, delay)

    async def _not_found(self, tracked: TrackedTask) -> None:
        tracked.poll_errors += 1
        if tracked.poll_errors >= _NOT_FOUND_LIMIT:
            await self._finish(tracked, Outcome.FAILED, "the provider no longer knows this task")
        else:
            self._poll_failed(tracked)

    async def _apply_status(self, tracked: TrackedTask, status: TaskStatus) -> bool:
        """Take one answer about ``tracked``; True while it stays in the poll stage."""
        current = tracked.status
        previous = current.state if current else None
        if status.is_terminal:
            tracked.status = status
        elif current is None or status != current:
            # Raw answers stay out of tracked memory and the strings every status repeats
            # are shared (100,000 tasks may be tracked). A routine poll that changes nothing
            # (equality ignores ``raw``) keeps the stored status and allocates no copy.
            task_id = status.task_id
            if tracked.handle is not None and tracked.handle.task_id == task_id:
                task_id = tracked.handle.task_id
            tracked.status = attrs.evolve(
                status,
                raw=NO_RAW,
                task_id=task_id,
                provider_status=sys.intern(status.provider_status),
            )
        assert tracked.handle is not None
        alias = tracked.handle.provider
        if status.state is not previous:
            await self.journal.record_status(tracked.key, status)
            if status.state is TaskState.RUNNING:
                self._emit(EventKind.RUNNING, tracked, alias)
        if not status.is_terminal:
            now = self.clock.now()
            tracked.running_seen_at = now
            elapsed = now - (tracked.submitted_mono or now)
            model = tracked.task.model
            delay = self.schedule.next_delay(
                elapsed, self._eta.eta(alias, model), self._eta.early(alias, model)
            )
            self._schedule_poll(tracked, delay)
            return True
        self._scheduler.unschedule(tracked)
        if status.state is TaskState.SUCCEEDED:
            self._observe_duration(tracked, status, alias)
            if self.download_dir is not None:
                self._download_send.send_nowait(tracked)
            else:
                await self._finish(tracked, Outcome.SUCCEEDED, None, provider=alias)
        elif status.state is TaskState.CANCELLED:
            await self._finish(
                tracked, Outcome.CANCELLED, "cancelled at the provider", provider=alias
            )
        else:
            await self._remote_failure(tracked, status, alias)
        return False

    def _observe_duration(self, tracked: TrackedTask, status: TaskStatus, alias: str) -> None:
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
                alias, model, self.clock.now() - tracked.submitted_mono, at_least=seen
            )

    async def _remote_failure(self, tracked: TrackedTask, status: TaskStatus, alias: str) -> None:
        outcome = Outcome.EXPIRED if status.state is TaskState.EXPIRED else Outcome.FAILED
        reason = f"{status.error_code or status.state.value}: {status.error_message or ''}".strip(
            ": "
        )
        tracked.attempts[-1] = attrs.evolve(
            tracked.attempts[-1], outcome=outcome.value, reason=reason
        )
        extra_used = sum(1 for a in tracked.attempts if a.outcome in ("failed", "expired")) - 1
        others = [a for a in tracked.order if a not in {x.provider for x in tracked.attempts}]
        if is_retryable_failure(status) and extra_used < self.policy.max_extra_attempts and others:
            await self._release_slot(tracked)
            self._scheduler.unschedule(tracked)
            self._emit(EventKind.FAILED_OVER, tracked, alias, f"{reason}; resubmitting elsewhere")
            tracked.handle = None
            tracked.status = status
            self._submit_send.send_nowait(tracked)
            return
        await self._finish(tracked, outcome, reason, provider=alias)

    # -- deadlines and cancellation ----------------------------------------------------------

    async def _deadline(self, tracked: TrackedTask) -> None:
        if tracked.handle is None:
            await self._finish(
                tracked, Outcome.DEADLINE, "deadline passed before the task could be submitted"
            )
            return
        await self._cancel_submitted(tracked, Outcome.DEADLINE, "deadline passed")

    async def _cancel_submitted(self, tracked: TrackedTask, outcome: Outcome, why: str) -> None:
        assert tracked.handle is not None
        provider = self.client.provider(tracked.handle.provider)
        caps = provider.adapter.capabilities
        state = tracked.status.state if tracked.status else TaskState.QUEUED
        if caps.can_cancel and state in caps.cancel_states:
            try:
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    await provider.cancel(tracked.handle.task_id)
                await self._finish(
                    tracked, outcome, f"{why}; cancelled remotely (was {state.value})"
                )
                return
            except ProviderError as exc:
                why = f"{why}; remote cancel failed ({type(exc).__name__})"
        await self._finish(
            tracked,
            outcome,
            f"{why}; detached, the task may still run and bill (was {state.value})",
        )

    async def _cancel(self, tracked: TrackedTask) -> None:
        if tracked.done:
            return
        tracked.cancel_requested = True
        if tracked.handle is None:
            # Not sent yet (or being sent: the submit worker sees the flag after the answer).
            if tracked.slot_alias is None:
                await self._finish(tracked, Outcome.CANCELLED, "cancelled before submit")
            return
        self._scheduler.unschedule(tracked)
        await self._cancel_submitted(tracked, Outcome.CANCELLED, "cancelled by caller")

    # -- downloads ---------------------------------------------------------------------------

    async def _download(self, tracked: TrackedTask) -> None:
        assert self.download_dir is not None
        assert tracked.status is not None
        assert tracked.handle is not None
        status = tracked.status
        video = self.download_dir / f"{tracked.key}.mp4"
        frame_path: str | None = None
        reason = None
        try:
            await self.client.download(status, video, handle=tracked.handle)
            if tracked.task.return_last_frame and status.last_frame_url:
                frame = self.download_dir / f"{tracked.key}.last.png"
                await self.client.download(status, frame, last_frame=True, handle=tracked.handle)
                frame_path = str(frame)
            self._emit(EventKind.DOWNLOADED, tracked, tracked.handle.provider)
            video_path: str | None = str(video)
        except (ProviderError, InvalidTaskSpec, OSError) as exc:
            video_path = None
            reason = f"download failed: {exc}"
        await self._finish(
            tracked,
            Outcome.SUCCEEDED,
            reason,
            provider=tracked.handle.provider,
            video_path=video_path,
            last_frame_path=frame_path,
        )
