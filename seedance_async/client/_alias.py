"""One provider alias: adapter + transport + budget + retry policy, one request cycle.

Theory of operation
-------------------
Every call goes: budget gate → adapter builds a request → transport sends it → adapter
parses the answer. GETs (status, list) retry transient failures with capped exponential
backoff and full jitter. A paid submit is sent at most once unless the failure proves the
provider did not accept it (connection never made, 429, or a 5xx the provider documents as
"nothing created"). Any other failure of a submit is *ambiguous*: the task may exist and
cost money. Then, where the provider lists tasks, :meth:`ProviderClient.submit` waits for
the other submits in flight to settle (so their ids are known), lists recent tasks, and
adopts the one task that matches; otherwise it raises :class:`SubmitOutcomeUnknown` with
the send time and candidate ids, and the caller records the task as ``unknown``.

This module keeps the request cycle and the read-only calls, and puts the pieces together.
The at-most-once submit loop is in :mod:`seedance_async.client._paid_submit`; settling an ambiguous
submit (in-flight bookkeeping, listing, matching, the correlation nonce) is in
:mod:`seedance_async.client._ambiguous_submit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import attrs

from seedance_async.client._ambiguous_submit import (
    AdoptionGuard,
    SubmitOutcomeUnknown,
    SubmitReconciler,
)
from seedance_async.client._cancel import CancelOutcome, CancelResult
from seedance_async.client._context import AliasContext
from seedance_async.client._paid_submit import PaidSubmitter, SendStamper, task_handle
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import (
    InvalidTaskSpec,
    ProviderError,
    RateLimited,
    TaskNotCancellable,
    Violation,
)
from seedance_async.core._events import EventKind
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.limits._key_limits import BudgetLike
from seedance_async.providers import ListQuery, ProviderAdapter, TaskPage, resolve_result_urls
from seedance_async.spec._catalog import universal_rules
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.transport._aiohttp import Transport

__all__ = ["ProviderClient", "SubmitOutcomeUnknown"]

T = TypeVar("T")


class ProviderClient:
    """Talks to one provider alias; safe to share between many concurrent tasks.

    Args:
        context: the alias: its configuration, adapter, transport, budget, retry policy,
            clock, event hub and random source.
    """

    def __init__(self, context: AliasContext) -> None:
        self.context = context
        self._reconciler = SubmitReconciler(context, list_tasks=self.list_tasks)
        self._submitter = PaidSubmitter(context, reconciler=self._reconciler)

    # The parts callers reach for (budgets, transports) without spelling out the context.
    @property
    def alias(self) -> str:
        """The alias name."""
        return self.context.alias

    @property
    def config(self) -> ProviderConfig:
        """The alias configuration."""
        return self.context.config

    @property
    def adapter(self) -> ProviderAdapter:
        """The alias's adapter."""
        return self.context.adapter

    @property
    def transport(self) -> Transport:
        """Sends this alias's requests."""
        return self.context.transport

    @property
    def budget(self) -> BudgetLike:
        """The rate/concurrency budget of this alias's key."""
        return self.context.budget

    def __repr__(self) -> str:
        return f"ProviderClient(alias={self.alias!r}, adapter={self.adapter.name!r})"

    def remember(self, task_ids: Iterable[str]) -> None:
        """Mark ids as owned (e.g. from a journal) so reconciliation never adopts them."""
        self._reconciler.remember(task_ids)

    def guard_adoptions(self, guard: AdoptionGuard | None) -> None:
        """Let a journal shared with other processes veto adopting a listed task.

        Reconciliation then adopts a listed task only when ``guard`` proves no other line
        owns it or may have created it (see :class:`AdoptionGuard`).
        """
        self._reconciler.guard = guard

    # -- generic request cycle ------------------------------------------------------------

    async def _send_idempotent(
        self, request: HttpRequest, parse: Callable[[HttpResponse], T], *, key: str = ""
    ) -> T:
        attempt = 0
        while True:
            await self.budget.before_poll()
            try:
                result = parse(await self.transport.send(request))
            except ProviderError as exc:
                if isinstance(exc, RateLimited):
                    await self.budget.on_rate_limited(exc, kind="poll")
                    self.context.emit(EventKind.RATE_LIMITED, key, exc.code or "429")
                delay = self.context.retry_delay(exc, attempt, paid=False)
                if delay is None:
                    raise
                self.context.emit(
                    EventKind.RETRIED,
                    key,
                    f"{type(exc).__name__} on {request.method}; retry in {delay:.2f}s",
                )
                attempt += 1
                await self.context.clock.sleep(delay)
                continue
            await self.budget.on_success(kind="poll")
            if request.method == "GET":  # a status or list call (metrics count polls)
                self.context.emit(EventKind.POLLED, key, "")
            return result

    # -- status, list, cancel ---------------------------------------------------------------

    async def status(self, task_id: str, *, key: str = "") -> TaskStatus:
        """The current status of one task (GET, retried on transient failures)."""
        request = self.adapter.build_status(task_id)
        status = await self._send_idempotent(
            request, lambda r: self.adapter.parse_status(r, task_id), key=key
        )
        # Some gateways name the result relative to themselves; downloads need it whole.
        return resolve_result_urls(status, self.config.base_url)

    async def list_tasks(self, query: ListQuery) -> TaskPage:
        """One page of the provider's task list.

        Returns an empty page where the provider has no list endpoint.
        """
        request = self.adapter.build_list(query)
        if request is None:
            return TaskPage(total=0, items=())
        page = await self._send_idempotent(request, self.adapter.parse_list)
        items = tuple(resolve_result_urls(s, self.config.base_url) for s in page.items)
        return attrs.evolve(page, items=items)

    async def statuses(self, task_ids: list[str]) -> dict[str, TaskStatus]:
        """Statuses of several tasks: one list call where the provider batches, else GETs."""
        if self.adapter.capabilities.can_list and len(task_ids) > 1:
            page = await self.list_tasks(
                ListQuery(task_ids=tuple(task_ids), page_size=max(len(task_ids), 1))
            )
            found = {s.task_id: s for s in page.items}
            missing = [t for t in task_ids if t not in found]
            for task_id in missing:  # a list may omit a task (e.g. deleted); ask directly
                found[task_id] = await self.status(task_id)
            return found
        return {t: await self.status(t) for t in task_ids}

    async def cancel(self, task_id: str, *, delete: bool = False, key: str = "") -> CancelResult:
        """Cancel a remote task that has not started; delete a finished one only if asked.

        The task's status is read first, because the provider's cancel request may delete
        a finished task's record (Ark): a task that has ended is left alone unless
        ``delete`` is true, and one the provider cannot cancel in its state (a running Ark
        task) is not sent a request.

        Args:
            task_id: the remote task.
            delete: remove a finished task's record (its video URL goes with it).
            key: tracking key for events.

        Returns:
            What happened; true in a boolean context when cancelled or deleted.

        Raises:
            TaskNotFound: the provider does not know the task.
            ProviderError: the status read or the cancel failed for another reason.
        """
        request = self.adapter.build_cancel(task_id)
        if request is None:
            return CancelResult(
                provider=self.alias,
                task_id=task_id,
                outcome="unsupported",
                detail=f"{self.alias} has no cancel endpoint",
            )
        status = await self.status(task_id, key=key)
        state = status.state
        allowed = self.adapter.capabilities.cancel_states
        if status.is_terminal and not delete:
            return CancelResult(
                provider=self.alias,
                task_id=task_id,
                outcome="already_final",
                state=state,
                detail=f"the task already ended {state.value}; nothing was sent"
                " (delete=True removes its record)",
            )
        if not status.is_terminal and allowed and state not in allowed:
            return self._not_cancellable(task_id, state)
        try:
            await self._send_idempotent(request, lambda r: self.adapter.parse_cancel(r, task_id))
        except TaskNotCancellable:
            # The state changed since we read it, or an earlier try whose answer was lost
            # already cancelled it: the status says which.
            after = (await self.status(task_id, key=key)).state
            if after is TaskState.CANCELLED and not status.is_terminal:
                return CancelResult(
                    provider=self.alias, task_id=task_id, outcome="cancelled", state=state
                )
            return self._not_cancellable(task_id, after)
        outcome: CancelOutcome = "deleted" if status.is_terminal else "cancelled"
        return CancelResult(provider=self.alias, task_id=task_id, outcome=outcome, state=state)

    def _not_cancellable(self, task_id: str, state: TaskState) -> CancelResult:
        return CancelResult(
            provider=self.alias,
            task_id=task_id,
            outcome="not_cancellable",
            state=state,
            detail=f"{self.alias} cannot cancel a {state.value} task; it will finish (and bill)",
        )

    # -- submit ----------------------------------------------------------------------------

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of this alias's rules: the models it serves, then its adapter's."""
        return self.config.model_violations(task.model) or self.adapter.check(task)

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """The submit request, checked against the 64 MB body limit.

        Raises:
            InvalidTaskSpec: the provider's rules or the body limit are broken.
        """
        violations = self.check(task)
        if violations:
            raise InvalidTaskSpec(violations, context=f"provider {self.alias}")
        request = self.adapter.build_submit(task)
        body = request.body_bytes()
        limit = universal_rules().request_max_bytes
        if body is not None and len(body) > limit:
            raise InvalidTaskSpec(
                [
                    Violation(
                        field="images",
                        rule=f"the whole request must be at most {limit / (1024 * 1024):g} MB",
                        value=f"{len(body)} bytes",
                    )
                ]
            )
        return request

    def with_correlation_nonce(self, task: VideoTask) -> VideoTask:
        """The task with a per-submit nonce the provider echoes, where that is possible.

        Ark lists queued tasks with hardly anything but their model, times and
        ``execution_expires_after`` (docs/providers.md §2.3), so two lost submits of one model in
        the same second are indistinguishable. When the caller left the expiry unset we send
        the 48 h default minus a random 0-3599 s, which the list echoes: reconciliation can
        then tell our task from the others. The effect on the task is an expiry up to one
        hour earlier than the provider default, out of 48 hours.
        """
        return self._reconciler.with_correlation_nonce(task)

    async def submit(
        self,
        task: VideoTask,
        *,
        spec_hash: str,
        key: str = "",
        stamp: SendStamper | None = None,
    ) -> tuple[TaskHandle, TaskStatus | None]:
        """Create a remote task, at most once.

        Args:
            task: the spec with local images already loaded.
            spec_hash: hash of the spec as the caller knows it (recorded on the handle).
            key: tracking key for events.
            stamp: told (durably) right before each request leaves, and when a try
                provably created nothing (a journal's :class:`SendStamp`).

        Returns:
            The handle and the first status when the provider sent one.

        Raises:
            InvalidTaskSpec: the provider cannot express the spec.
            SubmitOutcomeUnknown: the task may exist; reconciliation could not find it.
            ProviderError: the provider refused the task or stayed unavailable (nothing created).
        """
        task = self.with_correlation_nonce(task)
        request = self.build_submit(task)
        return await self._submitter.submit(
            task, request, spec_hash=spec_hash, key=key, stamp=stamp
        )

    async def reconcile(
        self, task: VideoTask, *, spec_hash: str, sent_at: float, cause: str, key: str = ""
    ) -> tuple[TaskHandle, TaskStatus]:
        """Find the task a submit sent at ``sent_at`` may have created (see the module doc).

        Also used on resume for an intent recorded without a remote id.

        Raises:
            SubmitOutcomeUnknown: no list endpoint, no match, or several matches.
        """
        found = await self._reconciler.find(task, sent_at=sent_at, cause=cause, key=key)
        return task_handle(self.config, task, found.task_id, sent_at, spec_hash), found
