"""A spend cap: what a tracker may send, reserved at worst case and settled at the end.

Rule: *the cap counts money, never hopes.* A task reserves the most it can cost (the
highest estimate over every provider it may be sent to) when it is submitted, in submit
order, so which task the cap stops at does not depend on worker timing. When the task ends
the reservation becomes what it cost: the price of the usage the provider reported, or the
reservation again where the answer cannot rule a bill out (a succeeded task without usage,
an ``unknown`` submit, a task detached at its deadline); failed, cancelled, expired and
rejected tasks cost nothing. Once one task does not fit, no later one is sent either: the
cap is reached, and what is in flight continues.

A task whose price is unknown (an alias or model missing from the price table, or priced in
another currency) is refused under a cap unless ``allow_unpriced``; then it runs uncounted.
A refused task ends ``capped`` without a journal record, so a re-run with a higher cap sends
it; a task an earlier run already sent is never refused (it runs already), only counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from seedance_async.core._errors import ConfigurationError
from seedance_async.spec._cost import PriceTable, estimate_cost, price_table, usage_cost
from seedance_async.spec._handle import Outcome, TaskResult
from seedance_async.spec._status import Usage
from seedance_async.spec._task import VideoTask

__all__ = ["SpendCap", "cap_currency"]

_EPSILON = 1e-9  # float sums of prices: a task that fits exactly is not refused by rounding


def cap_currency(aliases: Iterable[str], table: PriceTable | None = None) -> str:
    """The one currency the price table uses for ``aliases`` (a cap given without one).

    Raises:
        ConfigurationError: none of the aliases is priced, or they use several currencies.
    """
    table = table or price_table()
    aliases = list(aliases)
    found = sorted({table.prices[a].currency for a in aliases if a in table.prices})
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigurationError(
            f"a spend cap needs a currency: no price list for {', '.join(aliases)}; name the"
            " currency (e.g. '10 USD') and price the aliases, or allow unpriced tasks"
        )
    raise ConfigurationError(
        f"a spend cap needs a currency: the aliases are priced in {', '.join(found)}; name one"
    )


class SpendCap:
    """Reservations and spending of one tracker under a cap.

    Args:
        limit: the most the tracker may spend, in ``currency``.
        currency: the cap's currency; prices in another currency count as unknown.
        allow_unpriced: run tasks whose price is unknown (uncounted) instead of refusing them.
        prices: the price table (the shipped one by default).
        spent: what earlier runs of the same batch already spent.

    Raises:
        ConfigurationError: a negative limit or spent amount.
    """

    def __init__(
        self,
        limit: float,
        currency: str,
        *,
        allow_unpriced: bool = False,
        prices: PriceTable | None = None,
        spent: float = 0.0,
    ) -> None:
        if not limit >= 0 or not spent >= 0:
            raise ConfigurationError(f"a spend cap needs amounts >= 0 (got {limit}, {spent})")
        self.limit = float(limit)
        self.currency = currency.upper()
        self.allow_unpriced = allow_unpriced
        self.prices = prices or price_table()
        self.spent = float(spent)
        self.reached = False
        self.capped = 0
        self.unpriced = 0
        self._reserved: dict[str, float] = {}
        self._refused: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"SpendCap(limit={self.limit:g} {self.currency}, spent={self.spent:.4f},"
            f" reserved={self.reserved:.4f}, reached={self.reached})"
        )

    @property
    def reserved(self) -> float:
        """The worst case of every counted task still running."""
        return sum(self._reserved.values())

    @property
    def remaining(self) -> float:
        """What is left of the cap after spending and reservations (never below 0)."""
        return max(0.0, self.limit - self.spent - self.reserved)

    def worst_case(self, task: VideoTask, aliases: Sequence[str]) -> tuple[float, list[str]]:
        """(highest estimate over the priced aliases, the aliases without a price)."""
        high, unpriced = 0.0, []
        for alias in aliases:
            estimate = estimate_cost(task, alias, self.prices)
            if estimate.high is None or estimate.currency != self.currency:
                unpriced.append(alias)
            else:
                high = max(high, estimate.high)
        return high, unpriced

    # -- the tracker's calls -----------------------------------------------------------------

    def admit(self, key: str, task: VideoTask, aliases: Sequence[str]) -> None:
        """Reserve ``task``'s worst case, or record why it may not be sent (:meth:`refusal`)."""
        high, unpriced = self.worst_case(task, aliases)
        if unpriced and not self.allow_unpriced:
            where = ", ".join(repr(a) for a in unpriced)
            self._refuse(
                key,
                f"not sent: no {self.currency} price for {task.model!r} on {where}, and a spend"
                " cap is set (price it, or allow unpriced tasks to run them uncounted)",
            )
            return
        if self.reached:
            self._refuse(key, "not sent: the spend cap was reached at an earlier task")
            return
        committed = self.spent + self.reserved
        if committed + high > self.limit + _EPSILON:
            self.reached = True
            self._refuse(
                key,
                f"not sent: its worst case ({high:.4f} {self.currency}) would pass the spend cap"
                f" ({committed:.4f} of {self.limit:g} {self.currency} spent or reserved)",
            )
            return
        if unpriced:
            self.unpriced += 1
        self._reserved[key] = high

    def refusal(self, key: str) -> str | None:
        """Why ``key`` may not be sent (once: the reason is taken), or None."""
        reason = self._refused.pop(key, None)
        if reason is not None:
            self.capped += 1
        return reason

    def hold(self, key: str, task: VideoTask, alias: str) -> None:
        """Count a task an earlier run already sent to ``alias``: reserved, never refused."""
        self._refused.pop(key, None)
        high, _ = self.worst_case(task, [alias])
        self._reserved[key] = high

    def settle(self, result: TaskResult) -> None:
        """A task ended: its reservation becomes what it cost."""
        self._refused.pop(result.key, None)
        reserved = self._reserved.pop(result.key, None)
        alias = result.provider or (result.attempts[-1].provider if result.attempts else None)
        self.spent += self.cost_of(
            result.task,
            alias,
            result.outcome,
            result.usage,
            sent=result.handle is not None,
            reserved=reserved,
        )

    def cost_of(
        self,
        task: VideoTask,
        alias: str | None,
        outcome: Outcome,
        usage: Usage | None,
        *,
        sent: bool,
        reserved: float | None = None,
    ) -> float:
        """What an ended task counts against the cap.

        Args:
            task: its spec.
            alias: the provider alias of its last attempt, if any.
            outcome: how it ended.
            usage: what the provider reported it consumed.
            sent: a remote task was created (the result has a handle).
            reserved: its reservation; without one, the estimate for ``alias`` stands in.
        """
        if outcome is Outcome.SUCCEEDED and alias is not None:
            actual = usage_cost(task, alias, usage, self.prices)
            if actual is not None and actual[1] == self.currency:
                return actual[0]
            # No usage reported (or in another currency): the estimate for the alias it ran
            # on; an alias without a price ran uncounted (allowed by allow_unpriced).
            high, unpriced = self.worst_case(task, [alias])
            return 0.0 if unpriced else high
        if outcome is Outcome.UNKNOWN or (outcome is Outcome.DEADLINE and sent):
            # The submit may have created the task, or it was left running at its deadline.
            if reserved is not None:
                return reserved
            if alias is None:
                return 0.0
            high, _ = self.worst_case(task, [alias])
            return high
        return 0.0

    def _refuse(self, key: str, reason: str) -> None:
        self._refused[key] = reason
