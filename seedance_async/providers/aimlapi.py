"""AI/ML API (``https://api.aimlapi.com``): Seedance behind a flat JSON body.

Wire contract: docs/providers.md §4 (statuses §1, models §7, hazards §8.6-§8.7; the §
numbers below are its sections), from AI/ML API's "Seedance 1.0 lite (Image-to-Video)"
page and the OpenAPI schemas of its ByteDance video models.

* ``POST {base}{submit_path}`` with ``{"model", "prompt", "image_url", ...}`` → the poll
  object (``{"id", "status", ...}``) or, on older endpoints, ``{"generation_id"}``
* ``GET {base}{status_path}?generation_id=<id>`` → ``{"id", "status", "video", "error", "meta"}``
* no cancel and no list endpoint (§4.3)

AI/ML API has its own model ids (``bytedance/seedance-1-0-pro-i2v``) and one OpenAPI schema
per model, and the schemas differ: only lite-t2v and 1.5 pro take ``aspect_ratio``, lite-i2v
takes no last frame, 1.0 models take duration 5 or 10, and the camera flag is spelled
``camerafixed`` on 1.0 models but ``camera_fixed`` on 1.5 pro (§4.2 table). :meth:`check`
applies that per-model table so that a field the model's schema lacks is refused up front
instead of being rejected ("Body validation error!") or silently ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from seedance_async.config._catalog import adapter_catalog, wire_facts
from seedance_async.core._errors import (
    ConfigurationError,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    ModelNotServed,
    ProviderError,
    UnknownStatus,
    Violation,
)
from seedance_async.core._strict_data import strict_converter, structure_strictly
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers._answers import state_of
from seedance_async.providers._body import audio_url_of, image_url_of, merge_extra, video_url_of
from seedance_async.providers._checks import check_capabilities
from seedance_async.providers._error_map import classify_error, request_id_of
from seedance_async.providers._failure import failure_category
from seedance_async.providers._json import Node, parse_json
from seedance_async.providers._protocol import (
    ProviderCapabilities,
    SubmitAccepted,
    WithoutCancelOrList,
    bearer,
)
from seedance_async.spec._catalog import model_capabilities, normalise_model_id
from seedance_async.spec._rules import REFERENCE_SCENARIOS, scenario_of
from seedance_async.spec._status import EffectiveParams, TaskState, TaskStatus, Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import OPTIONAL_FIELDS, ImageRole, Ratio, Resolution

__all__ = [
    "AIMLAPI_STATUS_MAP",
    "DEFAULT_SUBMIT_PATH",
    "UNIVERSAL_PATH",
    "AimlApiAdapter",
    "Route",
    "routes",
]

DEFAULT_SUBMIT_PATH = "/v2/generate/video/bytedance/generation"
"""The vendor path of AI/ML API's Seedance pages (§4.2); still works next to the universal one."""
UNIVERSAL_PATH = "/v2/video/generations"
"""AI/ML API's universal video path (§4.2), usable for both submit and status."""

CameraField = Literal["auto", "camera_fixed", "camerafixed"]
SchemaCameraField = Literal["camera_fixed", "camerafixed"]

AIMLAPI_STATUS_MAP: Mapping[str, TaskState] = {
    "queued": TaskState.QUEUED,
    "generating": TaskState.RUNNING,
    "completed": TaskState.SUCCEEDED,
    "error": TaskState.FAILED,
    # The aimlapi-sdk-python poller also treats these as pending (§1).
    "waiting": TaskState.QUEUED,
    "active": TaskState.RUNNING,
    "processing": TaskState.RUNNING,
    # Answers relayed from the upstream (BytePlus) task carry its words: "succeeded" has
    # been seen finishing tasks; "failed" is its pair.
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
}

# pydantic's error types for "the schema has no such field" (v2, v1).
_EXTRA_FIELD_TYPES = frozenset({"extra_forbidden", "value_error.extra"})

# Spec field → body key for the plain fields; ratio is renamed (§8.6).
_PLAIN_FIELDS = (
    ("resolution", "resolution"),
    ("duration", "duration"),
    ("ratio", "aspect_ratio"),
    ("seed", "seed"),
    ("watermark", "watermark"),
)


@attrs.frozen(kw_only=True)
class Route:
    """How one Seedance family is spelled on AI/ML API (``[routes]`` of catalog/aimlapi.toml).

    Attributes:
        text_id: the model id for a task without images.
        image_id: the model id for a task with a first frame (default: ``text_id``).
        ratios: the schema's aspect_ratio values; empty when it has no aspect_ratio.
        durations: the schema's durations.
        last_frame: the schema has ``last_image_url``.
        audio: the schema has ``generate_audio``.
        camera_field: how the schema spells ``camera_fixed``.
        references: the schema has ``image_urls`` / ``video_urls`` / ``audio_urls``
            (Seedance 2.x).
        resolutions: the schema's resolution values; None leaves the model's own.
        watermark: the schema has ``watermark``.
        universal: the model is served on the universal path ``/v2/video/generations``
            only (Seedance 2.x).
        upstream: the schema has the ``provider`` routing field (``bytedance``, ``fal``,
            ``auto``).
    """

    text_id: str
    image_id: str = attrs.field(default=attrs.Factory(lambda s: s.text_id, takes_self=True))
    ratios: frozenset[Ratio]
    durations: frozenset[int]
    last_frame: bool
    audio: bool
    camera_field: SchemaCameraField
    references: bool = False
    resolutions: frozenset[Resolution] | None = None
    watermark: bool = True
    universal: bool = False
    upstream: bool = False


@functools.cache
def routes() -> Mapping[str, Route]:
    """AI/ML API's spelling of each model family, read once from the catalog.

    Raises:
        ConfigurationError: the shipped file is malformed (a broken install).
    """
    catalog = adapter_catalog("aimlapi")
    assert catalog is not None  # shipped with the package
    return structure_strictly(
        strict_converter(),
        dict(catalog.routes),
        dict[str, Route],
        where="catalog/aimlapi.toml",
        path="$.routes",
    )


def _route_of(model: str) -> Route | None:
    return routes().get(normalise_model_id(model))


def _loose_text(node: Node | None) -> str | None:
    """Any scalar (or list of scalars) as text, for error bodies that must never raise."""
    if node is None:
        return None
    value = node.value
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or None
    if isinstance(value, dict):
        return None
    return str(value) or None


def _detail_fields(detail: Node) -> tuple[str | None, str | None, str | None, bool]:
    """(code, message, param, model refused) of a validation ``detail``; never raises.

    ``detail`` is a string, or pydantic's list of ``{"loc", "msg", "type"}``. The code is
    the error type; "the schema has no such field" (``extra_forbidden``) is kept as the
    code only when every item says so, since another provider would refuse the rest too.
    """
    if not isinstance(detail.value, list):
        return None, _loose_text(detail), None, False
    items = [i.value for i in detail.items() if isinstance(i.value, dict)]
    if not items:
        return None, _loose_text(detail), None, False
    lines, types, fields = [], [], []
    model_refused = False
    for item in items:
        loc = item.get("loc")
        parts = [str(p) for p in loc] if isinstance(loc, list) else []
        # FastAPI prefixes the request part ("body", "query"); the field is what follows.
        field = ".".join(parts[1:] if parts[:1] in (["body"], ["query"]) else parts)
        kind = str(item.get("type") or "") or None
        lines.append(f"{field}: {item.get('msg')}" if field else str(item.get("msg")))
        types.append(kind)
        fields.append(field or None)
        model_refused |= field == "model" and kind != "missing"
    extra_only = all(t in _EXTRA_FIELD_TYPES for t in types)
    code = types[0] if extra_only else next((t for t in types if t not in _EXTRA_FIELD_TYPES), None)
    param = fields[0] if extra_only else None
    return code, "; ".join(lines)[:500], param, model_refused


class AimlApiAdapter(WithoutCancelOrList):
    """AI/ML API's two-call video API for the Seedance models.

    Args:
        name: the name reported in statuses and errors.
        submit_path: path of the create call below the base URL; the vendor path of the
            Seedance pages by default, :data:`UNIVERSAL_PATH` is the documented alternative (§4.2).
        status_path: path of the poll call; None means the same path as ``submit_path``
            (both documented pairs use one path for POST and GET, §4.3).
        camera_fixed_field: the body key for ``camera_fixed``. ``"auto"`` follows the
            current AI/ML API schemas: ``camera_fixed`` on 1.5 pro and ids this adapter
            does not know, ``camerafixed`` on the 1.0 models. The spelling drifted: the
            lite image-to-video page (and the 1.0 schemas between 2025-11-12 and
            2025-12-23) show ``camera_fixed`` for 1.0 lite too, so it is an option (§4.2,
            §8.6).
        seed_min / seed_max: the seed range to allow; None takes catalog/aimlapi.toml's.
            AI/ML API publishes none (its schemas say only "integer"); it forwards to
            BytePlus (its ids are Ark ``cgt-`` ids) and documents ``-1`` as the 1.5 pro
            default, so the catalog says Ark's ``[-1, 2^32-1]``. Use ``0`` / ``2147483647``
            for the range every provider accepts.
        upstream_provider: the ``provider`` field sent with Seedance 2.x models:
            ``bytedance`` (the default: ByteDance's own limits and moderation, comparable
            results), ``fal`` or ``auto`` (ByteDance, then fal.ai), or None to send none.

    Raises:
        ConfigurationError: an option has a value outside its documented set.
    """

    def __init__(
        self,
        *,
        name: str = "aimlapi",
        submit_path: str = DEFAULT_SUBMIT_PATH,
        status_path: str | None = None,
        camera_fixed_field: CameraField = "auto",
        seed_min: int | None = None,
        seed_max: int | None = None,
        upstream_provider: str | None = "bytedance",
    ) -> None:
        wire = wire_facts("aimlapi")
        if upstream_provider not in (None, "bytedance", "fal", "auto"):
            raise ConfigurationError(
                "upstream_provider must be 'bytedance', 'fal', 'auto' or None, "
                f"not {upstream_provider!r}"
            )
        self.upstream_provider = upstream_provider
        seed_min = wire.seed_min if seed_min is None else seed_min
        seed_max = wire.seed_max if seed_max is None else seed_max
        if camera_fixed_field not in ("auto", "camera_fixed", "camerafixed"):
            raise ConfigurationError(
                f"camera_fixed_field must be 'auto', 'camera_fixed' or 'camerafixed', "
                f"not {camera_fixed_field!r}"
            )
        if seed_min > seed_max:
            raise ConfigurationError(f"seed_min {seed_min} is above seed_max {seed_max}")
        self.name = name
        self.submit_path = "/" + submit_path.strip("/")
        self.status_path = self.submit_path if status_path is None else "/" + status_path.strip("/")
        self.camera_fixed_field: CameraField = camera_fixed_field
        self.capabilities = ProviderCapabilities(
            # Reference images, videos and audio only on the 2.x schemas (image_urls,
            # video_urls, audio_urls): check() refuses them for the 1.x routes.
            reference_images=True,
            reference_videos=True,
            reference_audios=True,
            frames=False,
            seed_min=seed_min,
            seed_max=seed_max,
            # Durations and ratios depend on the model: check() narrows them per model.
            durations=None,
            ratios=wire.ratios,
            # "frames" stays in fields: frames=False already refuses it, and leaving it
            # out of both would make check_capabilities report it twice.
            fields=frozenset(OPTIONAL_FIELDS) - wire.fields_not_sent,
            can_cancel=False,
            can_list=False,
            body_fields=frozenset(
                {
                    "model",
                    "prompt",
                    "image_url",
                    "last_image_url",
                    "image_urls",
                    "video_urls",
                    "audio_urls",
                    "aspect_ratio",
                    "provider",
                    "generate_audio",
                    "camera_fixed",
                    "camerafixed",
                    *(wire for _, wire in _PLAIN_FIELDS),
                }
            ),
        )

    def __repr__(self) -> str:
        return f"AimlApiAdapter(name={self.name!r}, submit_path={self.submit_path!r})"

    # -- rules and auth -------------------------------------------------------------------

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of what AI/ML API can express, per model where its schemas differ."""
        out = check_capabilities(self.name, self.capabilities, task)
        if not task.prompt.strip():
            # Every schema lists prompt as required, image-to-video ones included (§4.2).
            out.append(
                Violation(field="prompt", rule=f"provider {self.name} requires a prompt", value="")
            )
        route = _route_of(task.model)
        if route is None:
            family = model_capabilities(task.model)
            if family is not None and not task.model.strip().lower().startswith("bytedance/"):
                # A known model AI/ML API does not list (2.5 premium): its id elsewhere
                # would only earn a 404 here.
                out.append(
                    Violation(
                        field="model",
                        rule=f"provider {self.name} does not offer model {family.family}",
                        value=task.model,
                    )
                )
            return out
        model = route.image_id if task.images else route.text_id

        def refuse(field: str, what: str, value: Any) -> None:
            out.append(Violation(field=field, rule=f"provider {self.name} {what}", value=value))

        if task.duration is not None and task.duration not in route.durations:
            allowed = ", ".join(str(d) for d in sorted(route.durations))
            refuse("duration", f"takes duration {allowed} for {model}", task.duration)
        if task.ratio is not None and task.ratio not in route.ratios:
            allowed = ", ".join(sorted(r.value for r in route.ratios))
            what = f"takes aspect_ratio {allowed}" if allowed else "has no aspect_ratio field"
            refuse("ratio", f"{what} for {model}", task.ratio.value)
        if scenario_of(task) == "first_last_frame" and not route.last_frame:
            refuse("images", f"has no last_image_url field for {model}", "last_frame")
        if scenario_of(task) in REFERENCE_SCENARIOS and not route.references:
            refuse("images", f"has no reference fields for {model}", "references")
        if (
            route.resolutions is not None
            and task.resolution is not None
            and task.resolution not in route.resolutions
        ):
            allowed = ", ".join(sorted(r.value for r in route.resolutions))
            refuse("resolution", f"takes resolution {allowed} for {model}", task.resolution.value)
        if task.watermark is not None and not route.watermark:
            refuse("watermark", f"has no watermark field for {model}", task.watermark)
        if route.universal and UNIVERSAL_PATH not in (self.submit_path, self.status_path):
            refuse(
                "model",
                f"serves {model} on {UNIVERSAL_PATH} only: set the options submit_path and "
                f"status_path to {UNIVERSAL_PATH}",
                task.model,
            )
        return out

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` (§4.1)."""
        return bearer(api_key)

    # -- submit ---------------------------------------------------------------------------

    def wire_model(self, task: VideoTask) -> str:
        """The AI/ML API model id for a task.

        Ark and BytePlus ids map to AI/ML API ids (1.0 pro splits into ``-t2v`` without
        images and ``-i2v`` with a first frame); ``bytedance/...`` ids and ids of unknown
        families pass through unchanged.
        """
        if task.model.strip().lower().startswith("bytedance/"):
            return task.model
        route = _route_of(task.model)
        if route is None:
            return task.model
        return route.image_id if task.images else route.text_id

    def _camera_field(self, route: Route | None) -> str:
        if self.camera_fixed_field != "auto":
            return self.camera_fixed_field
        # Unknown ids are newer models; the newest schema (1.5 pro) uses camera_fixed.
        return "camera_fixed" if route is None else route.camera_field

    def submit_body(self, task: VideoTask) -> dict[str, Any]:
        """The flat create body of §4.2; unset fields are omitted, false/0 kept (§8.7)."""
        route = _route_of(task.model)
        body: dict[str, Any] = {"model": self.wire_model(task), "prompt": task.prompt}
        for n, image in enumerate(task.images):
            if image.role is ImageRole.FIRST_FRAME:
                body["image_url"] = image_url_of(task, n)
            elif image.role is ImageRole.LAST_FRAME:
                body["last_image_url"] = image_url_of(task, n)
            else:
                body.setdefault("image_urls", []).append(image_url_of(task, n))
        if task.videos:
            body["video_urls"] = [video_url_of(task, n) for n in range(len(task.videos))]
        if task.audios:
            body["audio_urls"] = [audio_url_of(task, n) for n in range(len(task.audios))]
        for spec_name, wire_name in _PLAIN_FIELDS:
            value = getattr(task, spec_name)
            if value is not None:
                body[wire_name] = value.value if hasattr(value, "value") else value
        if task.camera_fixed is not None:
            body[self._camera_field(route)] = task.camera_fixed
        # Only 1.5 pro's schema has generate_audio; "false" on a silent model is what it
        # does anyway, and sending the key could fail body validation (§4.4).
        if task.generate_audio is not None and (route is None or route.audio):
            body["generate_audio"] = task.generate_audio
        if route is not None and route.upstream and self.upstream_provider is not None:
            body["provider"] = self.upstream_provider
        return merge_extra(body, task, self.name)

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """``POST {submit_path}`` with the flat body.

        Raises:
            InvalidTaskSpec: the task has something this provider cannot send (see
                :meth:`check`); nothing is dropped silently.
        """
        violations = self.check(task)
        if violations:
            raise InvalidTaskSpec(violations, context=self.name)
        return HttpRequest(
            method="POST", path=self.submit_path, json=self.submit_body(task), paid=True
        )

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """The poll-shaped create answer, or ``{"generation_id"}`` (§4.2).

        Raises:
            ProviderError: a subclass for an error answer (:meth:`classify_error`).
            MalformedResponse: no id in the answer.
        """
        root = self._root_or_raise(response).object()
        task_id = root.opt_text("id") or root.opt_text("generation_id")
        if task_id is None:
            raise MalformedResponse("create answer without id", path="$.id", provider=self.name)
        status = None
        if root.get("status") is not None:
            try:
                status = self.parse_generation(root)
            except UnknownStatus:
                # The id is what a create answer is for: the first poll tells the state.
                status = None
        return SubmitAccepted(task_id=task_id, status=status)

    # -- status ---------------------------------------------------------------------------

    def build_status(self, task_id: str) -> HttpRequest:
        """``GET {status_path}?generation_id=<id>`` (§4.3)."""
        return HttpRequest(method="GET", path=self.status_path, query=[("generation_id", task_id)])

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """The poll answer of §4.3 as a neutral status.

        Raises:
            ProviderError: a subclass for an error answer (:meth:`classify_error`).
            MalformedResponse: the answer does not have the documented shape.
        """
        return self.parse_generation(self._root_or_raise(response), fallback_id=task_id)

    def parse_generation(self, node: Node, *, fallback_id: str = "") -> TaskStatus:
        """One generation object (create or poll answer) as a neutral status.

        Raises:
            UnknownStatus: the status word is not in :data:`AIMLAPI_STATUS_MAP`.
            MalformedResponse: the object lacks an id or a status.
        """
        node.object()
        task_id = node.opt_text("id") or node.opt_text("generation_id") or fallback_id
        if not task_id:
            raise MalformedResponse("answer without id", path=f"{node.path}.id", provider=self.name)
        status_node = node.require("status")
        raw_status = status_node.text()
        state = state_of(status_node, AIMLAPI_STATUS_MAP, task_id=task_id, provider=self.name)
        error_code = error_message = None
        err = node.get("error")
        if err is not None:
            if err.is_object():
                error_code = err.opt_text("name") or err.opt_text("code")
                error_message = err.opt_text("message")
            else:
                # Older specs leave the error untyped; keep whatever text it is.
                error_message = str(err.value)[:500] or None
        video = node.get("video")
        return TaskStatus(
            provider=self.name,
            task_id=task_id,
            state=state,
            provider_status=raw_status,
            video_url=self._video_url(video),
            usage=self._usage(node.get("meta")),
            error_code=error_code,
            error_message=error_message,
            failure=failure_category(state, error_code, error_message),
            effective=self._effective(node, video),
            raw=node.value,
        )

    @staticmethod
    def _effective(node: Node, video: Node | None) -> EffectiveParams | None:
        # video.duration in the current schema, a top-level duration in the older one.
        for holder in (video, node):
            if holder is None or not holder.is_object():
                continue
            try:
                duration = holder.opt_number("duration")
            except MalformedResponse:
                continue
            if duration is not None and duration >= 0:
                return EffectiveParams(duration=duration)
        return None

    @staticmethod
    def _video_url(video: Node | None) -> str | None:
        if video is None:
            return None
        if isinstance(video.value, list):
            # Not in the current schema; aimlapi-sdk-python takes the first url it finds.
            items = video.items()
            return items[0].object().opt_text("url") if items else None
        return video.object().opt_text("url")

    @staticmethod
    def _usage(meta: Node | None) -> Usage | None:
        if meta is None:
            return None
        usage = meta.object().get("usage")
        if usage is None:
            return None
        usage.object()
        # credits_used in the current schema, tokens_used in the older one (§4.3);
        # usd_spent next to credits_used on the 2.x pages.
        credits = usage.opt_number("credits_used")
        tokens = usage.opt_int("tokens_used")
        try:
            cost = usage.opt_number("usd_spent")
        except MalformedResponse:
            cost = None
        if credits is None and tokens is None and cost is None:
            return None
        return Usage(credits=credits, total_tokens=tokens, cost_usd=cost)

    # -- cancel and list: not offered (§4.3) ---------------------------------------------

    # -- errors ---------------------------------------------------------------------------

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """The typed error of an AI/ML API error answer (§4.4).

        The body is ``{"message", "path", "requestId", "statusCode", "timestamp"}``;
        ``statusCode`` only repeats the HTTP status (as a string), so there is no provider
        code and the HTTP status decides: 401 bad key, 403 out of credits, 429 rate or
        concurrency, 5xx (504 "Generation timeout") unavailable. OpenAI-style
        ``{"error": {...}}`` bodies, which the SDK's transport knows, are read too, and so
        are validation answers ``{"detail": [{"loc", "msg", "type"}, ...]}``: their type is
        the code, a field the schema lacks is
        :class:`~seedance_async.core._errors.UnsupportedParameter` and a refused ``model``
        field is :class:`~seedance_async.core._errors.ModelNotServed`.
        """
        try:
            root: Node | None = parse_json(response, self.name)
        except MalformedResponse:
            root = None
        code = message = request_id = param = None
        model_refused = False
        if root is not None and root.is_object():
            message = _loose_text(root.get("message"))
            err = root.get("error")
            if err is not None and err.is_object():
                code = _loose_text(err.get("code")) or _loose_text(err.get("name"))
                message = message or _loose_text(err.get("message"))
            elif err is not None:
                message = message or _loose_text(err)
            detail = root.get("detail")
            if detail is not None:
                d_code, d_message, param, model_refused = _detail_fields(detail)
                code, message = code or d_code, message or d_message
            request_id = _loose_text(root.get("requestId")) or _loose_text(root.get("request_id"))
        elif root is None:
            message = response.text().strip()[:200] or None
        if request_id and not request_id_of(response, message):
            # classify_error reads the request id from the headers; AI/ML API puts it in
            # the body, so hand it over the same way and it lands on the error.
            response = attrs.evolve(
                response, headers={**response.headers, "x-request-id": request_id}
            )
        error = classify_error(self.name, response, code=code, message=message, param=param)
        if model_refused and type(error) is InvalidRequest:
            # The schema refused the model field itself: this provider does not know the id.
            return ModelNotServed(
                "request failed: this provider does not serve the model",
                provider=self.name,
                status=response.status,
                code=code,
                provider_message=message,
                request_id=error.request_id,
            )
        return error

    def _root_or_raise(self, response: HttpResponse) -> Node:
        if not response.ok:
            raise self.classify_error(response)
        return parse_json(response, self.name)
