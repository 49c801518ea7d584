"""Sending a paid submit at most once.

Why this exists
---------------
A submit creates a task the account pays for, so unlike a GET it cannot simply be retried:
a resend after a lost answer could bill twice. It is sent again only when the failure proves
the provider did not accept it (connection never made, 429, or a 5xx the provider documents
as "nothing created"), or when listing proved no task was created. Every other failure is
*ambiguous* and goes to :class:`~seedance_async.client._ambiguous_submit.SubmitReconciler`, which
adopts the task the submit created or raises
:class:`~seedance_async.client._ambiguous_submit.SubmitOutcomeUnknown`.
"""

from __future__ import annotations

from typing import Protocol

from seedance_async.client._ambiguous_submit import SubmitReconciler
from seedance_async.client._context import AliasContext
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import (
    LeaseLost,
    MalformedResponse,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
)
from seedance_async.core._events import EventKind
from seedance_async.core._fence import send_fence_holds
from seedance_async.core._wire import HttpRequest
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["PaidSubmitter", "SendStamper", "task_handle"]

_STALE_TOKENS = 3  # tokens in a row whose lease ran out before the send: give up


class SendStamper(Protocol):
    """Notes, durably, when a submit's request is about to leave (a journal, per task).

    The submit may wait long before it sends (for a rate-limit token, after a 429): a
    crash there leaves an intent that provably never left, as long as the stamp is only
    written right before the request goes.
    """

    async def sending(self, at: float) -> None:
        """The request leaves as soon as this returns (it must be durable by then)."""
        ...

    async def not_sent(self, reason: str) -> None:
        """The request provably created nothing, and the submit waits before trying again."""
        ...


def task_handle(
    config: ProviderConfig, task: VideoTask, task_id: str, sent_at: float, spec_hash: str
) -> TaskHandle:
    """The handle of a task created on ``config``'s alias by a submit sent at ``sent_at``."""
    return TaskHandle(
        provider=config.alias,
        adapter=config.adapter,
        model=task.model,
        task_id=task_id,
        created_at=sent_at,
        spec_hash=spec_hash,
    )


class PaidSubmitter:
    """Sends submits for one provider alias; shared by all its concurrent submits.

    Args:
        context: the alias (adapter, transport, budget, retry policy, clock, events).
        reconciler: settles ambiguous submits and tracks the ids in flight.
    """

    def __init__(self, context: AliasContext, *, reconciler: SubmitReconciler) -> None:
        self._ctx = context
        self._reconciler = reconciler

    async def submit(
        self,
        task: VideoTask,
        request: HttpRequest,
        *,
        spec_hash: str,
        key: str,
        stamp: SendStamper | None = None,
    ) -> tuple[TaskHandle, TaskStatus | None]:
        """Send ``request`` (built from ``task``) until accepted, refused or ambiguous.

        ``stamp`` is told right before each send (after the rate-limit token), and again
        when a try provably created nothing and the next one waits.

        Raises:
            SubmitOutcomeUnknown: the task may exist; reconciliation could not find it.
            ProviderError: the provider refused the task or stayed unavailable (nothing created).
            LeaseLost: another worker owns the task now (a shared journal's token grant
                refused), or the lease never lasted from a token to its send; nothing was
                sent.
        """
        attempt = stale = 0
        stamped = False
        while True:
            await self._ctx.budget.before_submit()
            if stamp is not None and not stamped:
                await stamp.sending(self._ctx.clock.wall())
                stamped = True
            # The last word before the request goes out (no await from here to the
            # transport): a worker paused since its token may have lost the task. Then it
            # takes a new token, whose grant checks ownership again.
            if not send_fence_holds():
                stale += 1
                if stale > _STALE_TOKENS:
                    raise LeaseLost(f"{key!r}: no lease that lasts from a token to its send")
                continue
            token = self._reconciler.begin_inflight()
            sent_at = self._ctx.clock.wall()
            try:
                accepted = self._ctx.adapter.parse_submit(await self._ctx.transport.send(request))
            except RequestNotSent as exc:
                await self._reconciler.end_inflight(token)
                delay = self._ctx.retry_delay(exc, attempt, paid=True)
                if delay is None:
                    raise
            except RateLimited as exc:
                await self._reconciler.end_inflight(token)
                await self._ctx.budget.on_rate_limited(exc, kind="submit")
                self._ctx.emit(EventKind.RATE_LIMITED, key, exc.code or "429")
                delay = self._ctx.retry_delay(exc, attempt, paid=True)
                if delay is None:
                    raise
            except ProviderUnavailable as exc:
                if self._ctx.config.paid_5xx_safe:
                    await self._reconciler.end_inflight(token)
                    delay = self._ctx.retry_delay(exc, attempt, paid=False)
                    if delay is None:
                        raise
                else:
                    adopted = await self._adopt(task, sent_at, token, exc, key, spec_hash)
                    if adopted is not None:
                        return adopted
                    delay = self._retry_not_created(exc, attempt, sent_at)
            except (OutcomeUnknown, MalformedResponse) as exc:
                # A 2xx we cannot read still created the task: treat it like a lost answer.
                adopted = await self._adopt(task, sent_at, token, exc, key, spec_hash)
                if adopted is not None:
                    return adopted
                delay = self._retry_not_created(exc, attempt, sent_at)
            except BaseException:
                await self._reconciler.end_inflight(token)
                raise
            else:
                self._reconciler.remember([accepted.task_id])
                await self._reconciler.end_inflight(token)
                await self._ctx.budget.on_success(kind="submit")
                handle = task_handle(self._ctx.config, task, accepted.task_id, sent_at, spec_hash)
                return handle, accepted.status
            self._ctx.emit(EventKind.RETRIED, key, f"submit not accepted; retry in {delay:.2f}s")
            attempt += 1
            if stamped:
                assert stamp is not None
                # Every way here proves the try created nothing: a crash while waiting
                # leaves an intent that is safe to submit again.
                await stamp.not_sent(f"not accepted; retry in {delay:.2f}s")
                stamped = False
            await self._ctx.clock.sleep(delay)

    async def _adopt(
        self,
        task: VideoTask,
        sent_at: float,
        token: int,
        cause: ProviderError,
        key: str,
        spec_hash: str,
    ) -> tuple[TaskHandle, TaskStatus] | None:
        """The task an ambiguous submit created, found by listing; None if it created none."""
        found = await self._reconciler.settle(
            task, sent_at=sent_at, token=token, cause=cause, key=key
        )
        if found is None:
            return None
        return task_handle(self._ctx.config, task, found.task_id, sent_at, spec_hash), found

    def _retry_not_created(self, cause: ProviderError, attempt: int, sent_at: float) -> float:
        """Delay before resending a submit that listing proved was not created."""
        delay = self._ctx.retry_delay(cause, attempt, paid=False)
        if delay is None:
            # Listing proved nothing was created: this is a refusal, not an unknown outcome,
            # so the caller may take the task to another provider.
            raise ProviderUnavailable(
                f"submit not accepted after {attempt + 1} attempts (listing showed no task was created)",
                provider=self._ctx.alias,
            ) from cause
        return delay
