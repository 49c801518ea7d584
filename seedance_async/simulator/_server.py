"""The :class:`Simulator`: every simulated provider and the CDN, each on its own loopback port.

The simulator also owns one ``aiohttp.ClientSession`` (created by :meth:`Simulator.start`,
closed by :meth:`Simulator.close`) through which providers post callbacks, and a background
loop that pumps callbacks while any are pending (see ``_callbacks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import attrs
from aiohttp import web

from seedance_async.simulator._aimlapi import AimlApiSim
from seedance_async.simulator._ark import FLAVORS, ArkSim
from seedance_async.simulator._callbacks import CallbackDelivery, Callbacks
from seedance_async.simulator._cdn import Cdn, CdnFaults, CdnRequest
from seedance_async.simulator._faults import Faults
from seedance_async.simulator._gptproto import GptProtoSim
from seedance_async.simulator._ledger import LedgerEntry, RequestRecord, find_duplicates
from seedance_async.simulator._lifecycle import DurationModel
from seedance_async.simulator._limits import DEFAULT_LIMITS, Limits
from seedance_async.simulator._provider import ProviderSim
from seedance_async.simulator._quirks import Quirks
from seedance_async.simulator._unified import UnifiedSim

__all__ = [
    "ALL_PROVIDERS",
    "CALLBACK_TICK",
    "DEFAULT_CALLBACKS",
    "DEFAULT_KEY",
    "KEY_ENV",
    "Simulator",
    "config_toml",
]

ALL_PROVIDERS = ("ark", "chainhub", "gateway000", "aimlapi", "unified", "gptproto")
"""Every provider the simulator speaks, in start order."""
DEFAULT_KEY = "sk-simulator"
KEY_ENV = "SEEDANCE_SIM_KEY"

DEFAULT_CALLBACKS: Mapping[str, Callbacks] = {
    # Ark posts callbacks, also for tasks created through the gateways that hand it
    # callback_url; GPTProto does not document them, the others document none at all.
    "ark": Callbacks(),
    "chainhub": Callbacks(),
    "gateway000": Callbacks(),
    "gptproto": Callbacks(enabled=False),
    "aimlapi": Callbacks(enabled=False),
    "unified": Callbacks(enabled=False),
}
"""Callback configuration used for a provider when the simulator is not given any."""
_CALLBACK_PROVIDERS = frozenset({"ark", "chainhub", "gateway000", "gptproto"})
CALLBACK_TICK = 0.02
"""Wall seconds between two pumps of the callback loop while callbacks are pending."""

# Client-side adapter and options for each simulated provider (seedance_async.providers).
_ADAPTERS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    "ark": ("ark", {"tasks_path": "/contents/generations/tasks"}),
    "chainhub": (
        "ark",
        {
            "tasks_path": "/volc/v1/contents/generations/tasks",
            "name": "chainhub",
            "can_list": True,
            "can_cancel": True,
        },
    ),
    "gateway000": (
        "ark",
        {
            "tasks_path": "/v1/video/generations",
            "name": "gateway000",
            "can_list": False,
            "can_cancel": False,
        },
    ),
    "aimlapi": ("aimlapi", {}),
    "unified": ("unified", {}),
    "gptproto": ("gptproto", {}),
}

_T = TypeVar("_T")


def _pick(value: _T | Mapping[str, _T] | None, provider: str, default: _T) -> _T:
    if value is None:
        return default
    if isinstance(value, Mapping):
        found: _T = value.get(provider, default)
        return found
    return value


class Simulator:
    """Simulated Seedance providers on loopback, for tests, demos and benchmarks.

    Use it as an async context manager; each provider (and the CDN) gets its own
    ``aiohttp.web`` server on ``host`` with an ephemeral port unless ``ports`` says otherwise.

    Args:
        providers: which providers to run (names from :data:`ALL_PROVIDERS`).
        api_key: the key every provider accepts, or a mapping provider → key or keys
            (providers missing from the mapping accept ``"sk-simulator"``).
        seed: seeds every random draw (task ids, durations, faults, seeds, result URLs'
            signing secret): same seed and same request order give the same run.
        time_scale: factor from provider seconds to clock seconds for queue and run times
            and ``execution_expires_after`` (0.001 makes a 60 s generation take 60 ms).
        durations: :class:`DurationModel` for all providers or per provider.
        limits: :class:`Limits` for all providers or per provider; defaults to
            :data:`DEFAULT_LIMITS` (Ark's documented budgets on Ark-family providers).
        faults: :class:`Faults` for all providers or per provider; none by default.
        clock: a ``now()`` returning Unix seconds; defaults to :func:`time.time`. Inject
            one (e.g. :class:`ManualClock`) to step lifecycles without sleeping.
        host: interface to bind and to put in URLs.
        ports: fixed ports per provider name, plus ``"cdn"``; missing ones are ephemeral.
        url_ttl: seconds a result URL stays valid (Ark: 24 h).
        unified_wrapped: shorthand for ``Quirks(shape="wrapped")`` on ``unified`` (when its
            quirks name no other shape).
        quirks: :class:`Quirks` for all providers or per provider; none by default.
        callbacks: :class:`Callbacks` per provider, or one for every provider that can post
            callbacks (Ark, its pass-through gateways and GPTProto; the others keep theirs
            off); defaults to :data:`DEFAULT_CALLBACKS` (on for Ark and its pass-through
            gateways).
        cdn_faults: :class:`CdnFaults` for result downloads; none by default.

    Raises:
        ValueError: an unknown provider name, a non-positive ``time_scale``, a quirk a
            provider does not support, or callbacks enabled where none are documented.
    """

    def __init__(
        self,
        providers: Iterable[str] = ALL_PROVIDERS,
        *,
        api_key: str | Mapping[str, str | Sequence[str]] = DEFAULT_KEY,
        seed: int = 0,
        time_scale: float = 0.01,
        durations: DurationModel | Mapping[str, DurationModel] | None = None,
        limits: Limits | Mapping[str, Limits] | None = None,
        faults: Faults | Mapping[str, Faults] | None = None,
        clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        url_ttl: float = 86_400.0,
        unified_wrapped: bool = False,
        quirks: Quirks | Mapping[str, Quirks] | None = None,
        callbacks: Callbacks | Mapping[str, Callbacks] | None = None,
        cdn_faults: CdnFaults | None = None,
    ) -> None:
        names = tuple(dict.fromkeys(providers))
        unknown = [n for n in names if n not in ALL_PROVIDERS]
        if unknown or not names:
            raise ValueError(f"unknown providers {unknown} (known: {', '.join(ALL_PROVIDERS)})")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.host = host
        self._ports = dict(ports or {})
        self._clock = clock or time.time
        secret = hashlib.sha256(f"seedance-sim-cdn:{seed}".encode()).digest()
        self._cdn = Cdn(
            clock=self._clock, secret=secret, url_ttl=url_ttl, faults=cdn_faults, seed=seed
        )
        self._sims: dict[str, ProviderSim] = {}
        self._session: aiohttp.ClientSession | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._pending: asyncio.Event | None = None
        for name in names:
            keys = api_key if isinstance(api_key, str) else api_key.get(name, DEFAULT_KEY)
            quirk = _pick(quirks, name, Quirks())
            if name == "unified" and unified_wrapped and quirk.shape == "default":
                quirk = attrs.evolve(quirk, shape="wrapped")
            common: dict[str, Any] = {
                "keys": [keys] if isinstance(keys, str) else list(keys),
                "seed": seed,
                "time_scale": time_scale,
                "durations": _pick(durations, name, DurationModel()),
                "limits": _pick(limits, name, DEFAULT_LIMITS[name]),
                "faults": _pick(faults, name, Faults()),
                "clock": self._clock,
                "cdn": self._cdn,
                "quirks": quirk,
                "callbacks": (
                    DEFAULT_CALLBACKS[name]
                    if isinstance(callbacks, Callbacks) and name not in _CALLBACK_PROVIDERS
                    else _pick(callbacks, name, DEFAULT_CALLBACKS[name])
                ),
                "on_callback_pending": self._wake_pump,
            }
            sim: ProviderSim
            if name in FLAVORS:
                sim = ArkSim(flavor=FLAVORS[name], **common)
            elif name == "gptproto":
                sim = GptProtoSim(**common)
            elif name == "aimlapi":
                sim = AimlApiSim(**common)
            else:
                sim = UnifiedSim(**common)
            self._sims[name] = sim
        self._runners: list[web.AppRunner] = []
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind and start every server (the CDN first, so result URLs know its address).

        Raises:
            OSError: a fixed port is taken.
        """
        if self._started:
            return self
        self._started = True
        try:
            self._cdn.base_url = await self._serve(self._cdn.app, self._ports.get("cdn", 0))
            for name, sim in self._sims.items():
                sim.bind_loop()
                sim.root_url = await self._serve(sim.app, self._ports.get(name, 0))
            # No environment proxies or credentials: callbacks go straight to loopback.
            self._session = aiohttp.ClientSession(trust_env=False)
            for sim in self._sims.values():
                sim.dispatcher.bind(self._session)
                sim.session = self._session
            self._pending = asyncio.Event()
            self._pump_task = asyncio.get_running_loop().create_task(self._pump_loop())
        except BaseException:
            await self.close()
            raise
        return self

    def _wake_pump(self) -> None:
        if self._pending is not None:
            self._pending.set()

    async def _pump_loop(self) -> None:
        # Callbacks need a pulse: task states change with the clock, not with requests. The
        # loop pumps every CALLBACK_TICK while any notice is pending and sleeps otherwise.
        assert self._pending is not None
        while True:
            busy = False
            for sim in self._sims.values():
                sim.pump_callbacks(self._clock())
                busy = busy or sim.dispatcher.busy
            if busy:
                await asyncio.sleep(CALLBACK_TICK)
            else:
                self._pending.clear()
                await self._pending.wait()

    async def _serve(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.host, port, backlog=4096)
        await site.start()
        bound = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{bound}"

    async def close(self) -> None:
        """Stop every server; paused (``slow``) answers are cut short, callbacks in flight
        are abandoned."""
        for sim in self._sims.values():
            sim.begin_close()
        pump, self._pump_task = self._pump_task, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for sim in self._sims.values():
            await sim.dispatcher.close()
            sim.dispatcher.bind(None)
            sim.session = None
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- addresses ------------------------------------------------------------------------

    @property
    def providers(self) -> tuple[str, ...]:
        """The simulated providers, in start order."""
        return tuple(self._sims)

    def _sim(self, provider: str) -> ProviderSim:
        try:
            return self._sims[provider]
        except KeyError:
            raise KeyError(
                f"provider {provider!r} is not simulated here (have: {', '.join(self._sims)})"
            ) from None

    def base_url(self, provider: str) -> str:
        """The base URL a client configures for ``provider`` (``http://127.0.0.1:P/api/v3`` for Ark).

        Raises:
            KeyError: the provider is not simulated.
            RuntimeError: the simulator was not started.
        """
        sim = self._sim(provider)
        if not sim.root_url:
            raise RuntimeError("the simulator is not started (use `async with Simulator(...)`)")
        return sim.base_url

    @property
    def cdn_url(self) -> str:
        """Root URL of the result host (another port, hence another origin, than any API)."""
        return self._cdn.base_url

    # -- run-time control -----------------------------------------------------------------

    def set_faults(self, provider: str | None, faults: Faults) -> None:
        """Replace a provider's faults (None: every provider's) from the next request on.

        Raises:
            KeyError: the provider is not simulated.
        """
        for sim in self._sims.values() if provider is None else [self._sim(provider)]:
            sim.faults = faults

    def faults(self, provider: str) -> Faults:
        """The faults ``provider`` currently injects."""
        return self._sim(provider).faults

    def set_quirks(self, provider: str | None, quirks: Quirks) -> None:
        """Replace a provider's quirks (None: every provider's) from the next request on.

        Raises:
            KeyError: the provider is not simulated.
            ValueError: a provider does not support one of the quirks (nothing changed).
        """
        sims = list(self._sims.values()) if provider is None else [self._sim(provider)]
        previous = [sim.quirks for sim in sims]
        try:
            for sim in sims:
                sim.quirks = quirks
        except ValueError:
            for sim, old in zip(sims, previous, strict=True):
                sim.quirks = old
            raise

    def quirks(self, provider: str) -> Quirks:
        """The quirks ``provider`` currently shows."""
        return self._sim(provider).quirks

    def set_callbacks(self, provider: str | None, callbacks: Callbacks) -> None:
        """Replace how ``provider`` posts callbacks (None: every provider that can) from the
        next pump on: tasks created before keep being announced under the new statuses,
        faults and retry rules, or no longer at all when ``enabled`` is False.

        Raises:
            KeyError: the provider is not simulated.
            ValueError: callbacks enabled on a provider that documents none.
        """
        if provider is None:
            for sim in self._sims.values():
                if sim.posts_callbacks:
                    sim.callbacks = callbacks
        else:
            self._sim(provider).callbacks = callbacks

    def callbacks(self, provider: str) -> Callbacks:
        """How ``provider`` currently posts callbacks."""
        return self._sim(provider).callbacks

    def callback_deliveries(self, provider: str | None = None) -> list[CallbackDelivery]:
        """Every callback delivery attempt (and dropped or refused notice) so far, for one
        provider or all, in the order they finished (per provider)."""
        sims = [self._sim(provider)] if provider is not None else list(self._sims.values())
        return [record for sim in sims for record in sim.dispatcher.records]

    async def flush_callbacks(self) -> None:
        """Deliver every callback due at the clock's current time (status changes so far,
        and re-sends and delayed notices whose time has come) and wait for the receivers'
        answers, including re-sends that fall due meanwhile. With a manual clock, move it
        and flush instead of sleeping."""
        for sim in self._sims.values():
            await sim.flush_callbacks()

    def set_cdn_faults(self, faults: CdnFaults) -> None:
        """Replace the result-download faults from the next download on."""
        self._cdn.faults = faults

    @property
    def cdn_faults(self) -> CdnFaults:
        """The result-download faults in force."""
        return self._cdn.faults

    # -- books ----------------------------------------------------------------------------

    def host_media(self, name: str, data: bytes, content_type: str | None = None) -> str:
        """Serve a reference clip (or image) on the CDN at ``/media/<name>``; its URL.

        The simulated providers fetch loopback references like this one with ranged GETs
        and refuse a request whose clips break the Seedance 2.x rules. Build clips with
        :func:`reference_video` and :func:`reference_audio`. Call after :meth:`start`.
        """
        if not self._cdn.base_url:
            raise RuntimeError("start the simulator before hosting media")
        ctype = content_type or _guess_type(name)
        return self._cdn.host(name, data, ctype)

    def ledger(self, provider: str | None = None) -> list[LedgerEntry]:
        """Every task created (and billed), for one provider or all, in creation order."""
        sims = [self._sim(provider)] if provider is not None else list(self._sims.values())
        entries = [e for sim in sims for e in sim.ledger()]
        entries.sort(key=lambda e: e.created_at)  # stable: per-provider order is kept
        return entries

    def duplicates(self, provider: str | None = None) -> list[list[LedgerEntry]]:
        """Groups of created tasks with identical bodies (same provider and key)."""
        return find_duplicates(self.ledger(provider))

    def stats(self, provider: str) -> dict[str, int]:
        """``provider``'s counters: ``requests``, ``op.*``, ``status.*`` (0 = cut),
        ``fault.*``, ``limit.*``, ``auth.failed``, ``tasks.*``."""
        return self._sim(provider).stats()

    def requests(self, provider: str) -> list[RequestRecord]:
        """Every API request ``provider`` received, in arrival order."""
        return list(self._sim(provider).request_log)

    def cdn_requests(self) -> list[CdnRequest]:
        """Every request the CDN served, with its headers."""
        return list(self._cdn.log)

    # -- client configuration -------------------------------------------------------------

    def provider_config(self, key_env: str = KEY_ENV) -> dict[str, Any]:
        """Provider aliases for the library's TOML config, one per simulated provider.

        Returns:
            ``{"providers": {alias: {"adapter", "base_url", "key_env", "options"}}}``.
        """
        table: dict[str, Any] = {}
        for name in self._sims:
            adapter, options = _ADAPTERS[name]
            table[name] = {
                "adapter": adapter,
                "base_url": self.base_url(name),
                "key_env": key_env,
                "options": dict(options),
            }
        return {"providers": table}

    def config_toml(self, key_env: str = KEY_ENV) -> str:
        """:meth:`provider_config` as TOML text."""
        return config_toml(self.provider_config(key_env))


_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".wav": "audio/wav", ".mp3": "audio/mpeg"}


def _guess_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return _TYPES.get(suffix, "application/octet-stream")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string with ASCII escapes is a valid TOML basic string
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return (
        key
        if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
        else json.dumps(key)
    )


def config_toml(config: Mapping[str, Any]) -> str:
    """Write ``{"providers": {alias: {..., "options": {...}}}}`` as TOML (tomllib only reads)."""
    lines = ["# Simulated Seedance providers, written by `seedance-async simulate`.", ""]
    for alias, table in config["providers"].items():
        lines.append(f"[providers.{_toml_key(alias)}]")
        options: Mapping[str, Any] | None = None
        for key, value in table.items():
            if key == "options":
                options = value
            else:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        if options is not None:
            lines.append(f"[providers.{_toml_key(alias)}.options]")
            lines.extend(
                f"{_toml_key(key)} = {_toml_value(value)}" for key, value in options.items()
            )
        lines.append("")
    return "\n".join(lines)
