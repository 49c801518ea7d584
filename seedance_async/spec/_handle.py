"""Small serialisable values that name remote tasks and describe how tasks ended."""

from __future__ import annotations

import enum
from typing import Literal

import attrs

from seedance_async.spec._cost import usage_cost
from seedance_async.spec._status import TaskStatus, Usage
from seedance_async.spec._task import VideoTask

__all__ = ["Attempt", "DownloadPart", "Outcome", "TaskHandle", "TaskResult"]

DownloadPart = Literal["video", "last_frame"]
"""A file of a succeeded task: its video, or the last frame image it was asked for."""


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
        spec_hash: :func:`~seedance_async.spec.task_hash` of the spec submitted.
    """

    provider: str
    adapter: str
    model: str
    task_id: str
    created_at: float
    spec_hash: str


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
    CAPPED = "capped"
    """Not sent: the spend cap would have been passed, or the task has no price under a cap.
    Nothing was billed or journaled as final: a re-run with a higher cap sends it."""


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
        download_failed: the file of a succeeded task that could not be downloaded:
            ``"video"`` (nothing was saved) or ``"last_frame"`` (the video was saved, only
            the last frame is missing); ``reason`` says why, the status keeps the URLs.
        submitted_at / started_at / finished_at: Unix times: the submit was sent, a poll
            first saw the provider running it (None when no poll caught it running), the
            outcome was known.
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
    download_failed: DownloadPart | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def failovers(self) -> int:
        """How many times the task moved to another provider."""
        return max(0, len(self.attempts) - 1)

    @property
    def ok(self) -> bool:
        """True when a video was produced."""
        return self.outcome is Outcome.SUCCEEDED

    @property
    def provider(self) -> str | None:
        """The provider alias that produced the outcome (the final attempt's), when any."""
        return self.handle.provider if self.handle else None

    @property
    def task_id(self) -> str | None:
        """The provider's id of the final attempt's remote task, when one was created."""
        return self.handle.task_id if self.handle else None

    @property
    def model(self) -> str:
        """The model id the final attempt ran (the spec's model before any submit)."""
        return self.handle.model if self.handle else self.task.model

    @property
    def usage(self) -> Usage | None:
        """What the provider reported the generation consumed, when it reports it."""
        return self.status.usage if self.status else None

    @property
    def cost(self) -> tuple[float, str] | None:
        """(amount, currency) the final attempt cost by the reported usage and the shipped
        price table; None when unknown (no usage reported, or the alias or model unpriced)."""
        provider = self.provider
        if provider is None or not self.ok:
            return None
        return usage_cost(self.task, provider, self.usage)
