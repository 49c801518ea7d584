"""Regressions of submit reconciliation: concurrent lost answers, and resumed intents."""

from __future__ import annotations

import json

import anyio
import pytest

from seedance_async.client._client import Client
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import OutcomeUnknown
from seedance_async.core._secrets import ApiKey
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.journal._protocol import JournalEntry, NullJournal
from seedance_async.policy._retry import RetryPolicy
from seedance_async.providers import ProviderAdapter
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._task import VideoTask
from seedance_async.testing import FakeClock, FunctionTransport
from seedance_async.tracker._tracker import Tracker
from tests.fakes import FakeArk

MODEL = "doubao-seedance-1-0-pro-250528"


async def test_two_lost_submits_do_not_wait_for_each_other() -> None:
    """Each ambiguous submit's own token ends when its answer is lost (regression: deadlock).

    Before, each reconciliation waited for the other submit "still in flight" until the
    submit timeout (125 s here): both are sent again within moments now.
    """
    ark = FakeArk(anyio.current_time)
    both_sent = anyio.Event()
    lost = 0

    async def handler(request: HttpRequest) -> HttpResponse:
        nonlocal lost
        if request.method == "POST" and lost < 2:
            lost += 1
            if lost == 2:
                both_sent.set()
            await both_sent.wait()  # both submits are on the wire, then both answers vanish
            raise OutcomeUnknown("connection reset", provider="a")
        return ark(request)

    def transport(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(handler)

    config = ProviderConfig(
        alias="a",
        adapter="ark",
        base_url="https://a.example/api/v3",
        api_key=ApiKey("sk-test-a"),
        submit_rpm=6000,
        poll_rps=1000,
        reconcile_settle=0.01,
    )
    retry = RetryPolicy(base_delay=0.01, max_delay=0.01)
    async with Client([config], transport_factory=transport, retry=retry, seed=1) as client:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for n in range(2):
                    tg.start_soon(client.submit, VideoTask(model=MODEL, prompt=f"lost {n}"))
    assert lost == 2
    assert len(ark.created) == 2  # listing proved nothing was created; each was sent again


class _Recorder(NullJournal):
    """Keeps the intents; signals the first remote id."""

    def __init__(self) -> None:
        self.intents: list[VideoTask] = []
        self.submitted = anyio.Event()

    async def record_intent(
        self, key: str, task: VideoTask, provider: str, attempt: int, at: float
    ) -> None:
        self.intents.append(task)

    async def record_submitted(self, key: str, handle: TaskHandle) -> None:
        self.submitted.set()


async def test_the_intent_records_the_correlation_nonce_that_is_sent() -> None:
    """A resumed run reconciles an intent by the nonce it was sent with (regression).

    Before, the intent held the spec without the nonce, so on resume any lost task of the same
    model in the time window matched, and one line could adopt another line's video.
    """
    clock = FakeClock()
    ark = FakeArk(clock.now)

    def transport(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(ark)

    config = ProviderConfig(
        alias="a", adapter="ark", base_url="https://a.example/api/v3", api_key=ApiKey("sk-test-a")
    )
    journal = _Recorder()
    async with Client([config], clock=clock, transport_factory=transport, seed=1) as client:
        with anyio.CancelScope() as scope:
            async with Tracker(client, journal=journal) as tracker:
                await tracker.submit(VideoTask(model=MODEL, prompt="nonce"))
                await journal.submitted.wait()
                scope.cancel()  # the rest of the task's life does not matter here
    (intent,) = journal.intents
    sent = json.loads(str(ark.created[0]["body"]))
    assert intent.execution_expires_after is not None
    assert intent.execution_expires_after == sent["execution_expires_after"]


@pytest.mark.parametrize(
    ("resend", "age", "outcome", "created"),
    [(True, 5.0, "succeeded", 1), (False, 5.0, "unknown", 0), (True, 3600.0, "unknown", 0)],
)
async def test_a_resumed_intent_that_created_nothing_is_sent_again(
    resend: bool, age: float, outcome: str, created: int
) -> None:
    """After a crash between intent and answer, listing that finds nothing means: send again.

    Regression: resume ended such tasks ``unknown`` although ``resubmit_when_not_listed``
    (on by default) says a lost submit that the list proves absent is sent again. An intent
    older than the list may reach still ends ``unknown``.
    """
    clock = FakeClock()
    ark = FakeArk(clock.now)

    def transport(_: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(ark)

    config = ProviderConfig(
        alias="a",
        adapter="ark",
        base_url="https://a.example/api/v3",
        api_key=ApiKey("sk-test-a"),
        resubmit_when_not_listed=resend,
    )
    spec = VideoTask(model=MODEL, prompt="killed mid-submit")
    entry = JournalEntry(key="k", task=spec, provider="a", intent_at=clock.wall() - age)
    client = Client([config], clock=clock, transport_factory=transport, seed=1)
    async with client, Tracker(client) as tracker:
        (tracked,) = await tracker.resume([entry])
        for _ in range(1000):  # virtual time: reconcile settle, then queue and run times
            if tracked.done:
                break
            await clock.run_for(1.0)
        result = await tracked.result()
    assert result.outcome.value == outcome, result.reason
    assert len(ark.created) == created
