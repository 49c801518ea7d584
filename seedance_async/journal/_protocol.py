"""The journal interface: what the tracker records so a crashed batch can resume.

Order of records for one task attempt: ``intent`` (before the paid submit is sent), then
``submitted`` (the remote id, right after the answer), then ``status`` on each state change,
then ``result``. On resume, an intent without a remote id is reconciled, never resubmitted.
Secrets are never passed to a journal.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from seedance_async.spec._handle import TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["CallbackTokenJournal", "Journal", "JournalEntry", "NullJournal"]


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One unfinished task as the journal knows it.

    Attributes:
        key: tracking key.
        task: the spec.
        provider: alias of the last attempt.
        attempt: number of the last attempt (0-based).
        handle: the remote task, when the submit answer was recorded.
        intent_at: Unix time the intent was recorded (the submit may follow right after).
        last_status: the last state change seen.
        callback_token: the token in the attempt's callback URL, when it had one, so a
            resumed run keeps receiving its callbacks (a secret: not in the repr).
    """

    key: str
    task: VideoTask
    provider: str | None = None
    attempt: int = 0
    handle: TaskHandle | None = None
    intent_at: float | None = None
    last_status: TaskStatus | None = None
    callback_token: str | None = attrs.field(default=None, repr=False)


class Journal(Protocol):
    """Durable record of a batch. Implementations must not block the event loop."""

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        """About to send a paid submit for ``key`` to ``provider``."""
        ...

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        """The provider answered with a remote id."""
        ...

    async def record_not_created(self, key: str, provider: str, reason: str) -> None:
        """The intended submit provably created no task (refused, or never sent)."""
        ...

    async def record_status(self, key: str, status: TaskStatus) -> None:
        """The task changed state."""
        ...

    async def record_result(self, key: str, result: TaskResult) -> None:
        """The task is finished for good (including ``unknown`` and ``rejected``)."""
        ...


@runtime_checkable
class CallbackTokenJournal(Protocol):
    """A journal that also keeps each attempt's callback token (optional for journals).

    A resumed run registers the token again, so the provider's callbacks to the URL it was
    given keep arriving; a journal without this only loses that fast path (polls remain).
    """

    async def record_callback_token(self, key: str, token: str) -> None:
        """The current attempt of ``key`` (after its intent) carries ``token``."""
        ...


class NullJournal:
    """A journal that keeps nothing (the default: no durability, no cost)."""

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        """Keeps nothing."""

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        """Keeps nothing."""

    async def record_not_created(self, key: str, provider: str, reason: str) -> None:
        """Keeps nothing."""

    async def record_status(self, key: str, status: TaskStatus) -> None:
        """Keeps nothing."""

    async def record_result(self, key: str, result: TaskResult) -> None:
        """Keeps nothing."""
