"""Cancel looks before it sends: Ark's cancel request deletes finished tasks' records."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from seedance_async import (
    ApiKey,
    Client,
    InvalidRequest,
    ProviderConfig,
    TaskHandle,
    TaskState,
)
from seedance_async.client import CancelResult
from seedance_async.core import TaskNotCancellable
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers import ProviderAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.testing import FunctionTransport

MODEL = "doubao-seedance-1-0-pro-250528"
REFUSED = {
    "error": {
        "code": "InvalidParameter.TaskStatus",
        "message": "The task cgt-1 cannot be cancelled or deleted in status `running`.",
    }
}


def _config() -> ProviderConfig:
    return ProviderConfig(
        alias="a",
        adapter="ark",
        base_url="https://a.example/api/v3",
        api_key=ApiKey("sk-test"),
        poll_rps=1000,
    )


def _handle() -> TaskHandle:
    return TaskHandle(
        provider="a", adapter="ark", model=MODEL, task_id="cgt-1", created_at=0.0, spec_hash="h"
    )


async def _cancel(
    handler: Callable[[HttpRequest], HttpResponse], *, delete: bool = False
) -> tuple[CancelResult, list[str]]:
    seen: list[str] = []

    def logged(request: HttpRequest) -> HttpResponse:
        seen.append(request.method)
        return handler(request)

    def factory(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(logged)

    async with Client([_config()], transport_factory=factory) as client:
        return await client.cancel(_handle(), delete=delete), seen


def _task(status: str) -> HttpResponse:
    return HttpResponse.from_json(200, {"id": "cgt-1", "model": MODEL, "status": status})


def test_ark_refusal_for_the_task_state_is_typed() -> None:
    """Ark's "cannot be cancelled in status" answer is TaskNotCancellable; other 400s are not."""
    adapter = ArkAdapter()
    with pytest.raises(TaskNotCancellable) as refused:
        adapter.parse_cancel(HttpResponse.from_json(400, REFUSED), "cgt-1")
    assert refused.value.code == "InvalidParameter.TaskStatus"
    assert "cgt-1" in str(refused.value)
    with pytest.raises(TaskNotCancellable):
        adapter.parse_cancel(HttpResponse.from_json(409, {"error": {"message": "busy"}}), "cgt-1")
    other = {"error": {"code": "InvalidParameter", "message": "bad id"}}
    with pytest.raises(InvalidRequest) as invalid:
        adapter.parse_cancel(HttpResponse.from_json(400, other), "cgt-1")
    assert not isinstance(invalid.value, TaskNotCancellable)


@pytest.mark.parametrize("state", ["succeeded", "failed", "expired", "cancelled"])
async def test_a_finished_task_gets_no_cancel_request(state: str) -> None:
    """Only the status is read; the DELETE that would remove the record is never sent."""
    result, seen = await _cancel(lambda _: _task(state))
    assert not result
    assert result.outcome == "already_final"
    assert result.state is TaskState(state)
    assert seen == ["GET"]


async def test_delete_true_removes_a_finished_task() -> None:
    """Deleting is a choice the caller spells out."""

    def handler(request: HttpRequest) -> HttpResponse:
        return _task("succeeded") if request.method == "GET" else HttpResponse.from_json(200, {})

    result, seen = await _cancel(handler, delete=True)
    assert result
    assert result.outcome == "deleted"
    assert seen == ["GET", "DELETE"]


async def test_a_task_that_starts_running_meanwhile_is_reported_not_cancellable() -> None:
    """Queued when read, running when the cancel arrives: a typed result, not an exception."""
    answers = iter([_task("queued"), HttpResponse.from_json(400, REFUSED), _task("running")])
    result, seen = await _cancel(lambda _: next(answers))
    assert not result
    assert result.outcome == "not_cancellable"
    assert result.state is TaskState.RUNNING
    assert seen == ["GET", "DELETE", "GET"]


async def test_a_refusal_after_a_lost_answer_that_did_cancel_counts_as_cancelled() -> None:
    """The first DELETE cancelled, its answer was lost, the retry was refused: cancelled."""
    answers = iter(
        [
            _task("queued"),
            HttpResponse.from_json(503, {"error": {"message": "try again"}}),
            HttpResponse.from_json(400, REFUSED),
            _task("cancelled"),
        ]
    )
    result, seen = await _cancel(lambda _: next(answers))
    assert result
    assert result.outcome == "cancelled"
    assert seen == ["GET", "DELETE", "DELETE", "GET"]
