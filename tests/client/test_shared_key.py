"""Aliases that use one key on one host share one budget, with the strictest limits."""

from __future__ import annotations

import logging

import pytest

from seedance_async import ApiKey, Client, ProviderConfig
from seedance_async.limits import Budget

KEY = "sk-CANARY-shared-key"


def _config(
    alias: str, host: str, *, submit_rpm: float, max_running: int, poll_rps: float = 10.0
) -> ProviderConfig:
    return ProviderConfig(
        alias=alias,
        adapter="ark",
        base_url=f"https://{host}/api/v3",
        key_env="K",
        submit_rpm=submit_rpm,
        max_running=max_running,
        poll_rps=poll_rps,
    )


async def test_one_key_on_one_host_shares_the_strictest_budget_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each limit is the strictest any alias sets; other keys and hosts keep their own."""
    configs = [
        _config("fast", "ark.example", submit_rpm=600, max_running=10, poll_rps=20),
        _config("slow", "ark.example", submit_rpm=300, max_running=3, poll_rps=40),
        _config("other-host", "gw.example", submit_rpm=600, max_running=10),
        ProviderConfig(
            alias="other-key",
            adapter="ark",
            base_url="https://ark.example/api/v3",
            api_key=ApiKey("sk-another-key"),
        ),
    ]
    with caplog.at_level(logging.WARNING, logger="seedance_async"):
        async with Client(configs, env={"K": KEY}) as client:
            fast, slow = client.provider("fast").budget, client.provider("slow").budget
            assert fast is slow
            assert isinstance(fast, Budget)
            assert fast.slots.capacity == 3
            assert fast.submit_bucket.rate == pytest.approx(300 / 60 * 0.98)
            assert fast.poll_bucket.rate == pytest.approx(20 * 0.98)
            assert client.provider("other-host").budget is not fast
            assert client.provider("other-key").budget is not fast
            other = client.provider("other-host").budget
            assert isinstance(other, Budget)
            assert other.slots.capacity == 10
    shared = [r for r in caplog.records if "same key" in r.getMessage()]
    assert len(shared) == 1
    message = shared[0].getMessage()
    assert "fast, slow" in message
    assert "ark.example" in message
    assert KEY not in message
    assert ApiKey(KEY).fingerprint not in message
