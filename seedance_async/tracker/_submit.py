"""The submit stage: provider choice, running slots, at-most-once submits, reconciliation.

Submit workers take queued tasks, pick the first provider in the task's failover order
whose circuit is closed and which has a free running slot, journal the intent, and submit
through :class:`ProviderClient` (which reconciles ambiguous outcomes). Refusals that say
nothing about other providers move the task on; an ambiguous outcome never does.
"""

from __future__ import annotations

import anyio
import attrs

from seedance_async.client._alias import SubmitOutcomeUnknown
from seedance_async.core._clock import local_time
from seedance_async.core._errors import (
    InvalidTaskSpec,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
)
from seedance_async.core._events import EventKind
from seedance_async.policy._failover import refusal_fails_over
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import Attempt, Outcome
from seedance_async.tracker._table import TrackerCore
from seedance_async.tracker._task import TrackedTask

__all__ = ["SubmitStage"]

# A resumed intent older than this is never resent, even when listing finds no task: a list
# may not reach that far back (RedisWorker's resubmit_horizon has the same default).
_RESEND_HORIZON = 60.0
_SLOT_RECHECK = 0.5  # seconds between looks at a full running-slot budget
_REFUSED = "refused"


class SubmitStage(TrackerCore):
    """Submit workers' logic (mixed into :class:`~seedance_async.Tracker`)."""

    async def _try_slot(self, candidates: list[str]) -> str | None:
        now = self.clock.now()
        for alias in candidates:
            if self._breaker.is_open(alias, now):
                continue
            if await self.client.provider(alias).budget.try_acquire_running_slot():
                return alias
        return None

    async def _submit_task(self, tracked: TrackedTask) -> None:
        tried = {a.provider for a in tracked.attempts}
        while True:
            if tracked.done:
                return
            remaining = [a for a in tracked.order if a not in tried]
            if not remaining and self._may_go_round_again(tracked):
                # Every provider refused for now (rate limits, an outage): nothing was created,
                # so wait a while and offer the task to the providers that refused again.
                tracked.rounds += 1
                pause = self.schedule.min_interval * 2.0**tracked.rounds
                await self.clock.sleep(min(pause, 2 * self.schedule.max_interval))
                tried = {a.provider for a in tracked.attempts if a.outcome != _REFUSED}
                continue
            if not remaining:
                await self._finish(
                    tracked,
                    Outcome.REJECTED,
                    self._last_reason(tracked) or "no provider accepted the task",
                )
                return
            alias = await self._try_slot(remaining)
            if alias is None:
                # A budget shared with other processes (RedisBudget) frees slots without
                # setting our event: look again after a while instead of waiting forever.
                with anyio.move_on_after(_SLOT_RECHECK):
                    await self._slot_event.wait()
                continue
            tracked.slot_alias = alias
            if await self._submit_to(tracked, alias):
                return
            tried.add(alias)

    async def _submit_to(self, tracked: TrackedTask, alias: str) -> bool:
        """One attempt; True when the task is submitted or finished, False to fail over."""
        provider = self.client.provider(alias)
        try:
            if tracked.loaded is None:
                tracked.loaded = await self.client.prepare(tracked.task, alias)
        except (InvalidTaskSpec, OSError) as exc:
            # Local files are the same for every provider: no point in failing over.
            await self._release_slot(tracked)
            tracked.attempts.append(
                Attempt(provider=alias, task_id=None, outcome="rejected", reason=str(exc))
            )
            await self._finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
            return True
        # The correlation nonce is drawn here so that the intent records it: a resumed run
        # reconciles with it; without it any lost task of the same model would match.
        sent, loaded = provider.with_correlation_nonce(tracked.task), tracked.loaded
        if loaded is tracked.task:  # no local images were loaded
            loaded = sent
        elif sent is not tracked.task:
            loaded = attrs.evolve(loaded, execution_expires_after=sent.execution_expires_after)
        await self.journal.record_intent(
            tracked.key, sent, alias, len(tracked.attempts), self.clock.wall()
        )
        try:
            handle, first = await provider.submit(
                loaded, spec_hash=task_hash(tracked.task), key=tracked.key
            )
        except SubmitOutcomeUnknown as exc:
            await self._unknown(tracked, alias, exc)
            return True
        except (ProviderError, InvalidTaskSpec) as exc:
            # Refused or never sent: nothing was created, so the journal may forget the intent.
            await self._not_created(tracked, alias, exc)
            if not isinstance(exc, InvalidTaskSpec) and not refusal_fails_over(exc):
                # Would be refused anywhere (content policy, a bad parameter): stop here.
                await self._finish(tracked, Outcome.REJECTED, str(exc), provider=alias)
                return True
            if isinstance(
                exc, ProviderUnavailable | TransportError
            ) and self._breaker.record_failure(alias, self.clock.now()):
                self._emit(EventKind.FAILED_OVER, tracked, alias, f"circuit opened for {alias}")
            self._emit(EventKind.FAILED_OVER, tracked, alias, f"{type(exc).__name__}: moving on")
            return False
        self._breaker.record_success(alias)
        await self._attached(tracked, handle, first)
        return True

    def _may_go_round_again(self, tracked: TrackedTask) -> bool:
        last = tracked.attempts[-1] if tracked.attempts else None
        if last is None or last.outcome != _REFUSED or tracked.rounds >= self.refusal_rounds:
            return False
        return tracked.deadline_at is None or self.clock.now() < tracked.deadline_at

    async def _not_created(self, tracked: TrackedTask, alias: str, exc: Exception) -> None:
        # "refused" marks a refusal that may pass (rate limit, outage, no connection): the
        # provider gets the task again in a later round; "rejected" is final for it.
        transient = isinstance(exc, ProviderUnavailable | TransportError) or (
            isinstance(exc, RateLimited) and exc.retryable
        )
        outcome = _REFUSED if transient else "rejected"
        tracked.attempts.append(
            Attempt(provider=alias, task_id=None, outcome=outcome, reason=str(exc))
        )
        await self._release_slot(tracked)
        await self.journal.record_not_created(tracked.key, alias, str(exc))

    async def _unknown(self, tracked: TrackedTask, alias: str, exc: SubmitOutcomeUnknown) -> None:
        tracked.attempts.append(
            Attempt(provider=alias, task_id=None, outcome="unknown", reason=exc.reason)
        )
        hint = f"sent at {local_time(exc.sent_at)}"
        if exc.candidates:
            hint += f"; candidates {', '.join(exc.candidates)}"
        await self._keep_slot(tracked, exc.sent_at)
        await self._finish(tracked, Outcome.UNKNOWN, f"{exc.reason}; {hint}", provider=alias)

    async def _reconcile_intent(
        self, tracked: TrackedTask, alias: str, intent_at: float, may_resend: bool = True
    ) -> None:
        provider = self.client.provider(alias)
        try:
            handle, found = await provider.reconcile(
                tracked.task,
                spec_hash=task_hash(tracked.task),
                sent_at=intent_at,
                cause="crash after intent",
                key=tracked.key,
            )
        except SubmitOutcomeUnknown as exc:
            recent = self.clock.wall() - intent_at <= _RESEND_HORIZON
            resend = exc.not_found and provider.config.resubmit_when_not_listed
            if resend and recent and may_resend:
                # The list proves the interrupted submit created nothing: send it again, as
                # ProviderClient.submit does after a lost answer (resubmit_when_not_listed).
                await self.journal.record_not_created(tracked.key, alias, exc.reason)
                await self._release_slot(tracked)
                self._emit(EventKind.RETRIED, tracked, alias, "nothing was created; sending again")
                self._submit_send.send_nowait(tracked)
                return
            await self._unknown(tracked, alias, exc)
            return
        except ProviderError as exc:
            await self._keep_slot(tracked, intent_at)
            await self._finish(
                tracked,
                Outcome.UNKNOWN,
                f"reconciliation failed: {exc}; intent at {local_time(intent_at)}",
                provider=alias,
            )
            return
        await self._attached(tracked, handle, found)
