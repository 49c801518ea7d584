"""The neutral task state every provider's answers are mapped to."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, get_args

import attrs

__all__ = [
    "FAILURE_CATEGORIES",
    "TERMINAL_STATES",
    "EffectiveParams",
    "FailureCategory",
    "TaskState",
    "TaskStatus",
    "Usage",
]

FailureCategory = Literal[
    "moderation", "bad_input", "quota", "internal", "timeout", "expired", "unknown"
]
"""Why a task ended failed or expired, in provider-neutral terms.

``moderation``: the prompt, an input or the output was refused by content checks;
``bad_input``: a parameter or input the model cannot use; ``quota``: the account ran out of
quota or balance; ``internal``: the provider's own error; ``timeout``: generation ran out of
time; ``expired``: the task waited past its expiry; ``unknown``: the provider's reason fits
none of these.
"""
FAILURE_CATEGORIES: frozenset[FailureCategory] = frozenset(get_args(FailureCategory))


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


def _tool_counts(value: Mapping[str, int] | Iterable[Iterable[Any]]) -> tuple[tuple[str, int], ...]:
    # A mapping from an adapter, or the pairs a JSON round trip gives back; sorted so that
    # equal usage compares (and hashes) equal whatever order the provider sent.
    pairs = value.items() if isinstance(value, Mapping) else (tuple(p) for p in value)
    return tuple(sorted((str(name), int(count)) for name, count in pairs))


@attrs.frozen(kw_only=True)
class Usage:
    """What the provider says the task consumed; fields a provider does not report are None.

    Attributes:
        completion_tokens / total_tokens: tokens billed (Ark: equal for video).
        credits: the provider's own credits (AI/ML API ``credits_used``).
        cost_usd: what the provider says the task cost in US dollars (AI/ML API
            ``usd_spent``).
        tool_usage: ``(tool, calls)`` pairs sorted by tool, e.g. ``(("web_search", 2),)``;
            empty when the provider reported none. A mapping is accepted and sorted.
    """

    completion_tokens: int | None = None
    total_tokens: int | None = None
    credits: float | None = None
    cost_usd: float | None = None
    tool_usage: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_tool_counts)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class EffectiveParams:
    """The values the provider actually used, where it chose them or echoed them.

    A task may leave a value to the provider (``duration: -1``, ``ratio: "adaptive"``, no
    seed); the answer says what it picked. Fields the answer does not carry are None.

    Attributes:
        duration: seconds of video (may be fractional on some surfaces).
        frames: frames generated, when the task asked for frames instead of a duration.
        ratio: the aspect ratio as the provider writes it (``"16:9"``).
        resolution: ``"480p"``, ``"720p"``, ``"1080p"``...
        seed: the seed used.
        fps: frames per second.
        generate_audio: whether the video has sound.
        service_tier: ``"default"`` or ``"flex"``.
        draft: whether the task was a draft (a 480p preview).
        draft_task_id: the draft a final video was made from.
        tools: the tools the model actually used (``("web_search",)``); empty when none ran.
        output_format: the container of the result (Seedance 2.5: ``mp4`` or ``mov``).
        priority: the queue priority the task ran with.
    """

    duration: float | None = None
    frames: int | None = None
    ratio: str | None = None
    resolution: str | None = None
    seed: int | None = None
    fps: float | None = None
    generate_audio: bool | None = None
    service_tier: str | None = None
    draft: bool | None = None
    draft_task_id: str | None = None
    tools: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    output_format: str | None = None
    priority: int | None = None


@attrs.frozen(kw_only=True)
class TaskStatus:
    """One observation of a remote task, in neutral terms.

    Attributes:
        provider: the adapter name that produced it (``ark``, ``aimlapi``...).
        task_id: the provider's task id, opaque.
        state: the neutral state. A status word outside the provider's vocabulary is never
            guessed at: the adapter raises
            :class:`~seedance_async.core._errors.UnknownStatus` instead.
        provider_status: the provider's own status string, as sent.
        video_url: the result video, once succeeded.
        last_frame_url: the last frame PNG, when it was asked for.
        usage: consumption reported by the provider.
        error_code / error_message: the provider's reason for a failed task.
        failure: the neutral category of that reason, set when the task ended failed or
            expired (None otherwise, and from adapters that do not classify).
        effective: the values the provider used (duration, ratio, seed...), when it said.
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
    failure: FailureCategory | None = None
    effective: EffectiveParams | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, hash=False)

    @property
    def is_terminal(self) -> bool:
        """True once the task can no longer change."""
        return self.state.is_terminal

    @property
    def succeeded(self) -> bool:
        """True when the task finished with a video."""
        return self.state is TaskState.SUCCEEDED
