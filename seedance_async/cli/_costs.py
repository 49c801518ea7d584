"""Money figures of a batch: the ``--dry-run`` estimate, the spend cap, estimated vs actual.

Every figure is in the price list's own currency; amounts in different currencies are
never added up (no exchange rate is guessed), and a task without a price is counted as
unpriced, never as 0.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from seedance_async.core._errors import ConfigurationError
from seedance_async.spec._catalog import normalise_model_id
from seedance_async.spec._cost import PriceTable, estimate_cost, usage_cost
from seedance_async.spec._handle import Outcome
from seedance_async.spec._status import Usage
from seedance_async.spec._task import ProviderChecker, VideoTask
from seedance_async.tracker._spend import SpendCap

__all__ = ["CostTally", "line_cost", "parse_max_cost", "priced_lines", "spent_so_far"]

_MONEY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]{3})?\s*$")


def parse_max_cost(text: str) -> tuple[float, str | None]:
    """``"10"``, ``"10 USD"`` or ``"10usd"`` → (amount, currency or None).

    Raises:
        ConfigurationError: not an amount optionally followed by a 3-letter currency.
    """
    match = _MONEY.match(text)
    if match is None:
        raise ConfigurationError(
            f"--max-cost: expected an amount and an optional currency, e.g. '25' or '25 USD'"
            f" (got {text!r})"
        )
    currency = match.group(2)
    return float(match.group(1)), currency.upper() if currency else None


def _money(amounts: Mapping[str, float]) -> str:
    return " + ".join(f"{amounts[c]:.4f} {c}" for c in sorted(amounts)) or "0"


def _span(low: Mapping[str, float], high: Mapping[str, float]) -> str:
    if all(abs(low.get(c, 0.0) - high[c]) < 1e-9 for c in high) and set(low) == set(high):
        return _money(high)
    return f"{_money(low)} to {_money(high)}"


@attrs.define
class _Row:
    tasks: int = 0
    low: dict[str, float] = attrs.field(factory=lambda: defaultdict(float))
    high: dict[str, float] = attrs.field(factory=lambda: defaultdict(float))
    unpriced: int = 0
    reason: str | None = None
    actual: dict[str, float] = attrs.field(factory=lambda: defaultdict(float))
    actual_unknown: int = 0

    def add_estimate(self, task: VideoTask, alias: str, table: PriceTable) -> None:
        self.tasks += 1
        estimate = estimate_cost(task, alias, table)
        if estimate.low is None or estimate.high is None or estimate.currency is None:
            self.unpriced += 1
            self.reason = self.reason or estimate.reason
            return
        self.low[estimate.currency] += estimate.low
        self.high[estimate.currency] += estimate.high

    def merge(self, other: _Row) -> None:
        self.tasks += other.tasks
        self.unpriced += other.unpriced
        for mine, theirs in (
            (self.low, other.low),
            (self.high, other.high),
            (self.actual, other.actual),
        ):
            for currency, amount in theirs.items():
                mine[currency] += amount
        self.actual_unknown += other.actual_unknown

    def estimated(self) -> str:
        if not self.high:
            return f"unknown ({self.reason})" if self.reason else "unknown"
        text = _span(self.low, self.high)
        return text + (f", {self.unpriced} unpriced" if self.unpriced else "")

    def spent(self) -> str:
        if not self.actual:
            return "unknown"
        text = _money(self.actual)
        return text + (f", {self.actual_unknown} unknown" if self.actual_unknown else "")


def _plural(n: int) -> str:
    return f"{n} task" + "s" * (n != 1)


class CostTally:
    """Estimated (and, after a run, actual) cost per provider alias and model family."""

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self.rows: dict[tuple[str, str], _Row] = defaultdict(_Row)

    def estimate(self, task: VideoTask, alias: str) -> None:
        """Count ``task`` as sent to ``alias`` (an estimate if it succeeds)."""
        self.rows[(alias, normalise_model_id(task.model))].add_estimate(task, alias, self.table)

    def finished(self, task: VideoTask, alias: str, usage: Usage | None) -> None:
        """Count a succeeded task: its estimate and what its reported usage cost."""
        row = self.rows[(alias, normalise_model_id(task.model))]
        row.add_estimate(task, alias, self.table)
        actual = usage_cost(task, alias, usage, self.table)
        if actual is None:
            row.actual_unknown += 1
        else:
            row.actual[actual[1]] += actual[0]

    def lines(self, *, actual: bool) -> list[str]:
        """One line per alias and model, a subtotal per alias with several, and a total."""
        if not self.rows:
            return []
        width = max(len(a) for a, _ in self.rows) + 2
        mwidth = max(len(m) for _, m in self.rows) + 2
        out, total = [], _Row()
        for alias in dict.fromkeys(a for a, _ in sorted(self.rows)):
            models = sorted(m for a, m in self.rows if a == alias)
            subtotal = _Row()
            for model in models:
                row = self.rows[(alias, model)]
                out.append(f"  {alias:<{width}}{model:<{mwidth}}{self._cells(row, actual)}")
                subtotal.merge(row)
            if len(models) > 1:
                out.append(f"  {alias:<{width}}{'(all)':<{mwidth}}{self._cells(subtotal, actual)}")
            total.merge(subtotal)
        out.append(f"  {'total':<{width + mwidth}}{self._cells(total, actual)}")
        return out

    @staticmethod
    def _cells(row: _Row, actual: bool) -> str:
        text = f"{_plural(row.tasks):<10} estimated {row.estimated()}"
        return text + (f"; actual {row.spent()}" if actual else "")


def first_alias(
    task: VideoTask, aliases: Sequence[str], checkers: Mapping[str, ProviderChecker]
) -> str | None:
    """The first alias in failover order that accepts ``task`` (where it goes first)."""
    for alias in aliases:
        if not checkers[alias].check(task):
            return alias
    return None


def line_cost(row: Mapping[str, Any], task: VideoTask, table: PriceTable) -> dict[str, Any] | None:
    """A result line's ``cost`` field priced by ``table``: what its reported usage cost."""
    alias = row.get("provider")
    if row["outcome"] != Outcome.SUCCEEDED or not alias:
        return None
    usage = row.get("usage")
    actual = usage_cost(task, str(alias), Usage(**usage) if usage else None, table)
    return None if actual is None else {"amount": actual[0], "currency": actual[1]}


def priced_lines(
    rows: Iterable[Mapping[str, Any]], tasks: Mapping[str, VideoTask], table: PriceTable | None
) -> list[Mapping[str, Any]]:
    """Result lines whose ``cost`` is priced by the user's ``table`` (as they are without)."""
    if table is None:
        return list(rows)
    out: list[Mapping[str, Any]] = []
    for row in rows:
        task = tasks.get(str(row["key"]))
        out.append(row if task is None else {**row, "cost": line_cost(row, task, table)})
    return out


def spent_so_far(
    rows: Iterable[Mapping[str, Any]], tasks: Mapping[str, VideoTask], cap: SpendCap
) -> float:
    """What the journal's finished tasks count against ``cap`` (as the tracker counts them).

    ``tasks`` maps keys to specs; a row whose spec is missing counts nothing.
    """
    total = 0.0
    for row in rows:
        task = tasks.get(str(row["key"]))
        if task is None:
            continue
        attempts = row.get("attempts") or []
        alias = row.get("provider") or (attempts[-1]["provider"] if attempts else None)
        usage = row.get("usage")
        total += cap.cost_of(
            task,
            alias,
            Outcome(row["outcome"]),
            Usage(**usage) if usage else None,
            sent=row.get("handle") is not None,
        )
    return total
