"""Shared constants and helpers of the simulator tests."""

from __future__ import annotations

from typing import Any

import aiohttp
from multidict import CIMultiDict

from seedance_async.simulator import DurationModel, Limits, ManualClock, Simulator

KEY = "sk-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PRO = "doubao-seedance-1-0-pro-250528"
ARK_TASKS = "/contents/generations/tasks"
QUEUE_S = 10.0
RUN_S = 60.0


def ark_body(text: str = "a cat on a skateboard", **options: Any) -> dict[str, Any]:
    """An Ark create body for the 1.0 pro model."""
    return {"model": PRO, "content": [{"type": "text", "text": text}], **options}


def make_sim(clock: ManualClock, **kwargs: Any) -> Simulator:
    """A simulator on the manual clock: every task queues 10 s and runs 60 s, no limits."""
    options: dict[str, Any] = {
        "api_key": KEY,
        "clock": clock,
        "time_scale": 1.0,
        "durations": DurationModel.fixed(QUEUE_S, RUN_S),
        "limits": Limits.unlimited(),
    }
    options.update(kwargs)
    return Simulator(**options)


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: Any = None,
) -> tuple[int, Any, CIMultiDict[str]]:
    """(status, decoded JSON body, headers) of one request, authenticated by default.

    The headers are looked up case-insensitively, as HTTP names are: aiohttp 3.14 spells
    some names its own way (``X-Request-ID``), whatever the server sent."""
    async with http.request(
        method, url, json=json, headers=AUTH if headers is None else headers, params=params
    ) as response:
        body = await response.json(content_type=None)
        return response.status, body, CIMultiDict(response.headers)
