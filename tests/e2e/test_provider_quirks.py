"""The adapters against deployments that differ from the documents (simulator quirks and faults).

Each case is an answer a real deployment gives and that used to be misread: an account
without the model, a monthly quota, a status word nobody documented, moderation told only in
words, new-api's envelope, result links relative to the gateway, FastAPI validation errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seedance_async import Client, TaskState, VideoTask
from seedance_async.config import parse_provider_config
from seedance_async.core._errors import (
    ModelNotServed,
    QuotaExhausted,
    UnknownStatus,
)
from seedance_async.policy import is_retryable_failure, refusal_fails_over
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    DurationModel,
    Faults,
    Limits,
    ManualClock,
    Quirks,
    Simulator,
)
from seedance_async.spec import task_hash

PRO = "doubao-seedance-1-0-pro-250528"
AIML_PRO = "bytedance/seedance-1-0-pro-t2v"
QUEUE, RUN = 10, 60


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()  # 2026-01-01T00:00:00Z


@pytest.fixture
async def world(
    clock: ManualClock, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Simulator, Client]]:
    """A simulator with the quirks and faults of ``request.param`` and a Client on it."""
    options: dict[str, Any] = request.param
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            Simulator(
                clock=clock,
                time_scale=1.0,
                durations=DurationModel.fixed(queue=QUEUE, run=RUN),
                limits=Limits.unlimited(),
                **options,
            )
        )
        configs = parse_provider_config(sim.provider_config()).values()
        client = await stack.enter_async_context(Client(configs, env={KEY_ENV: DEFAULT_KEY}))
        yield sim, client


def _task(model: str = PRO) -> VideoTask:
    return VideoTask(model=model, prompt="a paper boat on a river")


async def _submit(client: Client, alias: str, task: VideoTask) -> str:
    handle, _ = await client.provider(alias).submit(task, spec_hash=task_hash(task))
    return handle.task_id


@pytest.mark.parametrize(
    "world",
    [{"providers": ("ark",), "quirks": {"ark": Quirks(inactive_models=PRO)}}],
    indirect=True,
)
async def test_a_model_the_account_has_not_activated_fails_over(
    world: tuple[Simulator, Client],
) -> None:
    """Ark's ModelNotOpen is ModelNotServed: nothing billed, the next provider may serve it."""
    sim, client = world
    with pytest.raises(ModelNotServed) as info:
        await _submit(client, "ark", _task())
    assert info.value.code == "ModelNotOpen"
    assert refusal_fails_over(info.value)
    assert sim.ledger() == []


@pytest.mark.parametrize(
    "world",
    [{"providers": ("unified",), "quirks": {"unified": Quirks(models={"some-other-model"})}}],
    indirect=True,
)
async def test_a_gateway_without_the_model_fails_over(world: tuple[Simulator, Client]) -> None:
    """new-api's model_not_found is ModelNotServed too."""
    sim, client = world
    with pytest.raises(ModelNotServed) as info:
        await _submit(client, "unified", _task())
    assert info.value.code == "model_not_found"
    assert sim.ledger() == []


@pytest.mark.parametrize(
    "world", [{"providers": ("ark",), "faults": {"ark": Faults(account_quota=1.0)}}], indirect=True
)
async def test_a_monthly_quota_is_not_retried_and_says_when_it_resets(
    world: tuple[Simulator, Client],
) -> None:
    """429 AccountQuotaExceeded: one request, QuotaExhausted with the reset time in UTC."""
    sim, client = world
    with pytest.raises(QuotaExhausted) as info:
        await _submit(client, "ark", _task())
    # "It will reset at 2026-02-01 00:00:00 +0800 CST."
    assert info.value.resets_at == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert not info.value.retryable
    assert refusal_fails_over(info.value)
    assert [r.op for r in sim.requests("ark")] == ["create"]
    assert sim.ledger() == []


@pytest.mark.parametrize(
    "world",
    [
        {
            "providers": ("ark",),
            "faults": {"ark": Faults(unknown_status=1.0, unknown_status_word="paused")},
        }
    ],
    indirect=True,
)
async def test_an_undocumented_status_word_is_an_error_with_the_word_and_id(
    world: tuple[Simulator, Client], clock: ManualClock
) -> None:
    """A poll answering "paused" raises UnknownStatus at once (one GET), never "running"."""
    sim, client = world
    task_id = await _submit(client, "ark", _task())
    clock.advance(QUEUE + RUN)
    with pytest.raises(UnknownStatus) as info:
        await client.provider("ark").status(task_id)
    assert (info.value.word, info.value.task_id) == ("paused", task_id)
    assert [r.op for r in sim.requests("ark")] == ["create", "get"]


@pytest.mark.parametrize(
    "world",
    [
        {
            "providers": ("unified",),
            "quirks": {"unified": Quirks(fail_reason_only=True)},
            "faults": {"unified": Faults(task_failure=1.0)},
        }
    ],
    indirect=True,
)
async def test_moderation_told_only_in_words_is_not_paid_again(
    world: tuple[Simulator, Client], clock: ManualClock
) -> None:
    """A FAILURE whose only reason is fail_reason text is still moderation: no failover."""
    _, client = world
    task_id = await _submit(client, "unified", _task())
    clock.advance(QUEUE + RUN)
    status = await client.provider("unified").status(task_id)
    assert status.state is TaskState.FAILED
    assert status.error_code is None
    assert status.failure == "moderation"
    assert not is_retryable_failure(status)


@pytest.mark.parametrize(
    "world",
    [
        {
            "providers": ("unified",),
            "quirks": {"unified": Quirks(shape="new_api", relative_result_urls=True)},
        }
    ],
    indirect=True,
)
async def test_new_api_envelope_with_relative_links_downloads(
    world: tuple[Simulator, Client], clock: ManualClock, tmp_path: Path
) -> None:
    """new-api's bare-id create, its task record and a relative result_url end in a file."""
    sim, client = world
    task_id = await _submit(client, "unified", _task())
    clock.advance(QUEUE + RUN)
    status = await client.provider("unified").status(task_id)
    assert status.state is TaskState.SUCCEEDED
    assert status.video_url is not None
    assert status.video_url.startswith(sim.base_url("unified").split("/v")[0] + "/files/")
    assert status.effective is not None  # the upstream Ark task it relays
    result = await client.download(status, tmp_path / "v.mp4")
    assert result.path.stat().st_size > 0


@pytest.mark.parametrize(
    "world",
    [
        {
            "providers": ("aimlapi",),
            "quirks": {
                "aimlapi": Quirks(
                    fastapi_errors=True,
                    models={AIML_PRO},
                    status_words={"completed": "succeeded"},
                )
            },
        }
    ],
    indirect=True,
)
async def test_aimlapi_validation_details_and_relayed_words(
    world: tuple[Simulator, Client], clock: ManualClock
) -> None:
    """A FastAPI detail refusing the model fails over; a relayed "succeeded" ends the task."""
    sim, client = world
    with pytest.raises(ModelNotServed) as info:
        await _submit(client, "aimlapi", _task("bytedance/seedance-1-0-lite-t2v"))
    assert info.value.code == "value_error"
    task_id = await _submit(client, "aimlapi", _task(AIML_PRO))
    clock.advance(QUEUE + RUN)
    status = await client.provider("aimlapi").status(task_id)
    assert (status.provider_status, status.state) == ("succeeded", TaskState.SUCCEEDED)
    assert status.video_url
    assert len(sim.ledger()) == 1
