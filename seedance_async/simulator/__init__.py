"""Simulated Seedance providers: real ``aiohttp.web`` servers on loopback.

Each provider speaks its documented wire protocol (the providers' public API pages): ``ark``
(Volcengine Ark / BytePlus), ``chainhub`` and ``gateway000`` (Ark pass-through gateways),
``aimlapi`` (AI/ML API), ``unified`` (``/v2/videos/generations`` gateways) and ``gptproto``.
Tasks go queued → running → succeeded/failed on a clock you can inject, results are tiny
but valid MP4/PNG files behind signed, expiring URLs on a separate CDN port, and faults
(429s, 5xx, resets, answers dropped after a paid create, slow or broken answers, failed
tasks, quota and moderation refusals, unknown status words) fire with seeded, reproducible
probabilities. Every created task lands in a billing ledger, so a test can prove that a
client never paid twice.

Three more knobs: :class:`Quirks` (fixed traits of a deployment: served models, inactive
models, other status words or envelopes, relative result links, lagging statuses),
:class:`CdnFaults` (503s and truncated downloads; ``Range`` is always honoured) and
:class:`Callbacks` (Ark's ``callback_url`` notices, posted to loopback receivers only, with
drop/duplicate/delay/reorder/forgery faults; every attempt is in
:meth:`Simulator.callback_deliveries` and ``GET /_sim/callbacks``; on a manual clock, move
it and ``await sim.flush_callbacks()``).

Quick start::

    from seedance_async.simulator import Faults, ManualClock, Simulator

    async with Simulator(seed=1, faults=Faults(rate_limit=0.1)) as sim:
        url = sim.base_url("ark")          # http://127.0.0.1:PORT/api/v3
        ...                                # drive a client with key "sk-simulator"
        assert not sim.duplicates()        # no task was created twice

As a pytest fixture (pytest-asyncio)::

    import pytest
    from seedance_async.simulator import DurationModel, ManualClock, Simulator

    @pytest.fixture
    def clock() -> ManualClock:
        return ManualClock()

    @pytest.fixture
    async def sim(clock: ManualClock):
        async with Simulator(clock=clock, durations=DurationModel.fixed(queue=2, run=30),
                             time_scale=1.0) as s:
            yield s

    async def test_runs(sim: Simulator, clock: ManualClock) -> None:
        ...                                # submit, then clock.advance(40) and poll

Seedance 2.x: Ark-format surfaces take ``video_url``/``audio_url`` references, ``tools``,
``priority``, ``safety_identifier``, drafts and finals made from them; AI/ML API its flat
``image_urls``/``video_urls``/``audio_urls``. Reference clips on loopback (host them with
:meth:`Simulator.host_media`, built by :func:`reference_video`/:func:`reference_audio`)
are fetched and read like the providers do, and a clip that breaks a rule gets their 400.
The ledger tells drafts, finals and plain videos apart (:data:`Charge`) with the tokens
each billed.

Every provider app also answers ``GET /_sim/ledger``, ``/_sim/stats``, ``/_sim/requests``,
``/_sim/tasks`` (task timelines) and ``/_sim/callbacks`` (no auth) for out-of-process
checks; the CDN answers ``/_sim/requests``.
From a shell: ``seedance-async simulate --write-config sim.toml``.
"""

from __future__ import annotations

from seedance_async.simulator._callbacks import (
    CallbackDelivery,
    CallbackFault,
    CallbackOutcome,
    Callbacks,
    is_loopback,
)
from seedance_async.simulator._cdn import CdnFaults, CdnRequest, TruncateMode
from seedance_async.simulator._clock import ManualClock
from seedance_async.simulator._faults import Faults, parse_faults
from seedance_async.simulator._ledger import (
    Charge,
    LedgerEntry,
    RequestRecord,
    find_duplicates,
    key_fingerprint,
    max_in_window,
)
from seedance_async.simulator._lifecycle import DurationModel
from seedance_async.simulator._limits import DEFAULT_LIMITS, Limits
from seedance_async.simulator._media import reference_audio, reference_video
from seedance_async.simulator._quirks import Quirks, Shape
from seedance_async.simulator._server import (
    ALL_PROVIDERS,
    DEFAULT_CALLBACKS,
    DEFAULT_KEY,
    KEY_ENV,
    Simulator,
)

__all__ = [
    "ALL_PROVIDERS",
    "DEFAULT_CALLBACKS",
    "DEFAULT_KEY",
    "DEFAULT_LIMITS",
    "KEY_ENV",
    "CallbackDelivery",
    "CallbackFault",
    "CallbackOutcome",
    "Callbacks",
    "CdnFaults",
    "CdnRequest",
    "Charge",
    "DurationModel",
    "Faults",
    "LedgerEntry",
    "Limits",
    "ManualClock",
    "Quirks",
    "RequestRecord",
    "Shape",
    "Simulator",
    "TruncateMode",
    "find_duplicates",
    "is_loopback",
    "key_fingerprint",
    "max_in_window",
    "parse_faults",
    "reference_audio",
    "reference_video",
]
