"""Reconciliation recognises a finished task by what the provider may have chosen (issue #14)."""

from __future__ import annotations

from typing import Any

import pytest

from seedance_async.client._reconcile import compatible, matches_spec
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

MODEL_15 = "doubao-seedance-1-5-pro-251215"


def finished(**echo: Any) -> TaskStatus:
    raw = {"id": "cgt-1", "model": MODEL_15, "status": "succeeded", **echo}
    return TaskStatus(provider="ark", task_id="cgt-1", state=TaskState.SUCCEEDED, raw=raw)


@pytest.mark.parametrize(
    ("asked", "echo", "same"),
    [
        ({"ratio": "adaptive"}, {"ratio": "16:9"}, True),
        ({"duration": -1}, {"duration": 7}, True),
        ({"ratio": "adaptive", "duration": -1}, {"ratio": "9:16", "duration": 11}, True),
        ({}, {"ratio": "16:9", "duration": 5, "resolution": "720p"}, True),
        ({"ratio": "4:3"}, {"ratio": "16:9"}, False),
        ({"duration": 5}, {"duration": 7}, False),
        ({"resolution": "480p"}, {"resolution": "720p"}, False),
    ],
)
def test_a_finished_task_matches_what_the_provider_may_have_chosen(
    asked: dict[str, Any], echo: dict[str, Any], same: bool
) -> None:
    """Requested None, ``adaptive`` or -1 match any effective value a finished task
    echoes; explicit values must be echoed as sent."""
    task = VideoTask(model=MODEL_15, prompt="p", **asked)
    assert matches_spec(finished(**echo), task) is same


def test_provider_chosen_values_are_compatible_with_anything() -> None:
    """The comparison rule itself, field by field."""
    assert compatible("ratio", "keep_ratio", "21:9")
    assert compatible("duration", -1, "12")
    assert compatible("duration", None, "12")
    assert not compatible("duration", 4, "12")
    assert compatible("seed", 3, None)  # nothing echoed: nothing contradicts
