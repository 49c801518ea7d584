"""Type-checked only (mypy runs over tests/): how the public API reads to a type checker.

Each ``type: ignore`` marks a call the checker must refuse; mypy's ``warn_unused_ignores``
fails the build if one of them starts to type-check, so a loosened annotation is caught.
"""

from __future__ import annotations

from pathlib import Path

from seedance_async import (
    Image,
    Outcome,
    Resolution,
    TaskHandle,
    TaskResult,
    TaskState,
    TaskStatus,
    TrackedTask,
    VideoTask,
)


def typed_uses() -> list[VideoTask]:
    """Strings that are valid values, enum members and path objects all check."""
    return [
        VideoTask(
            model="doubao-seedance-1-0-pro-250528",
            prompt="a corgi",
            images=[Image.from_path(Path("corgi.png")), Image(path=Path("b.png"))],
            resolution="1080p",
            ratio="adaptive",
            service_tier="flex",
        ),
        VideoTask(model="m", resolution=Resolution.P720, ratio=None),
    ]


def typos() -> list[object]:
    """Typos in enumerations are type errors, not just run-time errors."""
    return [
        lambda: VideoTask(model="m", resolution="1080"),  # type: ignore[arg-type]
        lambda: VideoTask(model="m", ratio="16x9"),  # type: ignore[arg-type]
        lambda: VideoTask(model="m", service_tier="slow"),  # type: ignore[arg-type]
        lambda: Image.from_url("https://e.com/a.png", role="first"),  # type: ignore[arg-type]
    ]


async def tracked_uses(tracked: TrackedTask) -> tuple[object, ...]:
    """A TrackedTask shows the spec, the key, where it stands and the result; no bookkeeping."""
    key: str = tracked.key
    spec: VideoTask = tracked.task
    state: TaskState | None = tracked.state
    status: TaskStatus | None = tracked.status
    handle: TaskHandle | None = tracked.handle
    outcome: Outcome | None = tracked.outcome
    result: TaskResult = await tracked.result()
    moved = tracked.attempts  # type: ignore[attr-defined]
    return key, spec, state, status, handle, outcome, result, moved
