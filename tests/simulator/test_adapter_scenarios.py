"""Every scenario through every adapter that can express it, against its simulator."""

from __future__ import annotations

import aiohttp
import pytest

from seedance_async.providers import create_adapter
from seedance_async.simulator import ALL_PROVIDERS, ManualClock, Simulator
from seedance_async.spec._status import TaskState
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole, Ratio
from tests.simulator._helpers import QUEUE_S, RUN_S
from tests.simulator.test_adapters import adapter_for, send

PRO = "doubao-seedance-1-0-pro-250528"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
FIRST = Image.from_url("https://e.com/first.png")
LAST = Image.from_url("https://e.com/last.png", ImageRole.LAST_FRAME)
REFS = tuple(
    Image.from_url(f"https://e.com/ref{n}.png", ImageRole.REFERENCE_IMAGE) for n in range(3)
)

SCENARIOS = {
    "text": VideoTask(model=PRO, prompt="a cat", duration=5),
    "first_frame": VideoTask(model=PRO, prompt="a cat", images=(FIRST,), duration=5),
    "first_last_frame": VideoTask(model=PRO, prompt="a cat", images=(FIRST, LAST), duration=5),
    "reference_images": VideoTask(
        model=LITE_I2V,
        prompt="[Image1] [Image2] [Image3] a cat",
        images=REFS,
        duration=5,
        ratio=Ratio.R16_9,
    ),
}
# What the wire formats cannot carry (AI/ML API's flat body, the unified gateway's images
# list): refused before any request.
CANNOT = {("aimlapi", "reference_images"), ("unified", "reference_images")}
ADAPTER_OF = {"chainhub": "ark", "gateway000": "ark"}

PAIRS = [(p, s) for p in ALL_PROVIDERS for s in SCENARIOS if (p, s) not in CANNOT]


@pytest.mark.parametrize(("provider", "scenario"), PAIRS)
async def test_each_scenario_round_trips(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, provider: str, scenario: str
) -> None:
    """The simulator accepts the adapter's request and the adapter parses every answer."""
    adapter, base = adapter_for(sim, provider)
    task = SCENARIOS[scenario]
    assert adapter.check(task) == []
    accepted = adapter.parse_submit(await send(http, adapter, base, adapter.build_submit(task)))
    clock.advance(QUEUE_S + RUN_S)
    response = await send(http, adapter, base, adapter.build_status(accepted.task_id))
    status = adapter.parse_status(response, accepted.task_id)
    assert status.state is TaskState.SUCCEEDED
    assert status.video_url is not None
    (entry,) = sim.ledger(provider)
    assert entry.task_id == accepted.task_id


@pytest.mark.parametrize(("provider", "scenario"), sorted(CANNOT))
def test_scenarios_a_wire_format_cannot_carry_are_refused_first(
    provider: str, scenario: str
) -> None:
    """A scenario the provider cannot express is refused by check(), naming the images."""
    adapter = create_adapter(ADAPTER_OF.get(provider, provider))
    assert "images" in [v.field for v in adapter.check(SCENARIOS[scenario])]
