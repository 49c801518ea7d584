"""How one deployment of a provider differs from its documented default: :class:`Quirks`.

Faults (``_faults``) are dice rolled per request; quirks are fixed traits of a surface that
real deployments show and that clients trip over: a gateway that serves only some models,
an Ark account that has not activated a model, a status word nobody documented, a reseller
that wraps answers in another envelope, or returns result links relative to its own host.
Every quirk is off by default, so an unconfigured simulator speaks the documented protocol.

Not every provider can show every quirk (only Ark speaks of activation, only the unified
gateway has ``fail_reason``); :func:`check_quirks` refuses a quirk a provider does not
support instead of silently ignoring it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

import attrs

__all__ = ["SHAPES", "Quirks", "Shape", "check_quirks"]

Shape = Literal["default", "wrapped", "new_api"]
"""Envelope of a gateway's answers (see :attr:`Quirks.shape`)."""
SHAPES: tuple[Shape, ...] = get_args(Shape)


def _optional_names(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset({value}) if isinstance(value, str) else frozenset(value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset({value}) if isinstance(value, str) else frozenset(value)


def _word_pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    # A tuple of pairs, not a dict, keeps Quirks hashable like every other frozen config.
    pairs = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(old), str(new)) for old, new in pairs))


def _non_negative(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Quirks:
    """Fixed traits of one provider deployment; all off by default.

    Attributes:
        models: the model ids this surface serves, exactly as clients send them; None
            serves every model the simulator knows. Any other model is refused before
            anything is created (nothing is billed) with the provider's own "unknown
            model" answer: Ark and its pass-through gateways 404
            ``InvalidEndpointOrModel.NotFound``, the unified gateway 400 ``model_not_found``
            (the code of the new-api gateway software these resellers run), AI/ML API 400
            "Body validation error!" on ``model``.
        inactive_models: Ark family only: models that exist but this account has not
            activated; a create answers 404 ``ModelNotOpen`` ("Your account ... has not
            activated the model ..."), which no retry fixes.
        reject_unsupported_params: Ark family only: a create for a Seedance 2.x model that
            carries a parameter 2.x does not take (``frames``, ``camera_fixed``,
            ``service_tier``, ``seed``, and ``draft`` before 2.5) answers 400
            ``InvalidParameter`` naming it. Ark's create-task page says such a parameter is
            "ignored or triggers an error" without saying which; off, the simulator accepts
            them.
        status_words: renames status words on the wire, e.g. ``{"completed": "succeeded"}``
            for an AI/ML API that answers ``succeeded`` (its SDK also expects ``waiting``,
            ``active`` and ``processing``). Applies to every answer that carries a status
            word; not to callbacks, which come from Ark itself. Given as a mapping; stored
            as sorted pairs.
        shape: the envelope of a gateway's answers. Unified gateway: ``wrapped`` puts both
            answers in ``{"code": "success", "message": "", "data": ...}``; ``new_api``
            answers like the new-api software's task API: the create answer is
            ``{"code": "success", "message": "", "data": "<task id>"}`` (the id as a bare
            string) and a get is ``{"code": "success", "message": "", "data": {"task_id",
            "status", "progress", "fail_reason", "result_url", "submit_time",
            "start_time", "finish_time", "data": <the upstream Ark task object>}}``, with
            the video at ``data.result_url``. GPTProto: ``wrapped`` is its older query
            page's ``{"code": 0, "message": "Success", "data": {"task_id", "status":
            "pending"|"completed"|"failed", "video_url", "error"}}``.
        fail_reason_only: unified gateway only: a failed task carries its reason as free
            text in ``fail_reason`` and no code anywhere (``data`` is null), as some
            deployments report moderation failures; a client cannot classify it by code.
        relative_result_urls: result links in answers are relative references
            (``/files/<provider>/<task id>/video.mp4?expires=...&sig=...``) served by the
            provider's own host; a client must resolve them against the API base URL, not
            use them as given. Callbacks (from Ark itself) keep absolute links.
        fastapi_errors: AI/ML API only: body validation failures answer 422 with a
            FastAPI-style ``{"detail": [{"loc": ["body", <field>], "msg", "type"}]}``
            instead of the documented ``{"message", "statusCode", ...}`` body.
        status_lag: provider seconds (scaled by ``time_scale``) the surface lags behind the
            real task: gateways that poll upstream on a timer (new-api every 15 s) report
            the state of that long ago. Callbacks and the ledger are not delayed.
        hide_expiry: tasks that end ``expired`` or ``cancelled`` keep reporting the running
            word forever, as new-api-style gateways do when upstream says a word they do
            not map; only a client-side deadline ends the wait.
    """

    models: frozenset[str] | None = attrs.field(default=None, converter=_optional_names)
    inactive_models: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    reject_unsupported_params: bool = False
    status_words: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_word_pairs)
    shape: Shape = attrs.field(default="default", validator=attrs.validators.in_(SHAPES))
    fail_reason_only: bool = False
    relative_result_urls: bool = False
    fastapi_errors: bool = False
    status_lag: float = attrs.field(default=0.0, validator=_non_negative)
    hide_expiry: bool = False

    def word(self, status: str) -> str:
        """``status`` as this surface spells it on the wire."""
        for old, new in self.status_words:
            if old == status:
                return new
        return status


_EVERYWHERE = frozenset(
    {"models", "status_words", "relative_result_urls", "status_lag", "hide_expiry"}
)


def check_quirks(
    provider: str, quirks: Quirks, supported: frozenset[str], shapes: frozenset[str]
) -> None:
    """Refuse quirks ``provider`` cannot show (so none is silently ignored).

    Args:
        provider: the provider's name, for the message.
        quirks: the configuration.
        supported: quirk fields the provider implements besides the universal ones.
        shapes: the :attr:`Quirks.shape` values it implements besides ``default``.

    Raises:
        ValueError: naming every unsupported quirk.
    """
    default = Quirks()
    problems = [
        name
        for name in attrs.fields_dict(Quirks)
        if name not in _EVERYWHERE | supported and getattr(quirks, name) != getattr(default, name)
    ]
    if "shape" in supported and quirks.shape != "default" and quirks.shape not in shapes:
        problems.append(f"shape={quirks.shape!r}")
    if problems:
        raise ValueError(f"provider {provider!r} does not support quirks: {', '.join(problems)}")
