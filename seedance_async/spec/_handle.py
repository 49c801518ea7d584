"""Small serialisable values that name remote tasks and describe how tasks ended."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Self

import attrs

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._codec import task_hash
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["Attempt", "Outcome", "TaskHandle", "TaskResult"]


@attrs.frozen(kw_only=True)
class TaskHandle:
    """A remote task that any process can turn back into the right adapter and key.

    Attributes:
        provider: the provider alias that created it (``ark-main``), which names the adapter,
            base URL and key source in the configuration.
        adapter: the adapter name, for a sanity check when the config changed.
        model: the model id the task was created with.
        task_id: the provider's opaque task id.
        created_at: Unix time when the submit was sent.
        spec_hash: :meth:`VideoTask.spec_hash` of the spec submitted.
    """

    provider: str
    adapter: str
    model: str
    task_id: str
    created_at: float
    spec_hash: str

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON object."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Read back :meth:`to_dict` output.

        Raises:
            InvalidTaskSpec: a field is missing or has the wrong type.
        """
        problems = []
        for f in attrs.fields(cls):
            want = float if f.name == "created_at" else str
            value = data.get(f.name)
            if not isinstance(value, want) and not (want is float and isinstance(value, int)):
                problems.append(
                    Violation(field=f.name, rule=f"expected {want.__name__}", value=value)
                )
        if problems:
            raise InvalidTaskSpec(problems, context="task handle")
        return cls(**{f.name: data[f.name] for f in attrs.fields(cls)})


class Outcome(enum.StrEnum):
    """How a tracked task ended, from the caller's point of view."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    """A submit may or may not have created a task and reconciliation could not tell."""
    DEADLINE = "deadline"
    """The caller's deadline passed; the remote task was cancelled or detached."""
    REJECTED = "rejected"
    """No provider accepted the task (invalid for all, refused, or all unavailable)."""


@attrs.frozen(kw_only=True)
class Attempt:
    """One provider tried for a task: where, which remote id, and how it ended."""

    provider: str
    task_id: str | None
    outcome: str
    reason: str | None = None


@attrs.frozen(kw_only=True)
class TaskResult:
    """The final word on one tracked task.

    Attributes:
        key: the tracking key (the spec hash unless the caller gave one).
        task: the spec.
        outcome: how it ended.
        status: the last status seen from the provider, when any.
        handle: the remote task that produced the outcome, when any.
        attempts: every provider tried, in order (failovers are visible here).
        reason: why it did not succeed, in words.
        video_path / last_frame_path: local files when downloaded.
        submitted_at / finished_at: Unix times.
    """

    key: str
    task: VideoTask
    outcome: Outcome
    status: TaskStatus | None = None
    handle: TaskHandle | None = None
    attempts: tuple[Attempt, ...] = ()
    reason: str | None = None
    video_path: str | None = None
    last_frame_path: str | None = None
    submitted_at: float | None = None
    finished_at: float | None = None

    @property
    def failovers(self) -> int:
        """How many times the task moved to another provider."""
        return max(0, len(self.attempts) - 1)

    @property
    def ok(self) -> bool:
        """True when a video was produced."""
        return self.outcome is Outcome.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        """One results-JSONL line: no secrets, URLs and ids included."""
        status = self.status
        return {
            "key": self.key,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "provider": self.handle.provider if self.handle else None,
            "task_id": self.handle.task_id if self.handle else None,
            "handle": self.handle.to_dict() if self.handle else None,
            "video_url": status.video_url if status else None,
            "last_frame_url": status.last_frame_url if status else None,
            "error_code": status.error_code if status else None,
            "error_message": status.error_message if status else None,
            "usage": attrs.asdict(status.usage) if status and status.usage else None,
            "video_path": self.video_path,
            "last_frame_path": self.last_frame_path,
            "attempts": [attrs.asdict(a) for a in self.attempts],
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "metadata": dict(self.task.metadata),
            "spec_hash": task_hash(self.task),
        }
