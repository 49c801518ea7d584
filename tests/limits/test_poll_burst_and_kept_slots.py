"""The in-process budget spaces polls and keeps the slot of a task that may still run (issue #14)."""

from __future__ import annotations

from seedance_async.client._client import Client
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._secrets import ApiKey
from seedance_async.limits._key_limits import Budget
from seedance_async.testing import FakeClock


async def test_the_clients_default_budget_spaces_polls() -> None:
    """The in-process budget built for an alias lets no burst of polls on top of the rate."""
    config = ProviderConfig(
        alias="a", adapter="ark", base_url="https://a.example/api/v3", api_key=ApiKey("sk-test-a")
    )
    async with Client([config]) as client:
        budget = client.provider("a").budget
        assert isinstance(budget, Budget)
        assert budget.poll_bucket.burst == 1.0
    assert Budget().poll_bucket.burst == 1.0


async def test_a_kept_slot_comes_back_at_its_time_not_before() -> None:
    """A slot kept for a task that may still run stays taken until the given Unix time."""
    clock = FakeClock()
    budget = Budget(max_running=1, clock=clock)
    await budget.acquire_running_slot()
    await budget.keep_running_slot(clock.wall() + 100)
    assert not await budget.try_acquire_running_slot()
    clock.advance(99)
    assert not await budget.try_acquire_running_slot()
    clock.advance(1)
    assert await budget.try_acquire_running_slot()
