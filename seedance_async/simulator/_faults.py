"""Fault injection: what can go wrong with a request, and the seeded dice that decide it.

Every API request rolls the same fixed set of dice from the provider's own seeded
``random.Random``, whatever the probabilities are, so a run is exactly reproducible for a
seed and changing one probability does not shift the draws of the others. The faults added
later (``account_quota``, ``input_moderation``, ``unknown_status``) roll a second fixed set
from a second generator, so the first set, and with it every run recorded before they
existed, stays the same. When several faults come up on one request only the most severe
fires, in this order::

    reset > rate_limit > account_quota > server_error > (the request is handled) >
    drop_after_create > malformed_json > truncated

``input_moderation`` refuses a create inside the handler (after its body was validated) and
``unknown_status`` rewrites a task answer's status word; ``slow`` and ``latency`` only delay
and combine with anything.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

__all__ = ["FaultPlan", "Faults", "parse_faults", "parse_spec", "quota_reset_text", "roll"]

if TYPE_CHECKING:
    from attrs import AttrsInstance

_C = TypeVar("_C", bound="AttrsInstance")


def _probability(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Faults:
    """What goes wrong on one provider, and how often. All probabilities are per request.

    Attributes:
        rate_limit: answer 429 with the provider's rate-limit body (nothing is created).
        retry_after: seconds to send in ``Retry-After`` with injected 429s; None sends none.
        retry_after_http_date: send ``Retry-After`` as an HTTP date instead of seconds.
        server_error: answer ``server_error_status`` with the provider's error body;
            a create that gets it created nothing.
        server_error_status: the 5xx status used by ``server_error``.
        reset: abort the connection (TCP reset) before the request is processed: nothing
            is created, the client sees a disconnect.
        drop_after_create: creates only: the task is created and billed, then the
            connection is closed without an answer (the case that double-bills naive
            clients: no provider offers an idempotency key for creates).
        slow: delay the answer by ``slow_seconds`` (wall time) after the request was
            processed, to trigger client read timeouts; a create is already made.
        slow_seconds: the delay for ``slow``.
        malformed_json: answer the handler's status with a body that is not valid JSON
            (a create is already made).
        truncated: announce a ``Content-Length`` larger than the body sent, then close (a
            create is already made).
        task_failure: probability that a create makes a task that ends ``failed`` instead
            of ``succeeded`` when its run time is over (decided when it is created).
        failure_code: the provider error code of such failures; None uses the provider's
            typical one (Ark ``OutputVideoSensitiveContentDetected.PolicyViolation``).
        failure_message: the message of such failures; None uses a typical one.
        latency: seconds (wall time) added before every API answer.
        rate_limit_code: the code injected 429s carry on Ark and its pass-through
            gateways; None is ``RateLimitExceeded.EndpointRPMExceeded``. Ark overloads 429
            with codes that need different handling: ``SetLimitExceeded`` (a spend cap the
            user set: waiting does not help), ``QuotaExceeded`` (free quota used up, or too
            many queued tasks), ``ServerOverloaded``, ``RequestBurstTooFast``,
            ``InflightBatchsizeExceeded``, ``ModelAccountRpmRateLimitExceeded``... Known
            codes get Ark's wording; other codes a generic message.
        account_quota: answer Ark's 429 ``AccountQuotaExceeded``, a monthly usage quota
            whose message names the date it resets ("It will reset at 2026-02-01
            00:00:00 +0800 CST."): unlike ``rate_limit`` it will not clear for days, so a
            client must not retry it on a short backoff. Nothing is created. Providers
            without that code answer their own "out of quota" refusal (AI/ML API: 403 out
            of credits; GPTProto and the unified gateway relay Ark's code).
        account_quota_reset: Unix time the quota message says it resets; None is the
            start of the next calendar month in UTC+8 (Beijing time) after the request.
        input_moderation: creates only: refuse a valid body as input moderation does, with
            the provider's synchronous refusal (Ark 400
            ``InputTextSensitiveContentDetected``; GPTProto 400 ``content_policy_violation``,
            which its docs list as a 503 whose "actual status code is 400"). Nothing is
            created or billed.
        unknown_status: a task answer (get, list) reports ``unknown_status_word`` instead
            of the task's status, a word outside the provider's vocabulary; a client must
            treat it as "not finished yet" and keep polling.
        unknown_status_word: the word ``unknown_status`` sends.
    """

    rate_limit: float = attrs.field(default=0.0, validator=_probability)
    retry_after: float | None = attrs.field(default=None, validator=_non_negative)
    retry_after_http_date: bool = False
    server_error: float = attrs.field(default=0.0, validator=_probability)
    server_error_status: int = attrs.field(default=500)
    reset: float = attrs.field(default=0.0, validator=_probability)
    drop_after_create: float = attrs.field(default=0.0, validator=_probability)
    slow: float = attrs.field(default=0.0, validator=_probability)
    slow_seconds: float = attrs.field(default=30.0, validator=_non_negative)
    malformed_json: float = attrs.field(default=0.0, validator=_probability)
    truncated: float = attrs.field(default=0.0, validator=_probability)
    task_failure: float = attrs.field(default=0.0, validator=_probability)
    failure_code: str | None = None
    failure_message: str | None = None
    latency: float = attrs.field(default=0.0, validator=_non_negative)
    rate_limit_code: str | None = None
    account_quota: float = attrs.field(default=0.0, validator=_probability)
    account_quota_reset: float | None = attrs.field(default=None, validator=_non_negative)
    input_moderation: float = attrs.field(default=0.0, validator=_probability)
    unknown_status: float = attrs.field(default=0.0, validator=_probability)
    unknown_status_word: str = "unknown"

    @server_error_status.validator
    def _check_status(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not 500 <= value <= 599:
            raise ValueError(f"server_error_status must be a 5xx status, got {value}")


_BEIJING = timezone(timedelta(hours=8))


def quota_reset_text(faults: Faults, now: float) -> str:
    """When an ``account_quota`` fault says the quota resets, as Ark writes it
    (``2026-02-01 00:00:00 +0800 CST``)."""
    if faults.account_quota_reset is not None:
        when = datetime.fromtimestamp(faults.account_quota_reset, UTC).astimezone(_BEIJING)
    else:
        local = datetime.fromtimestamp(now, UTC).astimezone(_BEIJING)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        when = datetime(year, month, 1, tzinfo=_BEIJING)
    return when.strftime("%Y-%m-%d %H:%M:%S +0800 CST")


@attrs.frozen(kw_only=True)
class FaultPlan:
    """The faults that fire on one request (at most one of the answer-replacing kinds).

    ``task_failure`` only matters when the request creates a task.
    """

    reset: bool = False
    rate_limit: bool = False
    server_error: bool = False
    drop_after_create: bool = False
    malformed_json: bool = False
    truncated: bool = False
    slow: bool = False
    task_failure: bool = False
    account_quota: bool = False
    input_moderation: bool = False
    unknown_status: bool = False


NO_FAULTS = FaultPlan()


def roll(faults: Faults, rng: random.Random, more: random.Random | None = None) -> FaultPlan:
    """Roll the dice for one request.

    Always draws the same number of values from ``rng`` and from ``more`` (see the module
    docstring); without ``more`` the later faults never fire.
    """
    d_quota = d_moderation = d_unknown = 1.0
    if more is not None:
        d_quota, d_moderation, d_unknown = more.random(), more.random(), more.random()
    r = rng.random
    d_reset, d_rate, d_5xx, d_drop, d_bad, d_trunc, d_slow, d_fail = (
        r(),
        r(),
        r(),
        r(),
        r(),
        r(),
        r(),
        r(),
    )
    if not (
        faults.reset
        or faults.rate_limit
        or faults.server_error
        or faults.drop_after_create
        or faults.malformed_json
        or faults.truncated
        or faults.slow
        or faults.task_failure
        or faults.account_quota
        or faults.input_moderation
        or faults.unknown_status
    ):
        return NO_FAULTS
    slow = d_slow < faults.slow
    if d_reset < faults.reset:
        return FaultPlan(reset=True)
    if d_rate < faults.rate_limit:
        return FaultPlan(rate_limit=True, slow=slow)
    if d_quota < faults.account_quota:
        return FaultPlan(account_quota=True, slow=slow)
    if d_5xx < faults.server_error:
        return FaultPlan(server_error=True, slow=slow)
    return FaultPlan(
        drop_after_create=d_drop < faults.drop_after_create,
        malformed_json=d_bad < faults.malformed_json,
        truncated=d_trunc < faults.truncated,
        slow=slow,
        task_failure=d_fail < faults.task_failure,
        input_moderation=d_moderation < faults.input_moderation,
        unknown_status=d_unknown < faults.unknown_status,
    )


_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_BOOL_WORDS |= {"0": False, "false": False, "no": False, "off": False}


def _convert(cls: type, name: str, raw: str) -> Any:
    field = attrs.fields_dict(cls)[name]
    kind = str(field.type)
    text = raw.strip()
    if "None" in kind and text.lower() in ("none", "null", ""):
        return None
    if "bool" in kind:
        if text.lower() not in _BOOL_WORDS:
            raise ValueError(f"{name}: expected true/false, got {raw!r}")
        return _BOOL_WORDS[text.lower()]
    if "int" in kind:
        return int(text)
    if "float" in kind:
        return float(text)
    return text


def parse_faults(spec: str, base: Faults | None = None) -> Faults:
    """Read ``"rate_limit=0.2,retry_after=1,drop_after_create=0.01"`` into :class:`Faults`.

    Args:
        spec: comma-separated ``name=value`` pairs; names are :class:`Faults` fields.
        base: values for the fields the spec does not name.

    Raises:
        ValueError: an unknown name, a value of the wrong type, or an invalid probability.
    """
    return parse_spec(Faults, spec, base or Faults())


def parse_spec(cls: type[_C], spec: str, base: _C) -> _C:
    """Read comma-separated ``name=value`` pairs into a copy of ``base``, an attrs instance.

    Fields typed ``bool``, ``int``, ``float``, ``str`` and their ``| None`` forms are
    understood; anything else is passed on as text (a ``Literal`` field's validator then
    checks it).

    Raises:
        ValueError: an unknown name, a value of the wrong type, or one a validator refuses.
    """
    values: dict[str, Any] = {}
    known: Mapping[str, Any] = attrs.fields_dict(cls)
    for part in spec.split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"fault {part.strip()!r} must look like name=value")
        if name not in known:
            raise ValueError(f"unknown fault {name!r} (known: {', '.join(sorted(known))})")
        values[name] = _convert(cls, name, raw)
    # attrs.evolve, spelled out: mypy's attrs plugin cannot follow evolve() on a type variable.
    return cls(**{**attrs.asdict(base, recurse=False), **values})
