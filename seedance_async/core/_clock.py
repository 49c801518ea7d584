"""Time as an injected dependency: the real loop clock, or a virtual one in tests.

Everything that waits (limiters, cooldowns, retry delays, poll schedules) reads time through
a :class:`Clock`, never through ``time`` or ``asyncio.sleep`` directly, so tests can drive
hours of provider behaviour in microseconds with :class:`seedance_async.testing.FakeClock`.

Two time scales are kept apart on purpose: :meth:`Clock.now` is monotonic (deadlines, token
buckets; immune to NTP steps) and :meth:`Clock.wall` is Unix time (``Retry-After`` HTTP dates,
``created_at`` stamps that must mean something to other processes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "Timer", "local_time", "sleep_until"]


@runtime_checkable
class Timer(Protocol):
    """A scheduled callback that can still be called off (``asyncio.TimerHandle`` fits)."""

    def cancel(self) -> None:
        """Do not run the callback; a no-op once it has run or was cancelled."""
        ...


@runtime_checkable
class Clock(Protocol):
    """The source of time for everything that waits.

    Implementations must call ``call_at`` callbacks in the event loop's thread, in order of
    ``when`` and, for equal ``when``, in order of scheduling.
    """

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Unix time in seconds (for HTTP dates and timestamps shared with other processes)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time (<= 0: just yield)."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` once :meth:`now` reaches ``when`` (monotonic seconds)."""
        ...


class SystemClock:
    """The running asyncio loop's clock (``loop.time`` / ``loop.call_at``) and ``time.time``.

    Holds no loop reference, so one instance may be created anywhere and used from any loop;
    each method must be called while a loop is running (``wall`` excepted).
    """

    __slots__ = ()

    def now(self) -> float:
        """``loop.time()`` of the running loop (monotonic).

        Raises:
            RuntimeError: no event loop is running.
        """
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(max(0, seconds))``."""
        await asyncio.sleep(max(0.0, seconds))

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """``loop.call_at(when, callback)`` on the running loop.

        Raises:
            RuntimeError: no event loop is running.
        """
        return asyncio.get_running_loop().call_at(when, callback)

    def __repr__(self) -> str:
        return "SystemClock()"


async def sleep_until(clock: Clock, when: float) -> None:
    """Sleep until ``clock.now()`` reaches ``when`` (returns at once if it already has)."""
    await clock.sleep(when - clock.now())


def local_time(unix: float) -> str:
    """Unix seconds as ISO 8601 in the local time zone, to the second, for messages.

    ``local_time(0)`` is ``1970-01-01T01:00:00+01:00`` in Paris: people read it, and the
    offset makes it exact wherever it is read.
    """
    return datetime.fromtimestamp(unix).astimezone().isoformat(timespec="seconds")
