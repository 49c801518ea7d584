"""The tracker's side of provider callbacks: tokens for tasks, hints to confirming GETs.

A task sent to a provider whose adapter says it posts callbacks
(``ProviderCapabilities.callbacks``) gets its own token and ``callback_url``, registered
with the tracker's :class:`~seedance_async.callbacks.CallbackReceiver` before the submit
leaves (and journaled after its intent, so a resumed run registers it again). Such a task is
polled by the sparse backstop schedule instead of the normal one.

The receiver turns bodies into hints ("confirm task *key* now") and never into results.
:meth:`CallbackLink.run` takes them: it waits ``confirm_window`` after the first hint so
that the ends of a cluster of tasks, and the repeated notices of one task, are confirmed
together (one GET per task, or one list call per group where the provider has one), then
hands the tasks to the poll stage as if their polls were due. What the GET shows goes down
the normal path (journal, events, download); a forged or stale body changes nothing
because nothing of it is used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import attrs

from seedance_async.callbacks._receiver import CallbackReceiver
from seedance_async.callbacks._token import CallbackToken
from seedance_async.core._clock import Clock
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.providers._protocol import ProviderAdapter
from seedance_async.spec._status import TaskState
from seedance_async.tracker._task import TaskRun

__all__ = ["CallbackLink", "CallbackSummary"]


@attrs.frozen(kw_only=True)
class CallbackSummary:
    """What callbacks did for a tracker's tasks so far (``Tracker.callback_stats``).

    Attributes:
        tasks: attempts sent with a callback URL (or resumed with one's token).
        received: requests that reached the receiver, refused ones included.
        confirmed: callbacks whose confirming GET showed the state they claimed (or later).
        rejected: callbacks not believed: refused (unknown token, rate, size, content
            type, overload), unreadable, naming another task, or contradicted by the GET.
        rejected_by_reason: ``rejected`` by :data:`~seedance_async.callbacks.RejectReason`.
        confirm_polls: tasks polled because a callback asked for it.
        found_by_backstop: tasks with a callback URL whose end a backstop poll found
            first (their final notice was lost, late, or not believed).
    """

    tasks: int = 0
    received: int = 0
    confirmed: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = attrs.field(factory=dict)
    confirm_polls: int = 0
    found_by_backstop: int = 0

    def describe(self) -> str:
        """One line for a run summary."""
        return (
            f"callbacks: {self.received} received, {self.confirmed} confirmed, "
            f"{self.rejected} rejected; {self.found_by_backstop} of {self.tasks} tasks "
            "found by the backstop poll"
        )


class CallbackLink:
    """Registers tasks with the receiver and turns its hints into confirming polls.

    Args:
        receiver: where callbacks arrive; it must have a public URL before the first submit.
        backstop: the poll schedule of tasks with a callback URL.
        confirm_window: seconds to gather hints before confirming them together.
        clock: the tracker's clock (for the window).
    """

    def __init__(
        self,
        receiver: CallbackReceiver,
        *,
        backstop: PollSchedule,
        confirm_window: float,
        clock: Clock,
    ) -> None:
        self.receiver = receiver
        self.backstop = backstop
        self.confirm_window = confirm_window
        self._clock = clock
        self.tasks = 0
        self.confirm_polls = 0
        self.found_by_backstop = 0

    @staticmethod
    def supports(adapter: ProviderAdapter) -> bool:
        """Whether tasks sent through ``adapter`` get a callback URL."""
        return adapter.capabilities.callbacks

    # -- registration ----------------------------------------------------------------------

    def enroll(self, tracked: TaskRun, alias: str, adapter: ProviderAdapter) -> CallbackToken:
        """A fresh token for the attempt about to be sent to ``alias`` (replaces any older)."""
        token = self.receiver.register(tracked.key, provider=alias, adapter=adapter)
        tracked.callbacks = True
        self.tasks += 1
        return token

    def url_for(self, token: CallbackToken) -> str:
        """The callback URL carrying ``token``."""
        return self.receiver.url_for(token)

    def restore(
        self,
        tracked: TaskRun,
        alias: str,
        adapter: ProviderAdapter,
        *,
        remote_id: str | None,
        token: str,
    ) -> bool:
        """Register the token an earlier run sent the task with; False when it cannot be used
        (the provider no longer posts callbacks here, or the text is not a token)."""
        if not self.supports(adapter):
            return False
        try:
            restored = CallbackToken(token)
            self.receiver.register(
                tracked.key, provider=alias, adapter=adapter, remote_id=remote_id, token=restored
            )
        except ValueError:  # mangled, or another key's: polls still find the task
            return False
        tracked.callbacks = True
        self.tasks += 1
        return True

    def bind(self, tracked: TaskRun, remote_id: str) -> None:
        """The submit of an enrolled task answered with ``remote_id``."""
        try:
            self.receiver.bind(tracked.key, remote_id)
        except KeyError:  # forgotten meanwhile (ended, cancelled): nothing to bind
            tracked.callbacks = False

    def forget(self, tracked: TaskRun) -> None:
        """The attempt is over (ended, not created, failed over): its URL answers 404."""
        if tracked.callbacks:
            tracked.callbacks = False
            self.receiver.forget(tracked.key)

    # -- what GETs showed ------------------------------------------------------------------

    def observe(self, tracked: TaskRun, state: TaskState, *, via_hint: bool) -> bool:
        """A GET of an enrolled task showed ``state``; True when it is worth one more look
        soon (a claimed end the GET did not show: a false claim, or a provider whose read
        lags its own notice)."""
        if state.is_terminal and not via_hint:
            self.found_by_backstop += 1
        return self.receiver.observe(tracked.key, state)

    def summary(self) -> CallbackSummary:
        """The counts so far."""
        stats = self.receiver.stats
        return CallbackSummary(
            tasks=self.tasks,
            received=stats.received,
            confirmed=stats.confirmed,
            rejected=sum(stats.rejected.values()),
            rejected_by_reason=dict(sorted(stats.rejected.items())),
            confirm_polls=self.confirm_polls,
            found_by_backstop=self.found_by_backstop,
        )

    # -- the consumer ----------------------------------------------------------------------

    async def run(
        self,
        lookup: Callable[[str], TaskRun | None],
        confirm: Callable[[list[TaskRun]], Awaitable[None]],
    ) -> None:
        """Forever (until the receiver closes): gather hints, then confirm their tasks."""
        receiver = self.receiver
        while True:
            try:
                first = await receiver.next_hint()
            except anyio.EndOfStream:
                return
            if self.confirm_window > 0:
                await self._clock.sleep(self.confirm_window)
            due: dict[str, TaskRun] = {}
            for hint in (first, *receiver.drain()):
                tracked = lookup(hint.key)
                if (
                    tracked is None
                    or tracked.done
                    or not tracked.callbacks
                    or tracked.handle is None
                    or tracked.handle.provider != hint.provider
                ):
                    # Not sent yet, or already over: the first poll after the submit
                    # answer settles what the callback claimed.
                    continue
                due[tracked.key] = tracked
            if due:
                tasks = list(due.values())
                for tracked in tasks:
                    tracked.confirming = True
                self.confirm_polls += len(tasks)
                await confirm(tasks)
