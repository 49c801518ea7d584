"""Settling an ambiguous submit: finding the paid task a lost answer may have created.

Why this exists
---------------
A paid submit whose failure does not prove the provider refused it (a timeout, a lost
connection, a 5xx the provider does not document as "nothing created", a 2xx we cannot read)
is *ambiguous*: the task may exist and cost money, so sending again blindly could bill
twice. Where the provider lists tasks, :class:`SubmitReconciler` waits for the other submits
in flight to settle (so their ids are known), lists recent tasks, and adopts the one task
that matches (the pure matching rules are in :mod:`seedance_async.client._reconcile`); otherwise it
raises :class:`SubmitOutcomeUnknown` with the send time and candidate ids, and the caller
records the task as ``unknown``. The correlation nonce makes two lost submits of one model
in the same second distinguishable in that list.

:class:`~seedance_async.client._paid_submit.PaidSubmitter` owns the submit loop and decides when
a failure is ambiguous; this module only settles it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

import anyio
import attrs

from seedance_async.client._context import AliasContext
from seedance_async.client._reconcile import reconcile_candidates
from seedance_async.core._clock import local_time
from seedance_async.core._errors import OutcomeUnknown, ProviderError
from seedance_async.core._events import EventKind
from seedance_async.providers import ListQuery, TaskPage
from seedance_async.spec._catalog import universal_rules
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["AdoptionGuard", "SubmitOutcomeUnknown", "SubmitReconciler"]

_RECONCILE_SKEW = 30.0  # seconds of clock difference tolerated between us and the provider
_RECONCILE_TRIES = 3
_RECONCILE_PAGES = 10
_NONCE_RANGE = 3600


class SubmitOutcomeUnknown(OutcomeUnknown):
    """A submit may have created a task and reconciliation could not tell which.

    Attributes:
        sent_at: Unix time the submit was sent (search the provider's console around it).
        candidates: task ids that could be it (several matches), possibly empty.
        reason: why reconciliation did not settle it.
    """

    def __init__(
        self,
        message: str,
        *,
        sent_at: float,
        candidates: tuple[str, ...] = (),
        reason: str = "",
        provider: str = "",
        not_found: bool = False,
    ) -> None:
        self.sent_at = sent_at
        self.not_found = not_found
        self.candidates = candidates
        self.reason = reason
        # When to look in the provider's console: a time people read, with its offset.
        super().__init__(f"{message}; sent at {local_time(sent_at)}", provider=provider)


class AdoptionGuard(Protocol):
    """What a journal shared with other processes knows about listed tasks (the Redis worker).

    Listing shows every task of the account, other processes' included, and a queued task
    shows little more than its model and times: this process's own known ids are not enough
    to tell whose it is.
    """

    async def __call__(
        self,
        key: str,
        task: VideoTask,
        candidates: Sequence[TaskStatus],
        *,
        sent_at: float,
        patience: float,
    ) -> tuple[list[TaskStatus], bool]:
        """The candidates no other line owns, and whether that is proven.

        Args:
            key: the line whose submit is being reconciled.
            task: its spec as sent.
            candidates: listed tasks that match the spec.
            sent_at: when its submit was sent.
            patience: how long to wait for other lines' submits in flight to settle.

        Returns:
            ``(free, proven)``: ``free`` leaves out every task another line has recorded;
            ``proven`` is False while another line's submit, sent but not answered, could
            have created one of ``free`` (then none may be adopted).
        """
        ...


class SubmitReconciler:
    """Settles ambiguous submits for one provider alias; shared by all its concurrent submits.

    It also keeps the ids this process owns, so that reconciliation never adopts a task
    that belongs to another spec.

    Args:
        context: the alias (its adapter's capabilities say whether it lists tasks).
        list_tasks: one page of the provider's task list (a retried GET).
    """

    def __init__(
        self, context: AliasContext, *, list_tasks: Callable[[ListQuery], Awaitable[TaskPage]]
    ) -> None:
        self._ctx = context
        self._list_tasks = list_tasks
        self._known_ids: set[str] = set()
        self._inflight: dict[int, float] = {}
        self._next_token = 0
        self._settled = anyio.Condition()
        self.guard: AdoptionGuard | None = None

    def remember(self, task_ids: Iterable[str]) -> None:
        """Mark ids as owned so reconciliation never adopts them."""
        self._known_ids.update(task_ids)

    def with_correlation_nonce(self, task: VideoTask) -> VideoTask:
        """See :meth:`ProviderClient.with_correlation_nonce` (the public entry point)."""
        caps = self._ctx.adapter.capabilities
        if (
            not self._ctx.config.correlation_nonce
            or not caps.can_list
            or "execution_expires_after" not in caps.fields
            or task.execution_expires_after is not None
        ):
            return task
        nonce = int(self._ctx.rng() * _NONCE_RANGE)
        default = universal_rules().expires_default  # what the provider applies unsent
        return attrs.evolve(task, execution_expires_after=default - nonce)

    # -- in-flight bookkeeping (reconciliation must see every id that is on its way) ------

    def begin_inflight(self) -> int:
        """Record a submit about to be sent; returns the token to end it with."""
        self._next_token += 1
        self._inflight[self._next_token] = self._ctx.clock.wall()
        return self._next_token

    async def end_inflight(self, token: int) -> None:
        """The submit's id is known (or will never be): wake reconciliations waiting on it."""
        if self._inflight.pop(token, None) is not None:
            async with self._settled:
                self._settled.notify_all()

    async def _wait_earlier_submits(self, token: int, before: float) -> None:
        # Ids of submits sent before our answer failed may still be on their way; adopting
        # one of them would give two specs the same task. Bounded by the submit timeout.
        limit = (self._ctx.config.timeouts.total or 120.0) + 5.0
        with anyio.move_on_after(limit):
            async with self._settled:
                while any(
                    t != token and started <= before for t, started in self._inflight.items()
                ):
                    await self._settled.wait()

    # -- reconciliation ---------------------------------------------------------------------

    async def settle(
        self, task: VideoTask, *, sent_at: float, token: int, cause: ProviderError, key: str
    ) -> TaskStatus | None:
        """The task an ambiguous submit created, or None when it may safely be sent again.

        Raises:
            SubmitOutcomeUnknown: the task may exist and could not be identified.
        """
        failed_at = self._ctx.clock.wall()
        # Our answer is lost: no id of ours is on its way any more. Leaving the token in
        # flight would make two ambiguous submits wait for each other until the timeout.
        await self.end_inflight(token)
        try:
            if self._ctx.adapter.capabilities.can_list:
                await self._wait_earlier_submits(token, failed_at)
            return await self.find(task, sent_at=sent_at, cause=type(cause).__name__, key=key)
        except SubmitOutcomeUnknown as unknown:
            if unknown.not_found and self._ctx.config.resubmit_when_not_listed:
                # The list endpoint is authoritative for this key: no matching task exists,
                # so sending again cannot double-bill (reconcile first, then resubmit:
                # docs/providers.md §8.1).
                self._ctx.emit(
                    EventKind.RETRIED,
                    key,
                    f"{type(cause).__name__}: no task was created; resubmitting",
                    None,
                )
                return None
            raise
        finally:
            await self.end_inflight(token)

    async def find(self, task: VideoTask, *, sent_at: float, cause: str, key: str) -> TaskStatus:
        """The one listed task a submit sent at ``sent_at`` may have created, now owned.

        Raises:
            SubmitOutcomeUnknown: no list endpoint, no match, or several matches.
        """
        if not self._ctx.adapter.capabilities.can_list:
            raise SubmitOutcomeUnknown(
                f"submit outcome unknown ({cause}); {self._ctx.alias} has no list endpoint to check",
                sent_at=sent_at,
                reason=f"{cause} and no list endpoint to check",
                provider=self._ctx.alias,
            )
        window = (sent_at - _RECONCILE_SKEW, self._ctx.clock.wall() + _RECONCILE_SKEW)
        candidates: list[TaskStatus] = []
        complete = True
        proven = True
        for attempt in range(_RECONCILE_TRIES):
            candidates, complete = await self._list_candidates(task, window)
            if self.guard is not None and candidates:
                # Other processes' tasks are listed too: keep only what no other line owns
                # (their ids are journaled before their answers are acted on), and adopt
                # nothing another line's unanswered submit could have created.
                # Another line's answer arrives within a submit timeout of its send.
                patience = (
                    self._ctx.config.timeouts.total or 120.0
                ) + self._ctx.config.reconcile_settle
                candidates, proven = await self.guard(
                    key, task, candidates, sent_at=sent_at, patience=patience
                )
            if candidates:
                break
            if attempt + 1 < _RECONCILE_TRIES:
                # A task created a moment ago may not be listed yet.
                await self._ctx.clock.sleep(
                    self._ctx.config.reconcile_settle / (_RECONCILE_TRIES - 1)
                )
        if len(candidates) == 1 and proven:
            found = candidates[0]
            self._known_ids.add(found.task_id)
            self._ctx.emit(EventKind.RECONCILED, key, f"adopted after {cause}", found.task_id)
            return found
        ids = tuple(c.task_id for c in candidates)
        if not proven:
            reason = "a matching task may belong to another worker's unanswered submit"
        elif ids:
            reason = "several matching tasks"
        elif complete:
            reason = "no matching task found by listing"
        else:
            reason = (
                f"the listing did not reach back to the send time within {_RECONCILE_PAGES} pages"
            )
        raise SubmitOutcomeUnknown(
            f"submit outcome unknown ({cause}): {reason}",
            sent_at=sent_at,
            candidates=ids,
            reason=f"{cause}; {reason}",
            provider=self._ctx.alias,
            # "Not created" only counts when the scan covered the whole send window.
            not_found=not ids and complete,
        )

    async def _list_candidates(
        self, task: VideoTask, window: tuple[float, float]
    ) -> tuple[list[TaskStatus], bool]:
        """Matching tasks, and whether the scan reached back past the window's start."""
        found: list[TaskStatus] = []
        for page_num in range(1, _RECONCILE_PAGES + 1):
            page = await self._list_tasks(
                ListQuery(model=task.model, page_num=page_num, page_size=100)
            )
            found += reconcile_candidates(page.items, task, window=window, exclude=self._known_ids)
            oldest = min(
                (s.created_at.timestamp() for s in page.items if s.created_at), default=None
            )
            if (
                not page.items
                or len(page.items) < 100
                or (oldest is not None and oldest < window[0])
            ):
                return found, True
        return found, False
