"""One call from a spec to a video file: :func:`generate` submits, waits and downloads.

It is the :class:`~seedance_async.Client` calls an application would write, in order, with
the same safety: the paid submit is sent at most once (an ambiguous one is reconciled, never
resent blindly), the running-task budget of the key is respected, and the file appears
complete or not at all. With a journal, the call can be repeated after a crash, a closed
notebook or a deadline: it re-attaches to the task it created instead of paying again.

A deadline never loses a task. :class:`~seedance_async.DeadlineExceeded` carries the handle
of the remote task, which keeps running (and billing) unless ``cancel_on_deadline`` asked
for a cancel; ``Client.wait`` and ``Client.download`` (or ``generate`` again with the same
journal) pick it up later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import anyio
import attrs

from seedance_async.client._ambiguous_submit import SubmitOutcomeUnknown
from seedance_async.client._client import Client
from seedance_async.client._task_files import save_task_files
from seedance_async.config._provider import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    load_provider_config,
    resolve_providers,
)
from seedance_async.core._clock import local_time
from seedance_async.core._errors import (
    ConfigurationError,
    DeadlineExceeded,
    GenerationFailed,
    InvalidTaskSpec,
    ProviderError,
    Violation,
)
from seedance_async.journal._protocol import SendStamp
from seedance_async.journal._record import JournalRecord
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["Generation", "ProviderChoice", "generate", "resolve_provider"]

# A resumed intent older than this is never resent, even when listing finds no task: a list
# may not reach that far back (the tracker uses the same horizon).
_RESEND_HORIZON = 60.0
_ENDED = {
    TaskState.FAILED: Outcome.FAILED,
    TaskState.EXPIRED: Outcome.EXPIRED,
    TaskState.CANCELLED: Outcome.CANCELLED,
}
# Recorded outcomes after which a new attempt may be paid for: the last one produced nothing
# and is over. "deadline" is not among them: that task may still be running.
_RETRYABLE_OUTCOMES = frozenset({"failed", "expired", "cancelled", "rejected"})


@attrs.frozen(kw_only=True)
class Generation:
    """A video on disk, and the remote task that made it.

    Attributes:
        path: the video file.
        size: its size in bytes.
        handle: the remote task (``spec.dump_handle`` stores it).
        status: the task's final status (URLs, usage).
        last_frame_path: the last frame PNG, when it was asked for.
    """

    path: Path
    size: int
    handle: TaskHandle
    status: TaskStatus
    last_frame_path: Path | None = None


ProviderChoice = str | ProviderConfig
"""An alias (built-in, from ``config``, or of the given client) or a full configuration."""


def resolve_provider(
    provider: ProviderChoice | None,
    config: str | os.PathLike[str] | Mapping[str, ProviderConfig] | None = None,
) -> ProviderConfig:
    """The configuration ``generate`` uses when it opens its own client.

    Raises:
        ConfigurationError: no provider named, an unknown alias (the message lists the known
            ones), or an unreadable ``config`` file.
    """
    if isinstance(provider, ProviderConfig):
        return provider
    if provider is None:
        raise ConfigurationError(
            f"name a provider: provider='ark' (built-in aliases: {', '.join(BUILTIN_PROVIDERS)}),"
            " an alias of config=, or a ProviderConfig"
        )
    configured = (
        config if config is None or isinstance(config, Mapping) else load_provider_config(config)
    )
    return resolve_providers([provider], configured)[0]


def _alias_in(client: Client, provider: ProviderChoice | None) -> str:
    if provider is None:
        return client.aliases[0]
    if isinstance(provider, ProviderConfig):
        if client.configs.get(provider.alias) != provider:
            raise ConfigurationError(
                f"the client has no provider configured as {provider.alias!r};"
                f" pass one of its aliases ({', '.join(client.aliases)})"
            )
        return provider.alias
    client.provider(provider)  # unknown alias or closed client: a ConfigurationError
    return provider


async def generate(
    task: VideoTask,
    path: str | os.PathLike[str],
    *,
    provider: ProviderChoice | None = None,
    config: str | os.PathLike[str] | Mapping[str, ProviderConfig] | None = None,
    deadline: float | None = None,
    journal: SqliteJournal | str | os.PathLike[str] | None = None,
    client: Client | None = None,
    cancel_on_deadline: bool = False,
    last_frame_path: str | os.PathLike[str] | None = None,
    schedule: PollSchedule | None = None,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Generation:
    """Generate one video and save it to ``path``: submit, wait, download, in one call.

    Args:
        task: the spec (validated before anything is sent).
        path: where the video goes; its folder is created when missing. The file appears
            complete or not at all.
        provider: an alias (``"ark"``; built-in, from ``config``, or of ``client``) or a
            :class:`ProviderConfig`. Default with ``client``: its first alias.
        config: a ``providers.toml`` path, or a mapping of aliases, to look ``provider`` up.
        deadline: seconds from now to wait for the task to end. The submit itself is never
            interrupted (a half-sent paid request would leave a task unaccounted for); the
            download after a success has its own timeouts.
        journal: a :class:`SqliteJournal` (open) or a path to one. The intent is recorded
            before the paid request leaves and the remote id right after, so calling
            ``generate`` again with the same task and journal re-attaches to the task (after
            a crash or a deadline) instead of paying again.
        client: an open :class:`Client` to use (and leave open); default: one is opened for
            this call from ``provider`` and closed after.
        cancel_on_deadline: at the deadline, cancel the remote task where the provider
            allows it (Ark: only while queued). By default nothing is cancelled.
        last_frame_path: where to save the last frame (the task must set
            ``return_last_frame=True``).
        schedule: poll timing (default :class:`PollSchedule`).
        key: the journal key (default: the spec's hash, so the same spec is the same task).
        env: where API keys are looked up when ``client`` is not given (default
            ``os.environ``).

    Returns:
        The file, its size, the task's handle and final status.

    Raises:
        InvalidTaskSpec: the spec breaks a rule of the model or provider (nothing was sent).
        ConfigurationError: no or unknown provider, a missing key, a closed client.
        DeadlineExceeded: the deadline passed first; ``handle`` names the remote task (None
            when nothing was submitted), ``cancelled`` says whether it was cancelled.
        GenerationFailed: the task ended failed, expired or cancelled (``status`` says why).
        SubmitOutcomeUnknown: a submit may have created a task that could not be identified
            (its ``sent_at`` and ``candidates`` help find it in the provider's console).
        ProviderError: the provider refused the task (nothing was created) or the download
            failed (``ResultExpired``, ``DownloadIncomplete``...).
        DownloadWriteError: the video could not be written to ``path``.
        JournalError: the journal could not be read or written.
        ValueError: ``deadline`` is not positive.
    """
    if deadline is not None and not deadline > 0:
        raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
    if last_frame_path is not None and not task.return_last_frame:
        raise InvalidTaskSpec(
            [
                Violation(
                    field="return_last_frame",
                    rule="must be true to save a last frame (last_frame_path is set)",
                    value=task.return_last_frame,
                )
            ]
        )
    call = _Call(
        task=task,
        dest=Path(path),
        frame_dest=Path(last_frame_path) if last_frame_path is not None else None,
        deadline=deadline,
        cancel_on_deadline=cancel_on_deadline,
        schedule=schedule,
        key=key or task_hash(task),
    )
    if client is not None:
        if config is not None or env is not None:
            raise ConfigurationError("config and env belong to the client when one is given")
        return await _with_journal(call, client, _alias_in(client, provider), journal)
    chosen = resolve_provider(provider, config)
    async with Client([chosen], env=env) as own:
        return await _with_journal(call, own, chosen.alias, journal)


async def _with_journal(
    call: _Call, client: Client, alias: str, journal: SqliteJournal | str | os.PathLike[str] | None
) -> Generation:
    if journal is None or isinstance(journal, SqliteJournal):
        return await call.run(client, alias, journal)
    async with SqliteJournal(Path(journal)) as opened:
        return await call.run(client, alias, opened)


@attrs.define(kw_only=True)
class _Call:
    """One ``generate`` call's inputs; :meth:`run` is the whole procedure."""

    task: VideoTask
    dest: Path
    frame_dest: Path | None
    deadline: float | None
    cancel_on_deadline: bool
    schedule: PollSchedule | None
    key: str
    started: float = 0.0

    def remaining(self, client: Client) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - (client.clock.now() - self.started)

    async def run(self, client: Client, alias: str, journal: SqliteJournal | None) -> Generation:
        self.started = client.clock.now()
        record = await journal.get(self.key) if journal is not None else None
        saved = _already_saved(record, self.dest) if record is not None else None
        if saved is not None:
            return self._saved(*saved)
        handle = await self._resume(client, journal, record)
        if handle is None:
            attempt = record.attempt + 1 if record is not None and record.intent_at else 0
            handle = await self._submit(client, alias, journal, attempt)
            try:
                status = await self._wait(client, handle, journal)
            finally:
                await client.provider(alias).budget.release_running_slot()
        else:
            status = await self._wait(client, handle, journal)
        return await self._collect(client, handle, status, journal)

    # -- the steps ---------------------------------------------------------------------------

    async def _resume(
        self, client: Client, journal: SqliteJournal | None, record: JournalRecord | None
    ) -> TaskHandle | None:
        """The remote task an earlier call created for this key, if it may still give a video."""
        if journal is None or record is None or record.state == "pending":
            return None
        if record.is_finished:
            result = record.result
            outcome = result.outcome if result else None
            if result is not None and outcome is Outcome.UNKNOWN:
                reason = result.reason or "submit outcome unknown"
                raise SubmitOutcomeUnknown(
                    f"the journal says an earlier submit of this task may have created a task"
                    f" that could not be identified: {reason}",
                    sent_at=record.intent_at or 0.0,
                    reason=str(reason),
                    provider=record.provider or "",
                )
            if outcome in _RETRYABLE_OUTCOMES or record.handle is None:
                return None  # that attempt is over and produced nothing: a new one is paid
            return record.handle
        if record.handle is not None:
            return record.handle
        if record.never_sent:  # stopped before its request left: nothing to find
            return None
        return await self._reconcile(client, journal, record)

    async def _reconcile(
        self, client: Client, journal: SqliteJournal, record: JournalRecord
    ) -> TaskHandle | None:
        # An intent without a remote id: the call was stopped while its submit was on the
        # wire. The task may exist and cost money: find it, never resend blindly.
        alias = record.provider or ""
        provider = client.provider(alias)
        sent_at = record.intent_at or 0.0
        try:
            handle, _ = await provider.reconcile(
                self.task,
                spec_hash=task_hash(self.task),
                sent_at=sent_at,
                cause="interrupted before the submit's answer",
                key=self.key,
            )
        except SubmitOutcomeUnknown as exc:
            recent = client.clock.wall() - sent_at <= _RESEND_HORIZON
            if exc.not_found and provider.config.resubmit_when_not_listed and recent:
                await journal.record_not_created(self.key, alias, exc.reason)
                return None
            await self._record_unknown(client, journal, alias, exc, sent_at)
            raise
        await journal.record_submitted(self.key, handle)
        return handle

    async def _submit(
        self, client: Client, alias: str, journal: SqliteJournal | None, attempt: int
    ) -> TaskHandle:
        provider = client.provider(alias)
        loaded = await client.prepare(self.task, alias, deadline=self.remaining(client))
        # The key's running-task budget, as the tracker keeps it: calls sharing a client
        # wait here (before anything is sent) instead of being refused by the provider.
        remaining = self.remaining(client)
        with anyio.move_on_after(remaining if remaining is not None else float("inf")) as scope:
            await provider.budget.acquire_running_slot()
        if scope.cancelled_caught:
            raise DeadlineExceeded(
                f"deadline of {self.deadline}s passed before a running slot of {alias} was"
                " free; nothing was submitted"
            )
        try:
            if journal is not None:
                await journal.record_intent(
                    self.key, self.task, alias, attempt, client.clock.wall()
                )
            try:
                handle, _ = await provider.submit(
                    loaded,
                    spec_hash=task_hash(self.task),
                    key=self.key,
                    stamp=SendStamp(journal, self.key) if journal is not None else None,
                )
            except SubmitOutcomeUnknown as exc:
                if journal is not None:
                    await self._record_unknown(client, journal, alias, exc, exc.sent_at)
                raise
            except ProviderError as exc:
                if journal is not None:  # refused or never sent: nothing was created
                    await journal.record_not_created(self.key, alias, str(exc))
                raise
            if journal is not None:
                await journal.record_submitted(self.key, handle)
        except BaseException:
            await provider.budget.release_running_slot()
            raise
        return handle

    async def _wait(
        self, client: Client, handle: TaskHandle, journal: SqliteJournal | None
    ) -> TaskStatus:
        remaining = self.remaining(client)
        try:
            # A deadline already spent still gets one look: the task may have ended.
            if remaining is not None and remaining <= 0:
                status = await client.status(handle)
                if status.is_terminal:
                    return status
                raise DeadlineExceeded("", handle=handle, status=status)
            return await client.wait(handle, deadline=remaining, schedule=self.schedule)
        except DeadlineExceeded as exc:
            raise await self._deadline(client, handle, exc.status, journal) from None

    async def _deadline(
        self,
        client: Client,
        handle: TaskHandle,
        status: TaskStatus | None,
        journal: SqliteJournal | None,
    ) -> DeadlineExceeded:
        where = f"task {handle.task_id} on {handle.provider}"
        state = status.state.value if status is not None else "not final"
        if not self.cancel_on_deadline:
            return DeadlineExceeded(
                f"{where} was still {state} after {self.deadline}s; it keeps running (and"
                " bills): wait for it with Client.wait(exc.handle), or call generate again"
                " with the same journal",
                handle=handle,
                status=status,
            )
        with anyio.CancelScope(shield=True):
            try:
                result = await client.cancel(handle)
            except ProviderError as error:
                detail = f"the cancel failed ({type(error).__name__}); it keeps running"
                cancelled = False
            else:
                cancelled = result.cancelled
                detail = "cancelled remotely" if cancelled else result.detail
            if cancelled and journal is not None:
                # Cancelled, not merely past its deadline: the next call may pay for a new one.
                await journal.record_result(
                    self.key,
                    self._result(
                        client, handle, status, Outcome.CANCELLED, f"deadline passed; {detail}"
                    ),
                )
        return DeadlineExceeded(
            f"{where} was still {state} after {self.deadline}s; {detail}",
            handle=handle,
            status=status,
            cancelled=cancelled,
        )

    async def _collect(
        self,
        client: Client,
        handle: TaskHandle,
        status: TaskStatus,
        journal: SqliteJournal | None,
    ) -> Generation:
        if not status.succeeded:
            if journal is not None:
                outcome = _ENDED.get(status.state, Outcome.FAILED)
                reason = status.error_message or status.error_code or f"ended {status.state}"
                await journal.record_result(
                    self.key, self._result(client, handle, status, outcome, reason)
                )
            raise GenerationFailed(status)
        saved = await save_task_files(
            client, status, video=self.dest, last_frame=self.frame_dest, handle=handle
        )
        if journal is not None:  # the files exist remotely: a later call fetches what is missing
            result = self._result(client, handle, status, Outcome.SUCCEEDED, saved.reason)
            result = attrs.evolve(
                result,
                video_path=str(saved.video.path) if saved.video else None,
                last_frame_path=str(saved.last_frame.path) if saved.last_frame else None,
                download_failed=saved.failed,
            )
            await journal.record_result(self.key, result)
        if saved.error is not None:
            raise saved.error
        assert saved.video is not None
        return Generation(
            path=saved.video.path,
            size=saved.video.size,
            handle=handle,
            status=status,
            last_frame_path=saved.last_frame.path if saved.last_frame else None,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _saved(self, handle: TaskHandle, status: TaskStatus) -> Generation:
        frame = (
            self.frame_dest if self.frame_dest is not None and self.frame_dest.exists() else None
        )
        return Generation(
            path=self.dest,
            size=self.dest.stat().st_size,
            handle=handle,
            status=status,
            last_frame_path=frame,
        )

    def _result(
        self,
        client: Client,
        handle: TaskHandle,
        status: TaskStatus | None,
        outcome: Outcome,
        reason: str | None,
    ) -> TaskResult:
        return TaskResult(
            key=self.key,
            task=self.task,
            outcome=outcome,
            status=status,
            handle=handle,
            attempts=(
                Attempt(provider=handle.provider, task_id=handle.task_id, outcome=outcome.value),
            ),
            reason=reason,
            submitted_at=handle.created_at,
            finished_at=client.clock.wall(),
        )

    async def _record_unknown(
        self,
        client: Client,
        journal: SqliteJournal,
        alias: str,
        exc: SubmitOutcomeUnknown,
        sent_at: float,
    ) -> None:
        hint = f"sent at {local_time(sent_at)}"
        if exc.candidates:
            hint += f"; candidates {', '.join(exc.candidates)}"
        await journal.record_result(
            self.key,
            TaskResult(
                key=self.key,
                task=self.task,
                outcome=Outcome.UNKNOWN,
                attempts=(
                    Attempt(provider=alias, task_id=None, outcome="unknown", reason=exc.reason),
                ),
                reason=f"{exc.reason}; {hint}",
                finished_at=client.clock.wall(),
            ),
        )


def _already_saved(record: JournalRecord, dest: Path) -> tuple[TaskHandle, TaskStatus] | None:
    """The task and status, when the journal says its video was saved at ``dest`` and it is
    still there: calling again (a notebook cell run twice) costs no request."""
    result = record.result
    if not (
        record.is_finished
        and result is not None
        and result.outcome is Outcome.SUCCEEDED
        and result.video_path == str(dest)
        and not result.download_failed
        and dest.is_file()
    ):
        return None
    if record.handle is None or record.last_status is None:
        return None
    return record.handle, record.last_status
