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

import functools
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from cattrs.gen import make_dict_structure_fn, override

from seedance_async.config._catalog import BUILTIN_ADAPTERS, adapter_catalog, alias_defaults_for
from seedance_async.config._timeouts import Timeouts
from seedance_async.core._errors import ConfigurationError, Violation
from seedance_async.core._secrets import ApiKey
from seedance_async.core._strict_data import strict_converter, structure_strictly
from seedance_async.spec._catalog import MODELS, model_capabilities, normalise_model_id

__all__ = [
    "BUILTIN_PROVIDERS",
    "ProviderConfig",
    "load_provider_config",
    "parse_provider_config",
    "resolve_providers",
]


def _from_adapter_defaults(name: str) -> Any:
    """An attrs default read from the adapter's ``[alias_defaults]`` (catalog data)."""
    return attrs.Factory(
        lambda self: getattr(alias_defaults_for(self.adapter), name), takes_self=True
    )


def _models(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _check_positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"provider {instance.alias!r}: {attribute.name} must be a positive number, got {value!r}"
        )


def _check_not_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(
            f"provider {instance.alias!r}: {attribute.name} must be a number >= 0, got {value!r}"
        )


def _check_running(instance: Any, _: attrs.Attribute[int], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"provider {instance.alias!r}: max_running must be a positive integer, got {value!r}"
        )


def _check_adapter(instance: Any, _: attrs.Attribute[str], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"provider {instance.alias!r}: adapter must be a non-empty name")


def _check_base_url(instance: Any, _: attrs.Attribute[str], value: Any) -> None:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ConfigurationError(
            f"provider {instance.alias!r}: base_url must be an http(s) URL, got {value!r}"
        )


def _check_models(instance: Any, _: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
    # A misspelt family would silently keep every task of that model away from the alias.
    unknown = [m for m in value or () if model_capabilities(m) is None]
    if unknown:
        known = ", ".join(m.family for m in MODELS)
        raise ConfigurationError(
            f"provider {instance.alias!r}: models names no known model family: "
            f"{', '.join(unknown)} (known: {known}; ids of other models need no entry)"
        )


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
        models: the model families (or ids in any provider's spelling) this alias serves;
            None means any model. Default: the adapter's catalog list (``[alias_defaults]``
            of ``catalog/<adapter>.toml``). See :meth:`serves`.
        submit_rpm: paid creates per minute for this key (default: the adapter's catalog).
        poll_rps: status/list calls per second for this key (default: the adapter's catalog).
        max_running: tasks of this key generating at once (queued ones wait client-side;
            default: the adapter's catalog).
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

    Raises:
        ConfigurationError: a value out of its range (the message names the field).
    """

    alias: str
    adapter: str = attrs.field(validator=_check_adapter)
    base_url: str = attrs.field(validator=_check_base_url)
    key_env: str | None = None
    api_key: ApiKey | None = attrs.field(default=None, repr=False)
    options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    models: tuple[str, ...] | None = attrs.field(
        default=_from_adapter_defaults("models"), converter=_models, validator=_check_models
    )
    submit_rpm: float = attrs.field(
        default=_from_adapter_defaults("submit_rpm"), validator=_check_positive
    )
    poll_rps: float = attrs.field(
        default=_from_adapter_defaults("poll_rps"), validator=_check_positive
    )
    max_running: int = attrs.field(
        default=_from_adapter_defaults("max_running"), validator=_check_running
    )
    weight: float = attrs.field(default=1.0, validator=_check_positive)
    paid_5xx_safe: bool = False
    resubmit_when_not_listed: bool = True
    correlation_nonce: bool = True
    reconcile_settle: float = attrs.field(default=3.0, validator=_check_not_negative)
    rate_headroom: float = attrs.field(default=0.02)
    timeouts: Timeouts = attrs.field(factory=Timeouts)

    @rate_headroom.validator
    def _check_headroom(self, _: attrs.Attribute[float], value: float) -> None:
        if not 0.0 <= value <= 0.5:
            raise ConfigurationError(
                f"provider {self.alias!r}: rate_headroom must be within [0, 0.5], got {value!r}"
            )

    def serves(self, model: str) -> bool:
        """True when this alias offers ``model`` (any provider's spelling of the id).

        A model id that no catalog family matches (an ``ep-…`` endpoint, a newer model) is
        served by every alias: the provider is the judge, and a new model is never blocked.
        Pure: no I/O, no key.
        """
        if self.models is None or model_capabilities(model) is None:
            return True
        family = normalise_model_id(model)
        return any(normalise_model_id(m) == family for m in self.models)

    def model_violations(self, model: str) -> list[Violation]:
        """``[]`` when this alias serves ``model``, else the one violation that says so."""
        if self.serves(model):
            return []
        served = ", ".join(self.models or ())
        return [
            Violation(
                field="model",
                rule=f"provider {self.alias} does not serve this model (it serves {served}; "
                "set `models` on the alias if it does)",
                value=model,
            )
        ]

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


@functools.cache
def _converter() -> Any:
    converter = strict_converter()
    # A key is never read from a file: api_key is code-only, so a file that names it is
    # refused like any unknown field.
    converter.register_structure_hook(
        ProviderConfig,
        make_dict_structure_fn(
            ProviderConfig,
            converter,
            _cattrs_forbid_extra_keys=True,
            api_key=override(omit=True),
        ),
    )
    return converter


def _merged(base: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """``table`` laid over ``base`` key by key; ``options`` and ``timeouts`` one level deeper."""
    out = dict(base)
    for key, value in table.items():
        below = out.get(key)
        if (
            key in ("options", "timeouts")
            and isinstance(below, Mapping)
            and isinstance(value, Mapping)
        ):
            out[key] = {**below, **value}
        else:
            out[key] = value
    return out


def _structure_alias(
    alias: str, table: Mapping[str, Any], *, base: Mapping[str, Any], where: str
) -> ProviderConfig:
    path = f"$.providers.{alias}"
    named = sorted({"alias", "api_key"} & set(table))
    if named:
        raise ConfigurationError(
            f"{where}: extra fields found ({', '.join(named)}) @ {path} "
            "(the alias is the table's name; keys come from key_env or code)"
        )
    raw = _merged(base, table)
    raw["alias"] = alias
    if isinstance(raw.get("base_url"), str):
        raw["base_url"] = raw["base_url"].rstrip("/")
    return structure_strictly(_converter(), raw, ProviderConfig, where=where, path=path)


@functools.cache
def _builtin_tables() -> dict[str, tuple[str, Mapping[str, Any]]]:
    """Built-in alias tables as written, with the file each comes from."""
    out: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for adapter in BUILTIN_ADAPTERS:
        catalog = adapter_catalog(adapter)
        assert catalog is not None  # shipped with the package
        for alias, table in catalog.aliases.items():
            out[alias] = (f"catalog/{adapter}.toml", table)
    return out


@functools.cache
def _builtins() -> dict[str, ProviderConfig]:
    return {
        alias: _structure_alias(alias, table, base={}, where=where)
        for alias, (where, table) in _builtin_tables().items()
    }


class _BuiltinProviders(Mapping[str, ProviderConfig]):
    """The built-in aliases, read from the catalog files on first use."""

    def __getitem__(self, alias: str) -> ProviderConfig:
        return _builtins()[alias]

    def __iter__(self) -> Iterator[str]:
        return iter(_builtins())

    def __len__(self) -> int:
        return len(_builtins())

    def __repr__(self) -> str:
        return repr(_builtins())


BUILTIN_PROVIDERS: Mapping[str, ProviderConfig] = _BuiltinProviders()
"""Ready aliases with known hosts (``ark``, ``byteplus``, ``chainhub``, ``aimlapi``,
``gptproto``), from ``catalog/<adapter>.toml``. Conservative budgets: Ark lite limits
(300/min, 5 running) apply until you raise them for pro models."""


def load_provider_config(path: str | os.PathLike[str]) -> dict[str, ProviderConfig]:
    """Read provider aliases from a TOML file (``[providers.<alias>]`` tables).

    An alias that matches a built-in one inherits its values and overrides them key by key
    (``options`` and ``timeouts`` too); any alias gets its adapter's catalog defaults
    (models served, budget) for the keys it leaves out. Other top-level tables are ignored.

    Raises:
        ConfigurationError: unreadable file, bad TOML, unknown keys or bad values; the
            message names the file and the field path (``@ $.providers.ark.max_running``).
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
    builtin = _builtin_tables()
    out: dict[str, ProviderConfig] = {}
    for alias, table in providers.items():
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{where}: expected a table @ $.providers.{alias}")
        base = builtin[alias][1] if alias in builtin else {}
        out[alias] = _structure_alias(alias, table, base=base, where=where)
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
