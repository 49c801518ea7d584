"""Lifecycle events: what the tracker tells progress displays, metrics and logs."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["FINAL_KINDS", "Event", "EventHub", "EventKind"]

logger = logging.getLogger("seedance_async")


class EventKind(enum.StrEnum):
    """The kinds of lifecycle event."""

    SUBMITTED = "submitted"
    RECONCILED = "reconciled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    DEADLINE = "deadline"
    REJECTED = "rejected"
    CAPPED = "capped"
    RETRIED = "retried"
    RATE_LIMITED = "rate_limited"
    FAILED_OVER = "failed_over"
    DOWNLOADED = "downloaded"
    POLLED = "polled"


# The kinds that report a task's end (one per outcome).
FINAL_KINDS: frozenset[EventKind] = frozenset(
    {
        EventKind.SUCCEEDED,
        EventKind.FAILED,
        EventKind.EXPIRED,
        EventKind.CANCELLED,
        EventKind.UNKNOWN,
        EventKind.DEADLINE,
        EventKind.REJECTED,
        EventKind.CAPPED,
    }
)


@attrs.frozen(kw_only=True)
class Event:
    """One thing that happened to one task (or to a provider, when ``key`` is empty).

    Attributes:
        kind: what happened.
        key: the tracking key of the task.
        provider: the provider alias involved.
        task_id: the remote id, when known.
        at: Unix time.
        detail: a short human-readable note (error code, retry delay...), never secrets.
        model: the model id of the task, when the event is about one.
        cost: (amount, currency) a succeeded task cost by its reported usage, when known.
        size: bytes a download wrote (``downloaded``).
        lag: seconds from the end the provider reported to a poll here seeing it (on the
            ending event of a task this run saw end).
    """

    kind: EventKind
    key: str
    provider: str
    at: float
    task_id: str | None = None
    detail: str | None = None
    model: str | None = None
    cost: tuple[float, str] | None = None
    size: int | None = None
    lag: float | None = None


class EventHub:
    """Fans events out to callbacks and subscribed streams; never blocks the emitter."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Event], None]] = []
        self._streams: list[MemoryObjectSendStream[Event]] = []

    def add_callback(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` synchronously for every event."""
        self._callbacks.append(callback)

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """A stream that receives every later event (unbounded: read it or close it)."""
        send, receive = anyio.create_memory_object_stream[Event](max_buffer_size=math.inf)
        self._streams.append(send)
        return receive

    def emit(self, event: Event) -> None:
        """Deliver an event; a failing callback is logged, not propagated."""
        logger.debug(
            "%s %s %s %s",
            event.kind.value,
            event.provider,
            event.task_id or "-",
            event.detail or "",
        )
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                logger.exception("event callback failed")
        alive = []
        for stream in self._streams:
            try:
                stream.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue
            alive.append(stream)
        self._streams = alive

    def close(self) -> None:
        """End every subscribed stream."""
        for stream in self._streams:
            stream.close()
        self._streams = []
