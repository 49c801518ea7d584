"""A final video from a draft: the spec that names the draft, built only from a good draft.

Seedance's draft flow (1.5 pro, 2.5) is two paid creates: a cheap 480p draft, then a final
whose content is a single item naming the draft's task id. The provider reuses the draft's
prompt, media, seed, ratio, duration and audio, so the final spec carries none of them. A
final is made only from a draft that succeeded, on the provider alias that made it (the id
means nothing elsewhere), with the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["check_draft", "final_spec"]


def final_spec(draft: TaskHandle, options: Mapping[str, Any] | None = None) -> VideoTask:
    """The final's spec for ``draft``: its model, its id, and the final's own settings.

    Args:
        draft: the draft's handle.
        options: the final's own settings (``resolution``, ``watermark``, ``callback_url``,
            ``metadata``...); the reused ones (prompt, seed, ratio...) are refused.

    Raises:
        InvalidTaskSpec: an option is one the final reuses from its draft, or the model
            makes no drafts.
    """
    return VideoTask(model=draft.model, from_draft=draft.task_id, **dict(options or {}))


def check_draft(draft: TaskHandle, status: TaskStatus) -> None:
    """Refuse a draft that cannot make a final: not succeeded (yet), or no draft at all.

    Raises:
        InvalidTaskSpec: naming ``from_draft`` and why.
    """
    problems: list[Violation] = []
    if status.state is not TaskState.SUCCEEDED:
        problems.append(
            Violation(
                field="from_draft",
                rule="a final is made from a draft that succeeded",
                value=f"{draft.task_id} is {status.state.value}",
            )
        )
    effective = status.effective
    if effective is not None and effective.draft is False:
        problems.append(
            Violation(field="from_draft", rule="the task is not a draft", value=draft.task_id)
        )
    if problems:
        raise InvalidTaskSpec(problems)
