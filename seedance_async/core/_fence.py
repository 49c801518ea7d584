"""The last check before a paid request goes on the wire.

A journal shared by several processes (the Redis worker) sets :data:`SEND_FENCE` in the
task that is about to submit; :class:`~seedance_async.client._paid_submit.PaidSubmitter`
calls it right before it hands the request to the transport, with no await in between, so
a process that was paused after its submit token was granted (and whose task another
worker may have taken over meanwhile) sends nothing.
"""

from __future__ import annotations

import contextvars
from typing import Protocol

__all__ = ["SEND_FENCE", "SendFence", "check_send_fence"]


class SendFence(Protocol):
    """Says whether the submit about to be sent may still go."""

    def check_send(self) -> None:
        """Return when the request may be sent.

        Raises:
            LeaseLost: the sender may no longer own the task; send nothing.
        """
        ...


SEND_FENCE: contextvars.ContextVar[SendFence | None] = contextvars.ContextVar(
    "seedance_send_fence", default=None
)
"""Set in the task that will submit (by a shared journal when it records the intent)."""


def check_send_fence() -> None:
    """Run the current task's fence, if any (see :class:`SendFence`).

    Raises:
        LeaseLost: the fence refused.
    """
    fence = SEND_FENCE.get()
    if fence is not None:
        fence.check_send()
