"""What the tracker does with a status answer or a journaled key: the only place that decides.

:func:`decide` is pure: it looks at the task (through :class:`TaskView`), the answer and the
tracker's :class:`Rules`, and names an :data:`Action`. It reads no clock, writes no journal
and schedules nothing; the poll stage carries the action out (journaling, scheduling,
downloads, failover) and the task table records every change. Everything a poll answer can
lead to is therefore listed here, and tested from a table (``tests/tracker/test_transitions.py``).

:func:`decide_rerun` does the same for a newly submitted key that the journal already holds
(a re-run of the same program): submit it, report its journaled result, follow the remote
task again, or refuse.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, Protocol

import attrs

from seedance_async.journal._protocol import JournalEntry
from seedance_async.journal._record import JournalRecord
from seedance_async.policy._failover import is_retryable_failure
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import Attempt, Outcome, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = [
    "Action",
    "EndAttempt",
    "Finish",
    "KeepPolling",
    "Reattach",
    "Refetch",
    "Refuse",
    "Replay",
    "RerunAction",
    "Rules",
    "SubmitNew",
    "Succeed",
    "TaskView",
    "decide",
    "decide_rerun",
    "journaled_result",
]

# Attempt outcomes that count against ``FailoverPolicy.max_extra_attempts``.
_FAILED_OUTCOMES = frozenset({"failed", "expired"})


class TaskView(Protocol):
    """What a decision may know about a task (the tracker's ``TaskRun`` is one)."""

    @property
    def status(self) -> TaskStatus | None:
        """The last answer taken, before the one being decided on."""
        ...

    @property
    def attempts(self) -> Sequence[Attempt]:
        """Every provider tried so far; the last is the one that answered."""
        ...

    @property
    def order(self) -> Sequence[str]:
        """The task's failover order (aliases)."""
        ...


@attrs.frozen(kw_only=True)
class Rules:
    """The tracker's settings that decisions depend on.

    Attributes:
        downloads: a download folder is set, so succeeded tasks are downloaded first.
        max_extra_attempts: resubmissions elsewhere allowed after retryable failures.
    """

    downloads: bool = False
    max_extra_attempts: int = 1


@attrs.frozen
class KeepPolling:
    """The task is not finished: keep the answer and poll again later.

    Attributes:
        now_running: the answer is the task's first in the running state (worth an event).
    """

    now_running: bool


@attrs.frozen
class Succeed:
    """The task produced a video: learn its duration, then download it or finish.

    Attributes:
        download: fetch the files before the task ends (a download folder is set).
    """

    download: bool


@attrs.frozen
class Finish:
    """End the task now, the attempt left as it is.

    Attributes:
        outcome: how it ended.
        reason: why, in words.
    """

    outcome: Outcome
    reason: str


@attrs.frozen
class EndAttempt:
    """The remote task failed or expired: mark the attempt, then fail over or end.

    Attributes:
        outcome: ``failed`` or ``expired``, for the attempt and, without failover, the task.
        reason: the provider's code and message.
        fail_over: submit the task to another provider instead of ending it.
    """

    outcome: Literal[Outcome.FAILED, Outcome.EXPIRED]
    reason: str
    fail_over: bool


Action = KeepPolling | Succeed | Finish | EndAttempt

# Non-terminal answers are nearly every answer: no allocation for them.
_POLL = KeepPolling(now_running=False)
_NOW_RUNNING = KeepPolling(now_running=True)
_SUCCEED = Succeed(download=False)
_SUCCEED_AND_DOWNLOAD = Succeed(download=True)
_CANCELLED = Finish(outcome=Outcome.CANCELLED, reason="cancelled at the provider")


def decide(view: TaskView, status: TaskStatus, rules: Rules) -> Action:
    """The action one answer about a task calls for.

    Args:
        view: the task as it was before this answer (its ``attempts`` are non-empty: the
            answer is about the last one).
        status: the provider's answer.
        rules: the tracker's settings.
    """
    state = status.state
    if not state.is_terminal:
        previous = view.status.state if view.status is not None else None
        return _NOW_RUNNING if state is TaskState.RUNNING and previous is not state else _POLL
    if state is TaskState.SUCCEEDED:
        return _SUCCEED_AND_DOWNLOAD if rules.downloads else _SUCCEED
    if state is TaskState.CANCELLED:
        return _CANCELLED
    outcome: Literal[Outcome.FAILED, Outcome.EXPIRED] = (
        Outcome.EXPIRED if state is TaskState.EXPIRED else Outcome.FAILED
    )
    reason = f"{status.error_code or state.value}: {status.error_message or ''}".strip(": ")
    attempts = view.attempts
    # Each earlier attempt that failed or expired was followed by a resubmission.
    extra_used = sum(1 for a in attempts[:-1] if a.outcome in _FAILED_OUTCOMES)
    tried = {a.provider for a in attempts}
    others = any(alias not in tried for alias in view.order)
    fail_over = is_retryable_failure(status) and extra_used < rules.max_extra_attempts and others
    return EndAttempt(outcome=outcome, reason=reason, fail_over=fail_over)


# -- a key the journal already holds ---------------------------------------------------------


@attrs.frozen
class SubmitNew:
    """Nothing is left to follow for the key: submit the task.

    Attributes:
        attempts: the attempts an earlier run ended for the key (refused, or failed over):
            the task continues after them, not from scratch.
    """

    attempts: tuple[Attempt, ...] = ()


@attrs.frozen
class Replay:
    """The key ended in an earlier run: report that result, submit nothing.

    Attributes:
        result: the journaled result, with the caller's spec.
    """

    result: TaskResult


@attrs.frozen
class Refetch:
    """The key succeeded in an earlier run without all its files: download them, submit
    nothing (a download folder is set now).

    Attributes:
        result: the journaled result, with the caller's spec.
    """

    result: TaskResult


@attrs.frozen
class Reattach:
    """The key was sent in an earlier run and has no result: follow it again (as resume).

    Attributes:
        entry: the journal's resume view (a handle to poll, or an intent to reconcile).
    """

    entry: JournalEntry


@attrs.frozen
class Refuse:
    """The journal's record cannot be this task's: end the task, leave the record alone.

    Attributes:
        outcome: ``rejected`` (another spec under this key) or ``unknown`` (sent to a
            provider this client lacks).
        reason: what to change, in words.
    """

    outcome: Literal[Outcome.REJECTED, Outcome.UNKNOWN]
    reason: str


RerunAction = SubmitNew | Replay | Refetch | Reattach | Refuse

_SUBMIT_NEW = SubmitNew()


def decide_rerun(
    record: JournalRecord | None,
    task: VideoTask,
    configured: Collection[str],
    *,
    downloads: bool = False,
) -> RerunAction:
    """What to do with a newly submitted ``task`` whose key the journal may already hold.

    An intent the journal proves was never sent, and a failover waiting for its next
    provider, are submitted (after the attempts the journal holds); any other unfinished
    record is followed again.

    Args:
        record: the journal's record of the key, or None.
        task: the spec the caller submitted now.
        configured: the client's provider aliases.
        downloads: a download folder is set: a success journaled without its files (the
            download failed, or that run had no folder) fetches them instead of replaying.
    """
    if record is None:
        return _SUBMIT_NEW
    if record.state == "pending":
        return SubmitNew(record.entry().attempts)
    if not _same_spec(record.task, task):
        return Refuse(
            outcome=Outcome.REJECTED,
            reason=f"the journal holds another spec under key {record.key!r}; "
            "give this task a key of its own",
        )
    if record.is_finished:
        result = journaled_result(record, task)
        if downloads and _files_missing(result) and _can_download(result, configured):
            return Refetch(result=result)
        return Replay(result=result)
    entry = record.entry()
    if entry.never_sent or entry.failover:  # nothing remote to follow: submit it
        return SubmitNew(entry.attempts)
    alias = entry.handle.provider if entry.handle else entry.provider
    if alias is None or alias not in configured:
        return Refuse(
            outcome=Outcome.UNKNOWN,
            reason=f"sent in an earlier run to provider {alias!r}, which is not configured; "
            "configure it to follow the task",
        )
    return Reattach(entry=entry)


def _files_missing(result: TaskResult) -> bool:
    return result.ok and (result.download_failed is not None or result.video_path is None)


def _can_download(result: TaskResult, configured: Collection[str]) -> bool:
    handle, status = result.handle, result.status
    return (
        handle is not None
        and handle.provider in configured
        and status is not None
        and bool(status.video_url)
    )


def _same_spec(journaled: VideoTask, task: VideoTask) -> bool:
    # The journal keeps the spec as sent: when the caller left the expiry unset, it carries
    # the correlation nonce there (ProviderClient.with_correlation_nonce).
    if task.execution_expires_after is None and journaled.execution_expires_after is not None:
        journaled = attrs.evolve(journaled, execution_expires_after=None)
    return task_hash(journaled) == task_hash(task)


def journaled_result(record: JournalRecord, task: VideoTask) -> TaskResult:
    """The result ``record`` holds, as ``task``'s (a record without one reads ``unknown``)."""
    if record.result is None:  # a final record always has one; read defensively all the same
        return TaskResult(
            key=record.key,
            task=task,
            outcome=Outcome.UNKNOWN,
            status=record.last_status,
            handle=record.handle,
            reason="journaled as finished without a result",
        )
    return attrs.evolve(record.result, key=record.key, task=task)
