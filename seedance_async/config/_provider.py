"""Provider configuration: an alias names an adapter, a base URL, a key source and budgets.

Several aliases may share an adapter (two Ark keys, two gateways): that is what failover
setups are made of. Configurations are built in code or loaded from TOML::

    [providers.ark-main]
    adapter = "ark"
    base_url = "https://ark.cn-beijing.volces.com/api/v3"
    key_env = "ARK_API_KEY"
    submit_rpm = 600        # creates per minute (Ark pro default)
    max_running = 10        # concurrently running tasks per key
    poll_rps = 10           # status calls per second
    rate_headroom = 0.02    # send at 98 % of those limits (jitter margin)
    [providers.ark-main.options]
    tasks_path = "/contents/generations/tasks"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import ConfigurationError
from seedance_async.core._secrets import ApiKey

__all__ = [
    "BUILTIN_PROVIDERS",
    "ProviderConfig",
    "load_provider_config",
    "parse_provider_config",
    "resolve_providers",
]


@attrs.frozen(kw_only=True)
class ProviderConfig:
    """Everything needed to talk to one provider alias.

    Attributes:
        alias: the name used in failover lists, handles and journals (``ark-main``).
        adapter: registry name of the adapter (``ark``, ``aimlapi``, ``unified``, ``gptproto``
            or a plugin).
        base_url: API root; adapter paths are appended to it.
        key_env: environment variable holding the key (read when the client opens).
        api_key: a key given in code; wins over ``key_env``. Never logged or stored.
        options: adapter options (``tasks_path``, ``auth_scheme``...).
        submit_rpm: paid creates per minute for this key.
        poll_rps: status/list calls per second for this key.
        max_running: tasks of this key generating at once (queued ones wait client-side).
        weight: share of new tasks in weighted failover.
        paid_5xx_safe: the provider documents that a 5xx on submit created nothing, so such
            a submit may be retried; False (never assume it) unless documented.
        resubmit_when_not_listed: after an ambiguous submit, when the list endpoint shows no
            matching task (after a short settle), send again. Turn off to end such tasks
            ``unknown`` instead (for providers whose list may lag behind creates).
        correlation_nonce: when the spec leaves ``execution_expires_after`` unset, send the
            default minus a random 0-3599 s so reconciliation can recognise the task in a
            list (see :meth:`ProviderClient.with_correlation_nonce`).
        reconcile_settle: seconds over which reconciliation lists again before it concludes
            that an ambiguous submit created nothing (a new task may take a moment to be listed).
        rate_headroom: the fraction of ``submit_rpm`` and ``poll_rps`` left unused (0 to
            0.5, default 0.02). Requests go evenly spaced at the remaining rate; the headroom
            absorbs network jitter between us and the provider's meter, without which
            requests sent exactly at a sliding-window limit arrive one too many per window
            now and then.
        timeouts: per-phase timeouts.
    """

    alias: str
    adapter: str
    base_url: str
    key_env: str | None = None
    api_key: ApiKey | None = attrs.field(default=None, repr=False)
    options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    submit_rpm: float = 300.0
    poll_rps: float = 10.0
    max_running: int = 5
    weight: float = 1.0
    paid_5xx_safe: bool = False
    resubmit_when_not_listed: bool = True
    correlation_nonce: bool = True
    reconcile_settle: float = 3.0
    rate_headroom: float = attrs.field(default=0.02)
    timeouts: Timeouts = attrs.field(factory=Timeouts)

    @rate_headroom.validator
    def _check_headroom(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0.0 <= value <= 0.5:
            raise ConfigurationError(
                f"provider {self.alias!r}: rate_headroom must be within [0, 0.5], got {value!r}"
            )

    def submit_rate(self) -> float:
        """Creates per second the client sends at: ``submit_rpm`` less the headroom."""
        return self.submit_rpm / 60.0 * (1.0 - self.rate_headroom)

    def poll_rate(self) -> float:
        """Status/list/cancel calls per second the client sends at, less the headroom."""
        return self.poll_rps * (1.0 - self.rate_headroom)

    def resolve_key(self, env: Mapping[str, str] | None = None) -> ApiKey:
        """The API key from ``api_key`` or the environment variable ``key_env``.

        Raises:
            ConfigurationError: neither gives a key (the message names the variable).
        """
        if self.api_key is not None:
            return self.api_key
        environ = os.environ if env is None else env
        if self.key_env and environ.get(self.key_env, "").strip():
            return ApiKey(environ[self.key_env])
        where = f"environment variable {self.key_env}" if self.key_env else "api_key"
        raise ConfigurationError(f"provider {self.alias!r}: no API key (set {where})")


BUILTIN_PROVIDERS: Mapping[str, ProviderConfig] = {
    c.alias: c
    for c in (
        ProviderConfig(
            alias="ark",
            adapter="ark",
            base_url="https://ark.cn-beijing.volces.com/api/v3",
            key_env="ARK_API_KEY",
            submit_rpm=300,
            max_running=5,
        ),
        ProviderConfig(
            alias="byteplus",
            adapter="ark",
            base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
            key_env="BYTEPLUS_API_KEY",
            submit_rpm=300,
            max_running=5,
        ),
        ProviderConfig(
            alias="chainhub",
            adapter="ark",
            base_url="https://api.chainhub.tech",
            key_env="CHAINHUB_API_KEY",
            # List and cancel are not documented for ChainHub (providers.md §3.2).
            options={
                "tasks_path": "/volc/v1/contents/generations/tasks",
                "can_list": False,
                "can_cancel": False,
                "name": "chainhub",
            },
        ),
        ProviderConfig(
            alias="aimlapi",
            adapter="aimlapi",
            base_url="https://api.aimlapi.com",
            key_env="AIML_API_KEY",
        ),
        ProviderConfig(
            alias="gptproto",
            adapter="gptproto",
            base_url="https://gptproto.com/api/v3",
            key_env="GPTPROTO_API_KEY",
        ),
    )
}
"""Ready aliases with known hosts. Conservative budgets: Ark lite limits (300/min, 5
running) apply until you raise them for pro models."""

_FLOAT_KEYS = ("submit_rpm", "poll_rps", "weight", "reconcile_settle")
_ALLOWED_KEYS = frozenset(
    {
        "adapter",
        "base_url",
        "key_env",
        "options",
        "timeouts",
        "max_running",
        "paid_5xx_safe",
        "resubmit_when_not_listed",
        "correlation_nonce",
        "rate_headroom",
        *_FLOAT_KEYS,
    }
)


def _provider_from_table(alias: str, table: Mapping[str, Any], where: str) -> ProviderConfig:
    def fail(msg: str) -> ConfigurationError:
        return ConfigurationError(f"{where}: providers.{alias}: {msg}")

    extra = set(table) - _ALLOWED_KEYS
    if extra:
        raise fail(f"unknown keys {sorted(extra)} (allowed: {sorted(_ALLOWED_KEYS)})")
    base = BUILTIN_PROVIDERS.get(alias)
    adapter = table.get("adapter", base.adapter if base else None)
    base_url = table.get("base_url", base.base_url if base else None)
    if not isinstance(adapter, str) or not adapter:
        raise fail("'adapter' must be a non-empty string")
    if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
        raise fail("'base_url' must be an http(s) URL")
    kwargs: dict[str, Any] = {"alias": alias, "adapter": adapter, "base_url": base_url.rstrip("/")}
    if base is not None:
        kwargs |= {
            "key_env": base.key_env,
            "options": dict(base.options),
            "submit_rpm": base.submit_rpm,
            "max_running": base.max_running,
            "poll_rps": base.poll_rps,
        }
    if "key_env" in table:
        if not isinstance(table["key_env"], str):
            raise fail("'key_env' must be a string")
        kwargs["key_env"] = table["key_env"]
    if "options" in table:
        if not isinstance(table["options"], Mapping):
            raise fail("'options' must be a table")
        kwargs["options"] = dict(table["options"])
    for key in _FLOAT_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise fail(f"{key!r} must be a positive number")
            kwargs[key] = float(value)
    if "rate_headroom" in table:
        value = table["rate_headroom"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 0.5:
            raise fail("'rate_headroom' must be a number from 0 to 0.5")
        kwargs["rate_headroom"] = float(value)
    if "max_running" in table:
        value = table["max_running"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise fail("'max_running' must be a positive integer")
        kwargs["max_running"] = value
    for flag in ("paid_5xx_safe", "resubmit_when_not_listed", "correlation_nonce"):
        if flag in table:
            if not isinstance(table[flag], bool):
                raise fail(f"{flag!r} must be true or false")
            kwargs[flag] = table[flag]
    if "timeouts" in table:
        t = table["timeouts"]
        if not isinstance(t, Mapping) or set(t) - {"connect", "read", "total"}:
            raise fail("'timeouts' must be a table with connect, read, total")
        try:
            kwargs["timeouts"] = Timeouts(**{k: float(v) for k, v in t.items()})
        except (TypeError, ValueError) as exc:
            raise fail(f"bad timeouts: {exc}") from None
    return ProviderConfig(**kwargs)


def load_provider_config(path: str | os.PathLike[str]) -> dict[str, ProviderConfig]:
    """Read provider aliases from a TOML file (``[providers.<alias>]`` tables).

    An alias that matches a built-in one inherits its values; keys given in the file win.

    Raises:
        ConfigurationError: unreadable file, bad TOML, unknown keys or bad values.
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot read provider config ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{where}: not valid TOML ({exc})") from None
    return parse_provider_config(data, where=where)


def parse_provider_config(
    data: Mapping[str, Any], *, where: str = "provider config"
) -> dict[str, ProviderConfig]:
    """Provider aliases from an already-parsed mapping (``{"providers": {alias: {...}}}``).

    This is what :func:`load_provider_config` reads from TOML, and what
    ``Simulator.provider_config()`` returns.

    Raises:
        ConfigurationError: no providers, unknown keys or bad values.
    """
    providers = data.get("providers")
    if not isinstance(providers, Mapping) or not providers:
        raise ConfigurationError(f"{where}: expected at least one [providers.<alias>] table")
    out: dict[str, ProviderConfig] = {}
    for alias, table in providers.items():
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{where}: providers.{alias} must be a table")
        out[alias] = _provider_from_table(alias, table, where)
    return out


def resolve_providers(
    aliases: list[str], configured: Mapping[str, ProviderConfig] | None = None
) -> list[ProviderConfig]:
    """The configs for ``aliases``, from ``configured`` first and the built-ins second.

    Raises:
        ConfigurationError: an alias is in neither (the message lists the known ones).
    """
    known = {**BUILTIN_PROVIDERS, **(configured or {})}
    out = []
    for alias in aliases:
        if alias not in known:
            raise ConfigurationError(
                f"unknown provider alias {alias!r} (known: {', '.join(sorted(known))})"
            )
        out.append(known[alias])
    return out
