"""Bodies as Ark posts them, and a receiver on a virtual clock."""

from __future__ import annotations

import json
from typing import Any

from seedance_async.callbacks import CallbackReceiver, ReceiverLimits
from seedance_async.testing import FakeClock

JSON = {"Content-Type": "application/json"}


def ark_body(
    task_id: str = "cgt-1", status: str = "succeeded", *, video_url: str | None = None
) -> dict[str, Any]:
    """Ark's task object, as a GET answers it and a callback carries it."""
    body: dict[str, Any] = {
        "id": task_id,
        "model": "doubao-seedance-1-0-pro-250528",
        "status": status,
        "created_at": 1_700_000_000,
        "updated_at": 1_700_000_060,
    }
    if status == "succeeded":
        body["content"] = {"video_url": video_url or f"https://cdn.example.com/{task_id}.mp4"}
    return body


def encode(body: Any) -> bytes:
    """JSON bytes of ``body``."""
    return json.dumps(body).encode()


def make_receiver(
    clock: FakeClock | None = None, **limits: Any
) -> tuple[CallbackReceiver, FakeClock]:
    """A receiver on a fake clock, with ``limits`` overriding the defaults."""
    clock = clock or FakeClock()
    receiver = CallbackReceiver(
        public_url="https://hooks.example.com/sd", limits=ReceiverLimits(**limits), clock=clock
    )
    return receiver, clock
