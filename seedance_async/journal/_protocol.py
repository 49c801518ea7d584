"""The journal interface: what the tracker records so a crashed batch can resume.

Order of records for one task attempt: ``intent`` (before the paid submit is sent), then,
for a journal that stamps sends (:class:`SendStampJournal`), ``sent`` right before the
request leaves, then ``submitted`` (the remote id, right after the answer), then ``status`` on
each state change, then ``result``. A journal that keeps attempts (:class:`AttemptJournal`)
also records them when one ends without a result (a refusal, a failover). On resume, an intent without a remote id is reconciled,
never blindly resubmitted, unless the journal proves it was never sent (no ``sent`` stamp):
then nothing can exist remotely, and it is submitted again. Secrets are never passed to a
journal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from seedance_async.spec._handle import Attempt, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = [
    "AttemptJournal",
    "CallbackTokenJournal",
    "Journal",
    "JournalEntry",
    "NullJournal",
    "SendStamp",
    "SendStampJournal",
]


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
        sent_at: Unix time the intent's request was stamped as leaving, when the journal
            stamps sends and it was.
        never_sent: the journal proves the intent's request never left (it stamps sends,
            and this one was not stamped): nothing can exist remotely, so the task may be
            submitted again. False whenever that is not proven.
        last_status: the last state change seen.
        attempts: the attempts that ended before the current one (refused, rejected, or
            created and then failed over), when the journal keeps them: a resumed task
            neither repeats them nor loses them from its result.
        failover: the last attempt failed remotely and the task waits to be submitted to
            another provider (no intent yet, no remote task to follow).
        callback_token: the token in the attempt's callback URL, when it had one, so a
            resumed run keeps receiving its callbacks (a secret: not in the repr).
    """

    key: str
    task: VideoTask
    provider: str | None = None
    attempt: int = 0
    handle: TaskHandle | None = None
    intent_at: float | None = None
    sent_at: float | None = None
    never_sent: bool = False
    last_status: TaskStatus | None = None
    attempts: tuple[Attempt, ...] = ()
    failover: bool = False
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


@runtime_checkable
class AttemptJournal(Protocol):
    """A journal that also keeps each task's ended attempts (optional for journals).

    Without it a resumed task knows only its current attempt: it may offer the task again
    to a provider that already refused it, lose a billed attempt from its result, and
    forget a failover that was waiting to be submitted.
    """

    async def record_attempts(
        self, key: str, attempts: Sequence[Attempt], *, failover: bool = False
    ) -> None:
        """``key``'s attempts so far; ``failover``: its remote task failed and it waits to
        be submitted to another provider."""
        ...


@runtime_checkable
class SendStampJournal(Protocol):
    """A journal that also stamps the moment each paid request leaves (optional for journals).

    The intent is written before the submit waits for its rate-limit token or sleeps on a
    429; a crash there leaves an intent whose request never left. The stamp, written right
    before the request goes out (and durable when :meth:`record_sent` returns), tells the
    two apart: an intent without it is submitted again on resume, one with it is
    reconciled. A journal without stamps has every intent reconciled.
    """

    async def record_sent(self, key: str, at: float) -> None:
        """The current intent of ``key`` is about to leave; durable before returning."""
        ...

    async def record_unsent(self, key: str, reason: str) -> None:
        """The request of the current intent provably created nothing (a 429, a refused
        connection) and the submit waits before trying again: the stamp is removed."""
        ...


@attrs.frozen
class SendStamp:
    """Stamps one task's sends in its journal (what a paid submit calls around its sends).

    Attributes:
        journal: the journal.
        key: the task's key.
    """

    journal: SendStampJournal
    key: str

    async def sending(self, at: float) -> None:
        """The request leaves right after this returns."""
        await self.journal.record_sent(self.key, at)

    async def not_sent(self, reason: str) -> None:
        """The request provably created nothing; the next try stamps again."""
        await self.journal.record_unsent(self.key, reason)


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
