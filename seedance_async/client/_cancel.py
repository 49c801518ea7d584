"""What a cancel did: cancelled, deleted, refused, or nothing to do.

Ark's one endpoint for both (``DELETE .../tasks/{id}``) cancels a queued task, is refused for
a running one, and **deletes the record** of a finished one: after that, the task's video URL
and status are gone. A cancel must therefore look before it sends: a task that finished a
moment ago is left alone unless deleting it was asked for.
"""

from __future__ import annotations

from typing import Literal

import attrs

from seedance_async.spec._status import TaskState

__all__ = ["CancelOutcome", "CancelResult"]

CancelOutcome = Literal["cancelled", "deleted", "not_cancellable", "already_final", "unsupported"]
"""``cancelled``: the queued task will not run. ``deleted``: a finished task's record was
removed (only with ``delete=True``). ``not_cancellable``: the provider refuses in this state
(a running Ark task will finish and bill). ``already_final``: the task had ended, nothing
was sent. ``unsupported``: the provider has no cancel endpoint."""


@attrs.frozen(kw_only=True)
class CancelResult:
    """The answer of :meth:`Client.cancel <seedance_async.Client.cancel>`.

    True in a boolean context when the task was cancelled or deleted, so ``if await
    client.cancel(handle):`` reads as before.

    Attributes:
        provider: the provider alias.
        task_id: the remote task.
        outcome: what happened (see :data:`CancelOutcome`).
        state: the task's state when the cancel was decided, when it was read.
        detail: the same in words, for a log line.
    """

    provider: str
    task_id: str
    outcome: CancelOutcome
    state: TaskState | None = None
    detail: str = ""

    def __bool__(self) -> bool:
        return self.outcome in ("cancelled", "deleted")

    @property
    def cancelled(self) -> bool:
        """True when the task will not run (it was queued and is now cancelled)."""
        return self.outcome == "cancelled"
