"""Finding the task an ambiguous submit may have created (pure matching rules).

A submit that timed out or lost its connection may have created a paid task
(docs/providers.md §8.1). Where the provider lists tasks (Ark), we look for a task
created in the submit's time window whose effective parameters match the spec and whose id
nobody in this process already owns. Exactly one match is adopted; none or several leave
the task ``unknown`` with what is needed to check by hand — never a blind resubmit.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from seedance_async.spec._catalog import normalise_model_id
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["compatible", "matches_spec", "reconcile_candidates"]

# Fields Ark echoes with their effective values (docs/providers.md §2.3); compared only
# when both the spec and the listed task carry them, since early states are sparse.
_ECHOED = ("resolution", "ratio", "duration", "frames", "service_tier", "execution_expires_after")
# Requested values that let the provider choose: a finished task echoes what it chose
# (``adaptive`` -> ``16:9``, duration -1 -> ``7``), so any echoed value is compatible.
_PROVIDER_CHOOSES: dict[str, frozenset[str]] = {
    "ratio": frozenset({"adaptive", "keep_ratio"}),
    "duration": frozenset({"-1"}),
    "frames": frozenset({"-1"}),
}


def compatible(name: str, wanted: object, echoed: object) -> bool:
    """Whether a task that echoes ``echoed`` for field ``name`` may be one created from a
    request that asked for ``wanted``.

    Unset (None) and "provider chooses" requests (``ratio`` ``adaptive``/``keep_ratio``,
    ``duration`` -1) are compatible with every effective value; anything else must be
    echoed as it was sent.
    """
    if wanted is None or echoed is None:
        return True
    wanted_text = str(getattr(wanted, "value", wanted))
    if wanted_text in _PROVIDER_CHOOSES.get(name, frozenset()):
        return True
    return str(echoed) == wanted_text


def _raw_prompt(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    content = raw.get("content")
    items = content if isinstance(content, list) else []
    for item in items:
        if (
            isinstance(item, dict)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
        ):
            return str(item["text"])
    prompt = raw.get("prompt")
    return prompt if isinstance(prompt, str) else None


def matches_spec(status: TaskStatus, task: VideoTask) -> bool:
    """True when nothing the provider echoed about a task contradicts the spec."""
    raw = status.raw if isinstance(status.raw, dict) else {}
    model = raw.get("model")
    if isinstance(model, str) and model and task.model:
        same = model == task.model or normalise_model_id(model) == normalise_model_id(task.model)
        if not same:
            return False
    for name in _ECHOED:
        if not compatible(name, getattr(task, name), raw.get(name)):
            return False
    if (
        task.seed is not None
        and task.seed >= 0
        and raw.get("seed") is not None
        and str(raw["seed"]) != str(task.seed)
    ):
        return False
    prompt = _raw_prompt(raw)
    return prompt is None or prompt == task.prompt


def reconcile_candidates(
    items: Iterable[TaskStatus],
    task: VideoTask,
    *,
    window: tuple[float, float],
    exclude: Container[str],
) -> list[TaskStatus]:
    """Listed tasks that may be the one an ambiguous submit created.

    Args:
        items: tasks from the provider's list endpoint.
        task: the spec that was submitted.
        window: (earliest, latest) Unix creation time to accept, skew included.
        exclude: ids already owned by other submits.
    """
    lo, hi = window
    out = []
    for status in items:
        if status.task_id in exclude:
            continue
        created = status.created_at.timestamp() if status.created_at else None
        if created is None or not lo <= created <= hi:
            continue
        if matches_spec(status, task):
            out.append(status)
    return out
