"""Fixtures for the simulator tests: a hand-moved clock, a started simulator, a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from seedance_async.simulator import ManualClock, Simulator
from tests.simulator._helpers import make_sim


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    async with make_sim(clock) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
