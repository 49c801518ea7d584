"""The providers' facts, shipped as data: ``catalog/<adapter>.toml``, one file per adapter.

Each file has ``[wire]`` (what the wire format can express: seed range, ratios, durations,
prompt limit), ``[alias_defaults]`` (the models an alias of this adapter serves and its
default budget, applied to every alias of that adapter, a user's included), the built-in
``[providers.<alias>]`` tables (hosts, key variables, options), and adapter-specific tables
(AI/ML API's ``[routes]``). Files are read on first use and checked by the strict converter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

from seedance_async.core._errors import ConfigurationError
from seedance_async.core._strict_data import read_catalog, strict_converter, structure_strictly
from seedance_async.spec._vocab import Ratio

__all__ = [
    "BUILTIN_ADAPTERS",
    "AdapterCatalog",
    "AliasDefaults",
    "WireFacts",
    "adapter_catalog",
    "alias_defaults_for",
    "wire_facts",
]

BUILTIN_ADAPTERS = ("ark", "aimlapi", "unified", "gptproto")
"""The adapters with a catalog file, in the order their built-in aliases are listed."""


@attrs.frozen(kw_only=True)
class WireFacts:
    """What one provider's wire format can express, as its documentation says.

    Attributes:
        seed_min / seed_max: the accepted seed range.
        ratios: the ratio values the format knows.
        durations: the accepted durations; None leaves each model's own range.
        max_prompt_chars: where the provider cuts prompts, or None.
        fields_not_sent: optional spec fields the format has no place for.
        undocumented_fields: fields a pass-through may or may not forward (refused by
            default, since a dropped field is dropped silently).
    """

    seed_min: int
    seed_max: int
    ratios: frozenset[Ratio]
    durations: frozenset[int] | None = None
    max_prompt_chars: int | None = None
    fields_not_sent: frozenset[str] = frozenset()
    undocumented_fields: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class AliasDefaults:
    """What every alias of one adapter has unless it says otherwise.

    Attributes:
        models: the model families (or ids) served; None means any model.
        submit_rpm / max_running / poll_rps: the default budget of one key.
    """

    models: tuple[str, ...] | None
    submit_rpm: float
    max_running: int
    poll_rps: float


@attrs.frozen(kw_only=True)
class _AdapterFile:
    wire: WireFacts
    alias_defaults: AliasDefaults
    providers: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    routes: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AdapterCatalog:
    """One adapter's catalog file, loaded and checked.

    Attributes:
        adapter: the adapter name (and file name).
        wire: what the wire format can express.
        alias_defaults: what its aliases have unless they say otherwise.
        aliases: the built-in alias tables, as written (``ProviderConfig`` fields).
        routes: adapter-specific per-family tables (AI/ML API), as written.
    """

    adapter: str
    wire: WireFacts
    alias_defaults: AliasDefaults
    aliases: Mapping[str, Mapping[str, Any]]
    routes: Mapping[str, Mapping[str, Any]]


@functools.cache
def adapter_catalog(adapter: str) -> AdapterCatalog | None:
    """The catalog of a built-in adapter (read once), or None for any other adapter.

    Raises:
        ConfigurationError: the shipped file is missing or malformed (a broken install).
    """
    if adapter not in BUILTIN_ADAPTERS:
        return None
    name = f"{adapter}.toml"
    parsed = structure_strictly(
        strict_converter(), read_catalog(name), _AdapterFile, where=f"catalog/{name}"
    )
    return AdapterCatalog(
        adapter=adapter,
        wire=parsed.wire,
        alias_defaults=parsed.alias_defaults,
        aliases=parsed.providers,
        routes=parsed.routes,
    )


def wire_facts(adapter: str) -> WireFacts:
    """The wire facts of a built-in adapter.

    Raises:
        ConfigurationError: ``adapter`` has no catalog file.
    """
    catalog = adapter_catalog(adapter)
    if catalog is None:
        raise ConfigurationError(f"no catalog for adapter {adapter!r}")
    return catalog.wire


def alias_defaults_for(adapter: str) -> AliasDefaults:
    """What an alias of ``adapter`` has unless it says otherwise.

    Adapters without a catalog file (plugins) serve any model, with Ark's default budget:
    the most conservative documented one.
    """
    catalog = adapter_catalog(adapter)
    if catalog is not None:
        return catalog.alias_defaults
    ark = adapter_catalog("ark")
    assert ark is not None  # shipped with the package
    return attrs.evolve(ark.alias_defaults, models=None)
