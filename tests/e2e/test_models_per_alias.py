"""Each alias serves the models its catalog (or config) lists; tasks go only to those."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from seedance_async import (
    Client,
    FailoverPolicy,
    InvalidTaskSpec,
    Outcome,
    PollSchedule,
    Tracker,
    VideoTask,
)
from seedance_async.config import ProviderConfig, parse_provider_config
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Limits,
    ManualClock,
    Quirks,
    Simulator,
)

PRO_1_5 = "doubao-seedance-1-5-pro-251215"
PRO_1_0 = "doubao-seedance-1-0-pro-250528"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(
        ("unified", "ark"),
        clock=ManualClock(),
        time_scale=1.0,
        durations=DurationModel.fixed(queue=0, run=0),
        limits=Limits.unlimited(),
    ) as s:
        yield s


def _configs(sim: Simulator) -> dict[str, ProviderConfig]:
    return parse_provider_config(sim.provider_config())


async def test_a_1_5_pro_task_goes_to_ark_without_a_request_to_unified(sim: Simulator) -> None:
    """Failover order [unified, ark]: unified's catalog lists no 1.5 pro, so ark gets it."""
    configs = _configs(sim)
    assert not configs["unified"].serves(PRO_1_5)
    assert configs["unified"].serves(PRO_1_0)
    async with Client(configs.values(), env={KEY_ENV: DEFAULT_KEY}) as client:
        policy = FailoverPolicy(providers=("unified", "ark"))
        schedule = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)
        async with Tracker(client, providers=policy, schedule=schedule) as tracker:
            task = VideoTask(model=PRO_1_5, prompt="a heron")
            assert tracker.eligible_providers(task)[0] == ["ark"]
            await tracker.submit(task)
            results = [r async for r in tracker.as_completed()]
    assert [(r.outcome, r.handle and r.handle.provider) for r in results] == [
        (Outcome.SUCCEEDED, "ark")
    ]
    assert [a.provider for a in results[0].attempts] == ["ark"]
    assert sim.requests("unified") == []
    assert len(sim.ledger("ark")) == 1


async def test_client_submit_picks_the_first_alias_that_serves_the_model(sim: Simulator) -> None:
    """Without a provider, submit skips aliases that do not serve the model; with one that
    does not, it refuses before any request."""
    async with Client(_configs(sim).values(), env={KEY_ENV: DEFAULT_KEY}) as client:
        assert client.aliases[0] == "unified"
        handle = await client.submit(VideoTask(model=PRO_1_5, prompt="a crane"))
        assert handle.provider == "ark"
        with pytest.raises(InvalidTaskSpec, match="does not serve this model"):
            await client.submit(VideoTask(model=PRO_1_5, prompt="a crane"), provider="unified")
        handle = await client.submit(VideoTask(model=PRO_1_0, prompt="a stork"))
        assert handle.provider == "unified"
    # Only the 1.0 pro task reached the unified gateway.
    assert [r.method for r in sim.requests("unified")] == ["POST"]


async def test_models_configured_on_an_alias_widen_what_it_serves(sim: Simulator) -> None:
    """`models` on the alias overrides the catalog: then 1.5 pro may go to unified."""
    data = sim.provider_config()
    data["providers"]["unified"]["models"] = ["seedance-1-5-pro", "seedance-1-0-pro"]
    configs = parse_provider_config(data)
    async with Client(configs.values(), env={KEY_ENV: DEFAULT_KEY}) as client:
        handle = await client.submit(VideoTask(model=PRO_1_5, prompt="an egret"))
    assert handle.provider == "unified"


async def test_an_alias_that_has_not_activated_the_model_hands_the_task_on() -> None:
    """Ark answers ModelNotOpen (nothing created): the tracker tries the next alias at once."""
    async with Simulator(
        ("ark", "chainhub"),
        clock=ManualClock(),
        time_scale=1.0,
        durations=DurationModel.fixed(queue=0, run=0),
        limits=Limits.unlimited(),
        quirks={"ark": Quirks(inactive_models=frozenset({PRO_1_0}))},
    ) as sim:
        configs = _configs(sim)
        async with Client(configs.values(), env={KEY_ENV: DEFAULT_KEY}) as client:
            policy = FailoverPolicy(providers=("ark", "chainhub"))
            schedule = PollSchedule(first_poll=0.001, min_interval=0.001, max_interval=0.002)
            async with Tracker(client, providers=policy, schedule=schedule) as tracker:
                await tracker.submit(VideoTask(model=PRO_1_0, prompt="an egret"))
                results = [r async for r in tracker.as_completed()]
        assert [r.outcome for r in results] == [Outcome.SUCCEEDED]
        assert [(a.provider, a.outcome) for a in results[0].attempts][-1][0] == "chainhub"
        assert results[0].attempts[0].provider == "ark"
        assert len(sim.ledger("ark")) == 0
        assert len(sim.ledger("chainhub")) == 1
