"""The neutral task state every provider's answers are mapped to."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = ["TERMINAL_STATES", "TaskState", "TaskStatus", "Usage"]


class TaskState(enum.StrEnum):
    """Where a generation task is in its life, in provider-neutral terms."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True once the task can no longer change."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.EXPIRED}
)


@attrs.frozen(kw_only=True)
class Usage:
    """What the provider says the task consumed; fields a provider does not report are None."""

    completion_tokens: int | None = None
    total_tokens: int | None = None
    credits: float | None = None


@attrs.frozen(kw_only=True)
class TaskStatus:
    """One observation of a remote task, in neutral terms.

    Attributes:
        provider: the adapter name that produced it (``ark``, ``aimlapi``...).
        task_id: the provider's task id, opaque.
        state: the neutral state; unknown provider strings map to QUEUED or RUNNING, never
            to a final state.
        provider_status: the provider's own status string, as sent.
        video_url: the result video, once succeeded.
        last_frame_url: the last frame PNG, when it was asked for.
        usage: consumption reported by the provider.
        error_code / error_message: the provider's reason for a failed task.
        created_at / updated_at: provider timestamps (UTC), when sent.
        progress: 0..1 when the provider reports progress.
        raw: the decoded answer, for debugging; not compared.
    """

    provider: str
    task_id: str
    state: TaskState
    provider_status: str = ""
    video_url: str | None = None
    last_frame_url: str | None = None
    usage: Usage | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    progress: float | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, hash=False)

    @property
    def is_terminal(self) -> bool:
        """True once the task can no longer change."""
        return self.state.is_terminal

    @property
    def succeeded(self) -> bool:
        """True when the task finished with a video."""
        return self.state is TaskState.SUCCEEDED
