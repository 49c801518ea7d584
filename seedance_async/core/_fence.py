"""The last check before a paid request goes on the wire.

A journal shared by several processes (the Redis worker) sets :data:`SEND_FENCE` in the
task that is about to submit; :class:`~seedance_async.client._paid_submit.PaidSubmitter`
calls it right before it hands the request to the transport, with no await in between, so
a process that was paused after its submit token was granted (and whose task another
worker may have taken over meanwhile) sends nothing: it takes a new token instead, whose
grant checks ownership again (and refuses with :class:`LeaseLost` once the task has
another owner).
"""

from __future__ import annotations

import contextvars
from typing import Protocol

__all__ = ["SEND_FENCE", "SendFence", "send_fence_holds"]


class SendFence(Protocol):
    """Says whether the submit about to be sent may still go."""

    def holds(self) -> bool:
        """True when the sender provably still owns the task (its lease runs); False when
        that is no longer provable: send nothing, and ask for a new token."""
        ...


SEND_FENCE: contextvars.ContextVar[SendFence | None] = contextvars.ContextVar(
    "seedance_send_fence", default=None
)
"""Set in the task that will submit (by a shared journal when it records the intent)."""


def send_fence_holds() -> bool:
    """Whether the current task's fence (if any) lets its submit go now."""
    fence = SEND_FENCE.get()
    return fence is None or fence.holds()
