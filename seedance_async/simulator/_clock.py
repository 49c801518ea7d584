"""A clock you move by hand, so lifecycle tests never sleep."""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """A ``now()`` callable returning Unix seconds that only moves when told to.

    Pass it as ``Simulator(clock=...)``; every lifecycle transition, rate window and URL
    expiry then follows it.

    Args:
        start: the initial time (Unix seconds); a fixed default keeps task ids stable.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new time.

        Raises:
            ValueError: ``seconds`` is negative (time never runs backwards here).
        """
        if seconds < 0:
            raise ValueError(f"cannot move the clock back ({seconds} s)")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (Unix seconds), which must not be in the past.

        Raises:
            ValueError: ``now`` is earlier than the current time.
        """
        if now < self._now:
            raise ValueError("cannot move the clock back")
        self._now = float(now)
