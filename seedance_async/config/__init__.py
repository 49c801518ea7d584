"""Provider aliases: endpoints, keys, limits and timeouts, built in or read from TOML."""

from __future__ import annotations

from seedance_async.config._provider import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    load_provider_config,
    parse_provider_config,
    resolve_providers,
)
from seedance_async.config._timeouts import Timeouts

__all__ = [
    "BUILTIN_PROVIDERS",
    "ProviderConfig",
    "Timeouts",
    "load_provider_config",
    "parse_provider_config",
    "resolve_providers",
]
