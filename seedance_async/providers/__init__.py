"""Provider adapters: the protocol, the registry and the built-in adapters.

Adapters are found by name. Built-in names: ``ark`` (Volcengine Ark, BytePlus ModelArk and
Ark pass-through gateways), ``aimlapi``, ``unified`` and ``gptproto``. A third-party package
adds one without touching this package by declaring an entry point::

    [project.entry-points."seedance_async.providers"]
    myprovider = "mypkg.adapter:MyAdapter"

where ``MyAdapter(**options)`` returns an object implementing :class:`ProviderAdapter`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from seedance_async.core._errors import ConfigurationError
from seedance_async.providers._answers import resolve_result_urls
from seedance_async.providers._protocol import (
    AdapterFactory,
    ListQuery,
    ProviderAdapter,
    ProviderCapabilities,
    SubmitAccepted,
    TaskPage,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterFactory",
    "ListQuery",
    "ProviderAdapter",
    "ProviderCapabilities",
    "SubmitAccepted",
    "TaskPage",
    "available_adapters",
    "create_adapter",
    "register_adapter",
    "resolve_result_urls",
]

ENTRY_POINT_GROUP = "seedance_async.providers"

# Built-ins are imported lazily by dotted path so that importing the package stays cheap.
_BUILTIN: dict[str, str] = {
    "ark": "seedance_async.providers.ark:ArkAdapter",
    "aimlapi": "seedance_async.providers.aimlapi:AimlApiAdapter",
    "unified": "seedance_async.providers.unified:UnifiedAdapter",
    "gptproto": "seedance_async.providers.gptproto:GptProtoAdapter",
}
_registered: dict[str, Callable[..., ProviderAdapter]] = {}


def register_adapter(name: str, factory: Callable[..., ProviderAdapter]) -> None:
    """Register an adapter factory under ``name`` at run time (tests, plugins in-process).

    Raises:
        ConfigurationError: the name is already taken by a built-in adapter.
    """
    if name in _BUILTIN:
        raise ConfigurationError(f"adapter name {name!r} is taken by a built-in adapter")
    _registered[name] = factory


def _load(target: str) -> Callable[..., ProviderAdapter]:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[..., ProviderAdapter] = getattr(module, attr)
    return factory


def _entry_point_factory(name: str) -> Callable[..., ProviderAdapter] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded: Callable[..., ProviderAdapter] = ep.load()
            return loaded
    return None


def available_adapters() -> list[str]:
    """Names of every adapter that :func:`create_adapter` can build, sorted."""
    names = set(_BUILTIN) | set(_registered)
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def create_adapter(adapter_name: str, /, **options: Any) -> ProviderAdapter:
    """Build the adapter called ``adapter_name`` with its options.

    Looks in the built-ins, then run-time registrations, then the
    ``seedance_async.providers`` entry points. ``adapter_name`` is positional-only, so an
    adapter option that is itself called ``name`` (the alias it reports) passes through.

    Raises:
        ConfigurationError: no adapter has that name, an option is unknown, or the object
            built does not implement :class:`ProviderAdapter`.
    """
    if adapter_name in _BUILTIN:
        factory: Callable[..., ProviderAdapter] | None = _load(_BUILTIN[adapter_name])
    else:
        factory = _registered.get(adapter_name) or _entry_point_factory(adapter_name)
    if factory is None:
        known = ", ".join(available_adapters())
        raise ConfigurationError(f"unknown provider adapter {adapter_name!r} (known: {known})")
    try:
        adapter = factory(**options)
    except TypeError as exc:
        raise ConfigurationError(f"adapter {adapter_name!r} rejected its options: {exc}") from exc
    if not isinstance(adapter, ProviderAdapter):
        raise ConfigurationError(f"adapter {adapter_name!r} does not implement ProviderAdapter")
    return adapter
