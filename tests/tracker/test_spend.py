"""The tracker's spend cap: worst case reserved at submit, settled by what a task cost.

Fake clock and in-memory providers priced by a user's price file (alias ``a``: 10 USD per 1M
tokens, so a default 1.0 pro task, 244,800 tokens at most, reserves 2.448 USD; FakeArk
reports 100 tokens used, 0.001 USD).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._errors import ConfigurationError
from seedance_async.core._events import EventKind
from seedance_async.journal import SqliteJournal
from seedance_async.spec import PriceTable, load_price_table
from seedance_async.spec._cost import price_table
from seedance_async.spec._handle import Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskState, TaskStatus, Usage
from seedance_async.tracker._spend import SpendCap, cap_currency
from tests.fakes import drop_answer_after_create
from tests.tracker.test_rerun import drive as drive_journaled
from tests.tracker.test_tracker import MODEL, World, config, drive, running, task

WORST = 2.448  # 1920 x 1088 x 24 fps x 5 s / 1024 = 244,800 tokens at 10 USD per 1M
USED = 0.001  # 100 tokens at 10 USD per 1M


@pytest.fixture
def prices(tmp_path: Path) -> PriceTable:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[prices.a]\ncurrency = "USD"\nas_of = "2026-12"\nsource = "test"\n'
        "[prices.a.models.seedance-1-0-pro]\nonline = 10.0\n"
        '[prices.c]\ncurrency = "CNY"\nas_of = "2026-12"\nsource = "test"\n'
        "[prices.c.models.seedance-1-0-pro]\nonline = 50.0\n",
        encoding="utf-8",
    )
    return load_price_table(path)


async def test_the_cap_stops_at_the_first_task_that_would_pass_it(prices: PriceTable) -> None:
    """Four worst cases fit in 10 USD, the fifth does not: it and every later task are not
    sent, end ``capped`` with the reason, and what was sent continues to its end."""
    world = World(["a"])
    async with running(world, [config("a")], max_cost=10.0, prices=prices) as tracker:
        handles = [await tracker.submit(task(n)) for n in range(7)]
        await drive(world, tracker)
        results = [await h.result() for h in handles]
        cap = tracker.spend_cap
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 4 + [Outcome.CAPPED] * 3
    assert len(world.arks["a"].created) == 4
    assert results[4].reason == (
        "not sent: its worst case (2.4480 USD) would pass the spend cap"
        " (9.7920 of 10 USD spent or reserved)"
    )
    assert results[5].reason == "not sent: the spend cap was reached at an earlier task"
    assert all(r.attempts == () and r.handle is None for r in results[4:])
    assert cap is not None
    assert cap.currency == "USD"
    assert cap.spent == pytest.approx(4 * USED)
    assert cap.reserved == 0
    assert cap.reached
    assert cap.capped == 3
    assert len(world.kinds(EventKind.CAPPED)) == 3


async def test_a_cap_of_an_unpriced_alias_needs_a_currency() -> None:
    """Nothing says which currency '10' is in: a typed error, before anything runs."""
    world = World(["a"])
    with pytest.raises(ConfigurationError, match="needs a currency: no price list for a"):
        async with running(world, [config("a")], max_cost=10.0):
            pass


def test_the_cap_currency_is_the_one_the_aliases_are_priced_in(prices: PriceTable) -> None:
    assert cap_currency(["a", "zz"], prices) == "USD"
    assert cap_currency(["c"], prices) == "CNY"
    with pytest.raises(ConfigurationError, match="priced in CNY, USD; name one"):
        cap_currency(["a", "c"], prices)


async def test_an_unpriced_task_is_refused_under_a_cap_unless_allowed(
    prices: PriceTable,
) -> None:
    """Alias ``b`` has no price: a task that may go there has no worst case."""
    world = World(["a", "b"])
    configs = [config("a"), config("b")]
    async with running(
        world, configs, max_cost=SpendCap(100, "USD", prices=prices), providers=["b"]
    ) as tracker:
        refused = await (await tracker.submit(task(1))).result()
    assert refused.outcome is Outcome.CAPPED
    assert refused.reason is not None
    assert "no USD price for 'doubao-seedance-1-0-pro-250528' on 'b'" in refused.reason
    assert not world.arks["b"].created

    async with running(
        world,
        configs,
        max_cost=SpendCap(100, "USD", prices=prices, allow_unpriced=True),
        providers=["b"],
    ) as tracker:
        handle = await tracker.submit(task(1))
        await drive(world, tracker)
        ran = await handle.result()
        cap = tracker.spend_cap
    assert ran.outcome is Outcome.SUCCEEDED
    assert cap is not None
    assert (cap.unpriced, cap.spent) == (1, 0.0)  # ran uncounted: its price is unknown


async def test_a_price_in_another_currency_counts_as_unknown(prices: PriceTable) -> None:
    """A CNY price never counts against a USD cap (no exchange rates are guessed)."""
    world = World(["c"])
    async with running(
        world, [config("c")], max_cost=SpendCap(100, "USD", prices=prices)
    ) as tracker:
        result = await (await tracker.submit(task(1))).result()
    assert result.outcome is Outcome.CAPPED
    assert result.reason is not None
    assert "no USD price" in result.reason


async def test_the_worst_case_is_the_dearest_alias_a_task_may_fail_over_to(
    prices: PriceTable,
) -> None:
    """Failover may send the task to the dearer alias: that price is reserved."""
    cap = SpendCap(100, "CNY", prices=prices, allow_unpriced=True)
    cap.admit("k", task(1), ["c", "a"])  # a is priced in USD: unknown to a CNY cap
    assert cap.reserved == pytest.approx(244_800 * 50 / 1e6)
    assert cap.unpriced == 1


async def test_a_failed_task_gives_its_reservation_back(prices: PriceTable) -> None:
    """Failed tasks are not billed: the next tasks fit in the same cap."""
    world = World(["a"])
    world.arks["a"].failures = {"cgt-00001", "cgt-00002"}
    world.arks["a"].fail_code = "OutputVideoSensitiveContentDetected.PolicyViolation"
    async with running(world, [config("a")], max_cost=5.0, prices=prices) as tracker:
        first = [await tracker.submit(task(n)) for n in range(2)]
        await drive(world, tracker)
        assert [(await h.result()).outcome for h in first] == [Outcome.FAILED] * 2
        cap = tracker.spend_cap
        assert cap is not None
        assert (cap.spent, cap.reserved) == (0.0, 0.0)
        later = [await tracker.submit(task(n)) for n in range(2, 4)]
        await drive(world, tracker)
        assert [(await h.result()).outcome for h in later] == [Outcome.SUCCEEDED] * 2
    assert cap.spent == pytest.approx(2 * USED)


async def test_an_unknown_submit_counts_its_worst_case(prices: PriceTable) -> None:
    """A submit that may have created (and billed) a task keeps its reservation as spent."""
    world = World(["a"])
    ark = world.arks["a"]
    ark.fault("POST", drop_answer_after_create(ark))
    async with running(
        world, [config("a", options={"can_list": False})], max_cost=10.0, prices=prices
    ) as tracker:
        result = await (await tracker.submit(task(1))).result()
        cap = tracker.spend_cap
    assert result.outcome is Outcome.UNKNOWN
    assert cap is not None
    assert cap.spent == pytest.approx(WORST)


def _result(outcome: Outcome, usage: Usage | None, handle: bool = True) -> TaskResult:
    status = TaskStatus(
        task_id="t",
        state=TaskState.SUCCEEDED if outcome is Outcome.SUCCEEDED else TaskState.FAILED,
        provider="a",
        provider_status="x",
        usage=usage,
    )
    return TaskResult(
        key="k",
        task=task(1),
        outcome=outcome,
        status=status,
        handle=TaskHandle(
            provider="a", adapter="ark", model=MODEL, task_id="t", created_at=0, spec_hash="h"
        )
        if handle
        else None,
    )


@pytest.mark.parametrize(
    ("outcome", "usage", "handle", "spent"),
    [
        (Outcome.SUCCEEDED, Usage(completion_tokens=100), True, USED),
        (Outcome.SUCCEEDED, Usage(cost_usd=0.25), True, 0.25),  # the provider's own figure
        (Outcome.SUCCEEDED, None, True, WORST),  # no usage: the estimate, never 0
        (Outcome.FAILED, None, True, 0.0),
        (Outcome.CANCELLED, None, True, 0.0),
        (Outcome.EXPIRED, None, True, 0.0),
        (Outcome.REJECTED, None, False, 0.0),
        (Outcome.UNKNOWN, None, False, WORST),
        (Outcome.DEADLINE, None, True, WORST),  # may still run remotely
        (Outcome.DEADLINE, None, False, 0.0),  # never sent
    ],
)
def test_settling_turns_the_reservation_into_what_the_task_cost(
    prices: PriceTable, outcome: Outcome, usage: Usage | None, handle: bool, spent: float
) -> None:
    cap = SpendCap(10, "USD", prices=prices)
    cap.admit("k", task(1), ["a"])
    assert cap.reserved == pytest.approx(WORST)
    cap.settle(_result(outcome, usage, handle))
    assert cap.reserved == 0
    assert cap.spent == pytest.approx(spent)


@given(
    highs=st.lists(st.integers(min_value=1, max_value=12), max_size=30),
    limit=st.integers(min_value=0, max_value=60),
)
def test_what_is_admitted_is_a_prefix_that_fits(highs: list[int], limit: int) -> None:
    """Durations vary the worst case; admission never passes the cap and stops for good."""
    prices = price_table()
    cap = SpendCap(limit, "USD", prices=prices)
    admitted = []
    for n, seconds in enumerate(highs):
        cap.admit(str(n), task(n, duration=max(2, seconds)), ["byteplus"])
        admitted.append(cap.refusal(str(n)) is None)
    assert cap.reserved <= limit + 1e-9
    assert admitted == sorted(admitted, reverse=True)  # True... then False...
    if not all(admitted):
        assert cap.reached


async def test_a_rerun_with_a_higher_cap_sends_the_rest_and_bills_nothing_twice(
    prices: PriceTable, tmp_path: Path
) -> None:
    """Capped tasks leave no journal record: the same program with a higher cap sends them;
    the journal's finished tasks are reported again and count what they cost."""
    world = World(["a"])
    specs = [task(n) for n in range(6)]
    async with SqliteJournal(tmp_path / "j.db", clock=world.clock) as journal:
        async with running(
            world, [config("a")], journal=journal, max_cost=5.0, prices=prices
        ) as tracker:
            for spec in specs:
                await tracker.submit(spec)
            await drive_journaled(world, tracker)
            first = {t.outcome for t in tracker.tasks.values() if t.outcome}
        assert first == {Outcome.SUCCEEDED, Outcome.CAPPED}
        assert len(world.arks["a"].created) == 2
        async with running(
            world, [config("a")], journal=journal, max_cost=20.0, prices=prices
        ) as tracker:
            handles = [await tracker.submit(spec) for spec in specs]
            await drive_journaled(world, tracker)
            results = [await h.result() for h in handles]
            cap = tracker.spend_cap
    assert [r.outcome for r in results] == [Outcome.SUCCEEDED] * 6
    assert len(world.arks["a"].created) == 6  # two in the first run, four in the second
    assert cap is not None
    assert cap.spent == pytest.approx(6 * USED)


def test_a_negative_cap_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=">= 0"):
        SpendCap(-1, "USD")


def test_the_repr_shows_amounts(prices: PriceTable) -> None:
    cap = SpendCap(10, "usd", prices=prices)
    assert repr(cap) == "SpendCap(limit=10 USD, spent=0.0000, reserved=0.0000, reached=False)"
