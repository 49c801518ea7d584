"""AI/ML API's flat video endpoints (its ``aimlapi/api-docs`` OpenAPI files and error pages).

* ``POST /v2/generate/video/bytedance/generation`` (and the universal ``/v2/video/generations``)
  with a flat body → 200 with the poll schema, status ``queued``.
* ``GET`` the same path ``?generation_id=<id>`` →
  ``{"id", "status": queued|generating|completed|error, "video": {"url", "duration"}|null,
  "error": {"name", "message"}|null, "meta": {"usage": {"credits_used"}}}``.
* Errors ``{"message", "path", "requestId", "statusCode": "<status>", "timestamp"}``.
  No cancel and no list endpoint.
* ``Quirks(fastapi_errors=True)``: body validation failures answer 422 ``{"detail": [{"loc",
  "msg", "type"}]}``, the FastAPI shape some of its endpoints use instead.
* ``Quirks(status_words={"completed": "succeeded"})`` for a deployment that says
  ``succeeded``; its SDK also waits through ``waiting``, ``active`` and ``processing``.

Seedance 2.x (its ``seedance-2-0*.json`` and ``seedance-2.5.json`` schemas) takes flat
reference lists ``image_urls`` (1-9), ``video_urls`` (1-3) and ``audio_urls`` (1-3) beside
``image_url``/``last_image_url``, a ``provider`` routing field, no ``adaptive`` ratio (16:9
by default) and no ``-1``; 2.0 fast defaults to 8 s and has no ``watermark``. Reference clips
on loopback are read and checked like Ark does (see ``_reference``); a broken one answers
400 with the list item in its message.

Simulator choices where the docs are silent: body fields a model's schema does not list (say ``aspect_ratio`` on
1.0 pro) are ignored, like zod's default ``strip``; 400 answers add ``errors``
``[{"path", "message", "expected", "received"}]`` for the "Expected/Received" details the
docs mention; an unknown ``generation_id`` answers 404 "Generation not found"; a missing one
400 "Query validation error!"; ``credits_used`` equals Ark's token formula; failed, expired
tasks show ``status: "error"``; ``Faults.account_quota`` answers the documented 403 "out of
credits" (AI/ML API has no monthly-quota code); input moderation answers 400 with a
moderation message.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from seedance_async.simulator._http import read_json
from seedance_async.simulator._lifecycle import SimTask, State
from seedance_async.simulator._params import (
    RESOLUTIONS,
    GenParams,
    Rejection,
    model_info,
    resolve_params,
)
from seedance_async.simulator._provider import (
    Ctx,
    ErrorKind,
    Handler,
    Op,
    ProviderSim,
    Reply,
)
from seedance_async.simulator._reference import RefItem, check_references

__all__ = ["AIML_MODELS", "AimlApiSim"]

LEGACY_PATH = "/v2/generate/video/bytedance/generation"
UNIVERSAL_PATH = "/v2/video/generations"
_STATUS: Mapping[State, str] = {
    "queued": "queued",
    "running": "generating",
    "succeeded": "completed",
    "failed": "error",
    "cancelled": "error",
    "expired": "error",
}
_LITE_RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"})
_PRO15_RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"})


@attrs.frozen(kw_only=True)
class _Schema:
    """The fields one AI/ML model id accepts (its per-model OpenAPI schema)."""

    image_required: bool = False
    image: bool = True
    last_image: bool = True
    ratios: frozenset[str] = frozenset()
    durations: frozenset[int] = frozenset({5, 10})
    camera_key: str = "camerafixed"
    audio: bool = False
    resolutions: frozenset[str] = RESOLUTIONS
    references: bool = False
    watermark: bool = True
    camera: bool = True
    default_duration: int | None = None
    providers: frozenset[str] = frozenset()


_RATIOS_2X = frozenset({"21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})
_LOW = frozenset({"480p", "720p"})
_SEEDANCE_2 = _Schema(
    ratios=_RATIOS_2X,
    durations=frozenset(range(4, 16)),
    audio=True,
    resolutions=frozenset({"480p", "720p", "1080p", "4k"}),
    references=True,
    camera=False,
    providers=frozenset({"bytedance", "fal", "auto"}),
)
_SEEDANCE_2_5 = attrs.evolve(
    _SEEDANCE_2,
    resolutions=_LOW,
    durations=frozenset(range(4, 31)),
    providers=frozenset({"bytedance", "auto"}),
)
_REF_LISTS = (("image_urls", "image", 9), ("video_urls", "video", 3), ("audio_urls", "audio", 3))

AIML_MODELS: Mapping[str, _Schema] = {
    "bytedance/seedance-1-0-lite-t2v": _Schema(image=False, last_image=False, ratios=_LITE_RATIOS),
    "bytedance/seedance-1-0-lite-i2v": _Schema(image_required=True, last_image=False),
    "bytedance/seedance-1-0-pro-t2v": _Schema(),
    "bytedance/seedance-1-0-pro-i2v": _Schema(),
    "bytedance/seedance-1-0-pro-fast": _Schema(),
    "bytedance/seedance-1-5-pro": _Schema(
        ratios=_PRO15_RATIOS,
        durations=frozenset(range(4, 13)),
        camera_key="camera_fixed",
        audio=True,
    ),
    # Seedance 2.x on the universal path (its seedance-2-0*.json / seedance-2.5.json schemas):
    # flat reference lists, no adaptive ratio, no -1, no camera_fixed.
    "bytedance/seedance-2-0": _SEEDANCE_2,
    "bytedance/seedance-2-0-fast": attrs.evolve(
        _SEEDANCE_2, resolutions=_LOW, watermark=False, default_duration=8
    ),
    "bytedance/dreamina-seedance-2-0-mini": attrs.evolve(_SEEDANCE_2, resolutions=_LOW),
    "bytedance/seedance-2-5": _SEEDANCE_2_5,
    "bytedance/dreamina-seedance-2-5": _SEEDANCE_2_5,
}
"""The model ids AI/ML API offers for Seedance, with their body schemas."""


def _bad(path: str, expected: str, received: Any) -> Rejection:
    shown = "undefined" if received is None else type(received).__name__
    return Rejection(
        status=400, code="Body validation error!", message=f"{expected}|{shown}", param=path
    )


_CREDITS = "You've run out of credits. Please top up your balance to continue."


class AimlApiSim(ProviderSim):
    """AI/ML API."""

    name = "aimlapi"
    default_failure = (
        "ContentModerationError",
        "The generated video was blocked by the content moderation system.",
    )
    quirk_support = frozenset({"fastapi_errors"})

    def routes(self) -> list[tuple[str, str, Op, Handler]]:
        """Create and poll on both the legacy and the universal path."""
        found: list[tuple[str, str, Op, Handler]] = []
        for path in (LEGACY_PATH, UNIVERSAL_PATH):
            found += [("POST", path, "create", self.create), ("GET", path, "get", self.get)]
        return found

    def new_task_id(self, now: float) -> str:
        """A UUID-like id, drawn from the seeded RNG."""
        return str(uuid.UUID(int=self.task_rng.getrandbits(128), version=4))

    def unknown_model(self, model: str, ctx: Ctx) -> Rejection:
        """The body validation error its schema's model enum gives."""
        served = self.quirks.models
        names = [m for m in AIML_MODELS if served is None or m in served]
        return _bad("model", "one of " + ", ".join(names), model)

    def error_reply(self, kind: ErrorKind, ctx: Ctx, rejection: Rejection | None = None) -> Reply:
        """``{"message", "path", "requestId", "statusCode", "timestamp"}`` (its error pages)."""
        extra: dict[str, Any] = {}
        if (
            rejection is not None
            and rejection.code == "Body validation error!"
            and self.quirks.fastapi_errors
        ):
            expected, _, received = rejection.message.partition("|")
            detail = {
                "loc": ["body", rejection.param],
                "msg": f"Expected {expected}, received {received}",
                "type": "missing" if received == "undefined" else "value_error",
            }
            return Reply(status=422, body={"detail": [detail]})
        if rejection is not None and rejection.code == "Body validation error!":
            expected, _, received = rejection.message.partition("|")
            status, message = 400, "Body validation error!"
            extra["errors"] = [
                {
                    "path": rejection.param,
                    "message": f"Expected {expected}, received {received}",
                    "expected": expected,
                    "received": received,
                }
            ]
        elif rejection is not None:
            status, message = rejection.status, rejection.message
        else:
            status, message = {
                "auth": (401, "Unauthorized"),
                "rate_limit": (429, "Too Many Requests"),
                "queue_full": (429, "Too Many Requests"),
                "inflight": (429, "Too Many Requests"),
                "credits": (403, _CREDITS),
                "account_quota": (403, _CREDITS),
                "input_moderation": (
                    400,
                    "Your prompt was flagged by the content moderation system.",
                ),
                "not_found": (404, "Generation not found"),
            }.get(kind, (self.faults.server_error_status, "Internal server error"))
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ctx.now))
            + f".{int(ctx.now * 1000) % 1000:03d}Z"
        )
        body = {
            "message": message,
            "path": ctx.path,
            "requestId": ctx.request_id,
            "statusCode": str(status),
            "timestamp": stamp,
            **extra,
        }
        return Reply(status=status, body=body)

    def poll_json(self, task: SimTask, now: float) -> dict[str, Any]:
        """The poll schema at ``now``."""
        state = task.state(now)
        video = error = None
        if state == "succeeded":
            url, _ = self.result_urls(task)
            seconds = task.params.seconds
            video = {"url": url, "duration": int(seconds) if seconds.is_integer() else seconds}
        elif state == "failed" and task.failure is not None:
            error = {"name": task.failure[0], "message": task.failure[1]}
        elif state in ("failed", "expired", "cancelled"):
            error = {"name": "GenerationTimeout", "message": "Generation timeout"}
        return {
            "id": task.id,
            "status": _STATUS[state],
            "video": video,
            "error": error,
            "meta": {"usage": {"credits_used": task.params.tokens}},
        }

    async def create(self, request: web.Request, ctx: Ctx) -> Reply:
        """Validate the flat body, create, answer the poll schema."""
        body, ok = await read_json(request)
        if not ok or not isinstance(body, Mapping):
            return self.error_reply("invalid", ctx, _bad("body", "object", body))
        params = await self._params(body, ctx)
        if isinstance(params, Rejection):
            return self.error_reply("invalid", ctx, params)
        task = self.create_task(ctx, body, params)
        if isinstance(task, Reply):
            return task
        return Reply(status=200, body=self.poll_json(task, ctx.now), created=task)

    async def get(self, request: web.Request, ctx: Ctx) -> Reply:
        """``?generation_id=<id>``."""
        generation_id = request.query.get("generation_id")
        if not generation_id:
            return self.error_reply(
                "invalid",
                ctx,
                Rejection(status=400, code="query", message="Query validation error!"),
            )
        task = self.store.get(generation_id, ctx.now)
        if task is None or task.key != ctx.key:
            return self.error_reply("not_found", ctx)
        return Reply(status=200, body=self.poll_json(*self.view(task, ctx.now)))

    async def _params(self, body: Mapping[str, Any], ctx: Ctx) -> GenParams | Rejection:
        model = body.get("model")
        schema = AIML_MODELS.get(model) if isinstance(model, str) else None
        if schema is None or not isinstance(model, str):
            return _bad("model", "one of " + ", ".join(AIML_MODELS), model)
        refused = self.gate_model(model, ctx)
        if refused is not None:
            return refused
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return _bad("prompt", "string", prompt)
        image = body.get("image_url") if schema.image else None
        last = body.get("last_image_url") if schema.last_image else None
        for name, value in (("image_url", image), ("last_image_url", last)):
            if value is not None and (not isinstance(value, str) or not value):
                return _bad(name, "string", value)
        if schema.image_required and image is None:
            return _bad("image_url", "string", None)
        if last is not None and image is None:
            return _bad("image_url", "string", None)
        lists = _reference_lists(body, schema)
        if isinstance(lists, Rejection):
            return lists
        images, refs = lists
        if (images or refs) and image is not None:
            return _bad(
                "image_url",
                "no first frame together with image_urls, video_urls or audio_urls",
                image,
            )
        audios = sum(r.kind == "audio" for r in refs)
        if audios and not images and audios == len(refs):
            return _bad("audio_urls", "an image or video reference with audio_urls", None)
        provider = body.get("provider")
        if provider is not None and provider not in schema.providers:
            return _bad("provider", " | ".join(sorted(schema.providers)) or "nothing", provider)
        resolution = body.get("resolution")
        if resolution is not None and resolution not in schema.resolutions:
            shown = " | ".join(
                f"'{r}'" for r in ("480p", "720p", "1080p", "4k") if r in schema.resolutions
            )
            return _bad("resolution", shown, resolution)
        ratio = body.get("aspect_ratio") if schema.ratios else None
        if ratio is not None and ratio not in schema.ratios:
            return _bad("aspect_ratio", " | ".join(sorted(schema.ratios)), ratio)
        duration = body.get("duration")
        if duration is not None and (
            isinstance(duration, bool) or duration not in schema.durations
        ):
            return _bad("duration", " | ".join(str(d) for d in sorted(schema.durations)), duration)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            return _bad("seed", "number", seed)
        flags: dict[str, bool | None] = {}
        # Both camera spellings are read: the docs changed between them.
        for name in ("watermark", "camerafixed", "camera_fixed", "generate_audio"):
            value = body.get(name)
            if value is not None and not isinstance(value, bool):
                return _bad(name, "boolean", value)
            flags[name] = value
        camera = flags["camerafixed"] if flags["camerafixed"] is not None else flags["camera_fixed"]
        info = model_info(model)
        assert info is not None  # every AIML_MODELS id is a known family
        facts, problem = await check_references(self.session, refs, info)
        if problem is not None:
            field, why = problem
            # Simulator choice: a plain 400 naming the list item (the docs show no example).
            return Rejection(status=400, code="reference", message=f"{field}: {why}", param=field)
        videos = [f for f in facts if f is not None and f.kind == "video"]
        if images or refs:
            scenario = "multimodal_reference" if refs else "reference_images"
        else:
            scenario = "first_last_frame" if last else "first_frame" if image else "text"
        return resolve_params(
            model=model,
            info=info,
            scenario=scenario,
            prompt=prompt,
            rng=self.task_rng,
            resolution=resolution,
            # No adaptive here: the default is 16:9.
            ratio=ratio or ("16:9" if schema.references else None),
            duration=duration if duration is not None else schema.default_duration,
            seed=seed,
            camera_fixed=camera if schema.camera else None,
            watermark=flags["watermark"] if schema.watermark else None,
            generate_audio=flags["generate_audio"] if schema.audio else None,
            input_video_seconds=sum(f.seconds for f in videos),
        )


def _reference_lists(
    body: Mapping[str, Any], schema: _Schema
) -> tuple[list[str], list[RefItem]] | Rejection:
    """The reference image URLs and the video/audio clips of the flat lists."""
    images: list[str] = []
    refs: list[RefItem] = []
    if not schema.references:
        return images, refs
    for name, kind, most in _REF_LISTS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return _bad(name, "array of strings", value)
        if not 1 <= len(value) <= most:
            return _bad(name, f"array of 1 to {most} items", value)
        if kind == "image":
            images = list(value)
            continue
        for n, url in enumerate(value):
            if not url.startswith(("http://", "https://")) and not (
                kind == "audio" and url.startswith("data:audio/")
            ):
                return _bad(f"{name}[{n}]", "a URL", url)
            refs.append(
                RefItem(kind="video" if kind == "video" else "audio", url=url, field=f"{name}[{n}]")
            )
    return images, refs
