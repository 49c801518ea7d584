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
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable
from typing import TypeVar

import anyio
import attrs

from seedance_async._budget import BudgetLike
from seedance_async._clock import Clock
from seedance_async._config import ProviderConfig
from seedance_async._errors import (
    InvalidTaskSpec,
    MalformedResponse,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    Violation,
)
from seedance_async._events import Event, EventHub, EventKind
from seedance_async._handle import TaskHandle
from seedance_async._reconcile import reconcile_candidates
from seedance_async._retry import RetryPolicy
from seedance_async._spec import VideoTask
from seedance_async._state import TaskStatus
from seedance_async._transport import Transport
from seedance_async._validation import MAX_REQUEST_BYTES
from seedance_async._wire import HttpRequest, HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, TaskPage

__all__ = ["ProviderClient", "SubmitOutcomeUnknown"]

T = TypeVar("T")

_RECONCILE_SKEW = 30.0  # seconds of clock difference tolerated between us and the provider
_RECONCILE_TRIES = 3
_RECONCILE_PAGES = 10
_DEFAULT_EXPIRY = 172_800  # Ark's execution_expires_after default (providers.md §2.2)
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
        super().__init__(message, provider=provider)


class ProviderClient:
    """Talks to one provider alias; safe to share between many concurrent tasks.

    Args:
        config: the alias configuration.
        adapter: the adapter built from ``config.adapter`` and ``config.options``.
        transport: sends requests to ``config.base_url`` with the key attached.
        budget: rate/concurrency budget for this key (may be shared between aliases).
        retry: retry policy for GETs and provably-unsent submits.
        clock: time source.
        events: where retries and rate limits are reported.
        rng: random source for jitter (seeded in tests).
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        adapter: ProviderAdapter,
        transport: Transport,
        budget: BudgetLike,
        retry: RetryPolicy,
        clock: Clock,
        events: EventHub,
        rng: Callable[[], float] = _random.random,
    ) -> None:
        self.config = config
        self.alias = config.alias
        self.adapter = adapter
        self.transport = transport
        self.budget = budget
        self.retry = retry
        self.clock = clock
        self.events = events
        self._rng = rng
        self._known_ids: set[str] = set()
        self._inflight: dict[int, float] = {}
        self._next_token = 0
        self._settled = anyio.Condition()

    def __repr__(self) -> str:
        return f"ProviderClient(alias={self.alias!r}, adapter={self.adapter.name!r})"

    def remember(self, task_ids: Iterable[str]) -> None:
        """Mark ids as owned (e.g. from a journal) so reconciliation never adopts them."""
        self._known_ids.update(task_ids)

    # -- generic request cycle ------------------------------------------------------------

    def _emit(self, kind: EventKind, key: str, detail: str, task_id: str | None = None) -> None:
        self.events.emit(
            Event(
                kind=kind,
                key=key,
                provider=self.alias,
                at=self.clock.wall(),
                task_id=task_id,
                detail=detail,
            )
        )

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
                    self._emit(EventKind.RATE_LIMITED, key, exc.code or "429")
                delay = self.retry.decide(
                    exc, attempt, paid=False, now_wall=self.clock.wall(), random=self._rng
                )
                if delay is None:
                    raise
                self._emit(
                    EventKind.RETRIED,
                    key,
                    f"{type(exc).__name__} on {request.method}; retry in {delay:.2f}s",
                )
                attempt += 1
                await self.clock.sleep(delay)
                continue
            await self.budget.on_success(kind="poll")
            return result

    # -- status, list, cancel ---------------------------------------------------------------

    async def status(self, task_id: str, *, key: str = "") -> TaskStatus:
        """The current status of one task (GET, retried on transient failures)."""
        request = self.adapter.build_status(task_id)
        return await self._send_idempotent(
            request, lambda r: self.adapter.parse_status(r, task_id), key=key
        )

    async def list_tasks(self, query: ListQuery) -> TaskPage:
        """One page of the provider's task list.

        Returns an empty page where the provider has no list endpoint.
        """
        request = self.adapter.build_list(query)
        if request is None:
            return TaskPage(total=0, items=())
        return await self._send_idempotent(request, self.adapter.parse_list)

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

    async def cancel(self, task_id: str) -> bool:
        """Cancel (or delete) a remote task. Returns False where the provider has no cancel."""
        request = self.adapter.build_cancel(task_id)
        if request is None:
            return False
        await self._send_idempotent(request, lambda r: self.adapter.parse_cancel(r, task_id))
        return True

    # -- submit ----------------------------------------------------------------------------

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """The submit request, checked against the 64 MB body limit.

        Raises:
            InvalidTaskSpec: the provider's rules or the body limit are broken.
        """
        violations = self.adapter.check(task)
        if violations:
            raise InvalidTaskSpec(violations, context=f"provider {self.alias}")
        request = self.adapter.build_submit(task)
        body = request.body_bytes()
        if body is not None and len(body) > MAX_REQUEST_BYTES:
            raise InvalidTaskSpec(
                [
                    Violation(
                        field="images",
                        rule="the whole request must be at most 64 MB",
                        value=f"{len(body)} bytes",
                    )
                ]
            )
        return request

    def with_correlation_nonce(self, task: VideoTask) -> VideoTask:
        """The task with a per-submit nonce the provider echoes, where that is possible.

        Ark lists queued tasks with hardly anything but their model, times and
        ``execution_expires_after`` (providers.md §2.3), so two lost submits of one model in
        the same second are indistinguishable. When the caller left the expiry unset we send
        the 48 h default minus a random 0-3599 s, which the list echoes: reconciliation can
        then tell our task from the others. The effect on the task is an expiry up to one
        hour earlier than the provider default, out of 48 hours.
        """
        caps = self.adapter.capabilities
        if (
            not self.config.correlation_nonce
            or not caps.can_list
            or "execution_expires_after" not in caps.fields
            or task.execution_expires_after is not None
        ):
            return task
        nonce = int(self._rng() * _NONCE_RANGE)
        return attrs.evolve(task, execution_expires_after=_DEFAULT_EXPIRY - nonce)

    async def submit(
        self, task: VideoTask, *, spec_hash: str, key: str = ""
    ) -> tuple[TaskHandle, TaskStatus | None]:
        """Create a remote task, at most once.

        Args:
            task: the spec with local images already loaded.
            spec_hash: hash of the spec as the caller knows it (recorded on the handle).
            key: tracking key for events.

        Returns:
            The handle and the first status when the provider sent one.

        Raises:
            InvalidTaskSpec: the provider cannot express the spec.
            SubmitOutcomeUnknown: the task may exist; reconciliation could not find it.
            ProviderError: the provider refused the task or stayed unavailable (nothing created).
        """
        task = self.with_correlation_nonce(task)
        request = self.build_submit(task)
        attempt = 0
        while True:
            await self.budget.before_submit()
            token = self._begin_inflight()
            sent_at = self.clock.wall()
            try:
                accepted = self.adapter.parse_submit(await self.transport.send(request))
            except RequestNotSent as exc:
                await self._end_inflight(token)
                delay = self.retry.decide(
                    exc, attempt, paid=True, now_wall=self.clock.wall(), random=self._rng
                )
                if delay is None:
                    raise
            except RateLimited as exc:
                await self._end_inflight(token)
                await self.budget.on_rate_limited(exc, kind="submit")
                self._emit(EventKind.RATE_LIMITED, key, exc.code or "429")
                delay = self.retry.decide(
                    exc, attempt, paid=True, now_wall=self.clock.wall(), random=self._rng
                )
                if delay is None:
                    raise
            except ProviderUnavailable as exc:
                if self.config.paid_5xx_safe:
                    await self._end_inflight(token)
                    delay = self.retry.decide(
                        exc, attempt, paid=False, now_wall=self.clock.wall(), random=self._rng
                    )
                    if delay is None:
                        raise
                else:
                    found = await self._reconcile(task, spec_hash, sent_at, token, exc, key)
                    if found is not None:
                        return found
                    delay = self._retry_not_created(exc, attempt, sent_at)
            except (OutcomeUnknown, MalformedResponse) as exc:
                # A 2xx we cannot read still created the task: treat it like a lost answer.
                found = await self._reconcile(task, spec_hash, sent_at, token, exc, key)
                if found is not None:
                    return found
                delay = self._retry_not_created(exc, attempt, sent_at)
            except BaseException:
                await self._end_inflight(token)
                raise
            else:
                self._known_ids.add(accepted.task_id)
                await self._end_inflight(token)
                await self.budget.on_success(kind="submit")
                handle = self._handle(task, accepted.task_id, sent_at, spec_hash)
                return handle, accepted.status
            self._emit(EventKind.RETRIED, key, f"submit not accepted; retry in {delay:.2f}s")
            attempt += 1
            await self.clock.sleep(delay)

    def _handle(self, task: VideoTask, task_id: str, sent_at: float, spec_hash: str) -> TaskHandle:
        return TaskHandle(
            provider=self.alias,
            adapter=self.config.adapter,
            model=task.model,
            task_id=task_id,
            created_at=sent_at,
            spec_hash=spec_hash,
        )

    # -- in-flight bookkeeping (reconciliation must see every id that is on its way) ------

    def _begin_inflight(self) -> int:
        self._next_token += 1
        self._inflight[self._next_token] = self.clock.wall()
        return self._next_token

    async def _end_inflight(self, token: int) -> None:
        if self._inflight.pop(token, None) is not None:
            async with self._settled:
                self._settled.notify_all()

    async def _wait_earlier_submits(self, token: int, before: float) -> None:
        # Ids of submits sent before our answer failed may still be on their way; adopting
        # one of them would give two specs the same task. Bounded by the submit timeout.
        limit = (self.config.timeouts.total or 120.0) + 5.0
        with anyio.move_on_after(limit):
            async with self._settled:
                while any(
                    t != token and started <= before for t, started in self._inflight.items()
                ):
                    await self._settled.wait()

    async def _reconcile(
        self,
        task: VideoTask,
        spec_hash: str,
        sent_at: float,
        token: int,
        cause: ProviderError,
        key: str,
    ) -> tuple[TaskHandle, TaskStatus | None] | None:
        failed_at = self.clock.wall()
        # Our answer is lost: no id of ours is on its way any more. Leaving the token in
        # flight would make two ambiguous submits wait for each other until the timeout.
        await self._end_inflight(token)
        try:
            if self.adapter.capabilities.can_list:
                await self._wait_earlier_submits(token, failed_at)
            return await self.reconcile(
                task, spec_hash=spec_hash, sent_at=sent_at, cause=type(cause).__name__, key=key
            )
        except SubmitOutcomeUnknown as unknown:
            if unknown.not_found and self.config.resubmit_when_not_listed:
                # The list endpoint is authoritative for this key: no matching task exists,
                # so sending again cannot double-bill (reconcile first, then resubmit: §8.1).
                self._emit(
                    EventKind.RETRIED,
                    key,
                    f"{type(cause).__name__}: no task was created; resubmitting",
                )
                return None
            raise
        finally:
            await self._end_inflight(token)

    def _retry_not_created(self, cause: ProviderError, attempt: int, sent_at: float) -> float:
        """Delay before resending a submit that listing proved was not created."""
        delay = self.retry.decide(
            cause, attempt, paid=False, now_wall=self.clock.wall(), random=self._rng
        )
        if delay is None:
            # Listing proved nothing was created: this is a refusal, not an unknown outcome,
            # so the caller may take the task to another provider.
            raise ProviderUnavailable(
                f"submit not accepted after {attempt + 1} attempts (listing showed no task was created)",
                provider=self.alias,
            ) from cause
        return delay

    async def reconcile(
        self, task: VideoTask, *, spec_hash: str, sent_at: float, cause: str, key: str = ""
    ) -> tuple[TaskHandle, TaskStatus]:
        """Find the task a submit sent at ``sent_at`` may have created (see the module doc).

        Also used on resume for an intent recorded without a remote id.

        Raises:
            SubmitOutcomeUnknown: no list endpoint, no match, or several matches.
        """
        if not self.adapter.capabilities.can_list:
            raise SubmitOutcomeUnknown(
                f"submit outcome unknown ({cause}); {self.alias} has no list endpoint to check",
                sent_at=sent_at,
                reason=f"{cause} and no list endpoint to check",
                provider=self.alias,
            )
        window = (sent_at - _RECONCILE_SKEW, self.clock.wall() + _RECONCILE_SKEW)
        candidates: list[TaskStatus] = []
        complete = True
        for attempt in range(_RECONCILE_TRIES):
            candidates, complete = await self._list_candidates(task, window)
            if candidates:
                break
            if attempt + 1 < _RECONCILE_TRIES:
                # A task created a moment ago may not be listed yet.
                await self.clock.sleep(self.config.reconcile_settle / (_RECONCILE_TRIES - 1))
        if len(candidates) == 1:
            found = candidates[0]
            self._known_ids.add(found.task_id)
            self._emit(EventKind.RECONCILED, key, f"adopted after {cause}", found.task_id)
            return self._handle(task, found.task_id, sent_at, spec_hash), found
        ids = tuple(c.task_id for c in candidates)
        if ids:
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
            provider=self.alias,
            # "Not created" only counts when the scan covered the whole send window.
            not_found=not ids and complete,
        )

    async def _list_candidates(
        self, task: VideoTask, window: tuple[float, float]
    ) -> tuple[list[TaskStatus], bool]:
        """Matching tasks, and whether the scan reached back past the window's start."""
        found: list[TaskStatus] = []
        for page_num in range(1, _RECONCILE_PAGES + 1):
            page = await self.list_tasks(
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
