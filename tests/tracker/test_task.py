"""TrackedTask: what the caller's handle shows, and that the tracker's bookkeeping stays out."""

from __future__ import annotations

import pytest

from seedance_async import TrackedTask
from seedance_async.spec._handle import Outcome
from seedance_async.spec._status import TaskState
from tests.tracker.test_tracker import World, config, drive, running, task

# The documented surface; anything else on the class is a change to the API.
PUBLIC = {
    "cancel",
    "done",
    "handle",
    "key",
    "outcome",
    "result",
    "state",
    "status",
    "task",
}


def test_the_public_surface_is_pinned() -> None:
    assert {name for name in dir(TrackedTask) if not name.startswith("_")} == PUBLIC


async def test_a_task_reads_as_it_goes() -> None:
    """Before the provider answers nothing is known; at the end the result is there."""
    world = World(["a"])
    async with running(world, [config("a")]) as tracker:
        tracked = await tracker.submit(task(), key="k1")
        assert (tracked.key, tracked.task) == ("k1", task())
        assert (tracked.state, tracked.status, tracked.outcome, tracked.done) == (
            None,
            None,
            None,
            False,
        )
        assert repr(tracked) == "TrackedTask(key='k1', state=pending)"
        assert await tracker.submit(task(), key="k1") is tracked  # one handle per key
        assert tracker.tasks == {"k1": tracked}
        await drive(world, tracker)
        result = await tracked.result()
    assert tracked.done
    assert tracked.outcome is result.outcome is Outcome.SUCCEEDED
    assert tracked.state is TaskState.SUCCEEDED
    assert tracked.status is result.status
    assert tracked.handle is not None
    assert tracked.handle == result.handle
    assert tracked.handle.task_id == world.arks["a"].created[0]["id"]
    assert repr(tracked) == "TrackedTask(key='k1', state=succeeded)"


async def test_moved_bookkeeping_still_reads_with_a_warning() -> None:
    """Names TrackedTask used to expose keep working until 0.3, each with a warning."""
    world = World(["a"])
    async with running(world, [config("a")]) as tracker:
        tracked = await tracker.submit(task())
        await drive(world, tracker)
        result = await tracked.result()
    with pytest.warns(DeprecationWarning, match=r"TrackedTask\.attempts .* 0\.3"):
        attempts = tracked.attempts  # type: ignore[attr-defined]
    assert tuple(attempts) == result.attempts
    with pytest.warns(DeprecationWarning, match="result_value"):
        assert tracked.result_value is result  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tracked.nonsense  # type: ignore[attr-defined]  # noqa: B018
