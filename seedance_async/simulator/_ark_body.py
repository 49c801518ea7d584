"""Ark's create-task body: validation as Ark answers it, and the effective parameters.

Rules from Ark's "Create a video generation task" page (fields, ranges), its model pages
(scenarios per model, frames, ratios) and its error-code page (error envelope). Like Ark,
unknown keys are silently ignored and JSON ``null`` means "not given" (the official Python
SDK sends every unset field as null).

Text-command suffixes (``--rs 720p --dur 5``, the older way to set parameters in the
prompt) are read leniently: a body field wins over its suffix, and a suffix value that does
not parse is ignored (precedence and strictness are undocumented, so this is a simulator
choice).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import attrs

from seedance_async.simulator._params import (
    ARK_RATIOS,
    GenParams,
    ModelInfo,
    Rejection,
    model_info,
    resolve_params,
)
from seedance_async.simulator._reference import Kind, RefItem, check_references

__all__ = [
    "DraftLookup",
    "model_not_open",
    "nearest_ratio",
    "parse_ark_body",
    "parse_suffix",
    "unknown_model",
    "unsupported_on_2x",
]

_ROLES = frozenset({"first_frame", "last_frame", "reference_image"})
_RESOLUTION_ORDER = ("480p", "720p", "1080p", "4k")
_SUFFIX = re.compile(r"--([a-z]+)\s+(\S+)")
_SUFFIX_NAMES = {
    "rs": "resolution",
    "resolution": "resolution",
    "rt": "ratio",
    "ratio": "ratio",
    "dur": "duration",
    "duration": "duration",
    "frames": "frames",
    "seed": "seed",
    "cf": "camera_fixed",
    "camerafixed": "camera_fixed",
    "wm": "watermark",
    "watermark": "watermark",
}
_MIXED = "first/last frame content cannot be mixed with reference media content"


def missing(param: str) -> Rejection:
    """Ark's 400 ``MissingParameter`` for a required field."""
    return Rejection(
        status=400,
        code="MissingParameter",
        message=f"The request failed because it is missing `{param}` parameter.",
        param=param,
    )


def invalid(param: str, why: str) -> Rejection:
    """Ark's 400 ``InvalidParameter`` for a bad value."""
    return Rejection(
        status=400,
        code="InvalidParameter",
        message=f"The parameter `{param}` specified in the request is not valid: {why}.",
        param=param,
    )


def unknown_model(model: str) -> Rejection:
    """Ark's 404 for a model or endpoint id that does not exist (or is not served)."""
    return Rejection(
        status=404,
        code="InvalidEndpointOrModel.NotFound",
        message=f"The model or endpoint {model} does not exist or you do not have access to it.",
        param="model",
    )


def model_not_open(model: str, account: str) -> Rejection:
    """Ark's 404 ``ModelNotOpen``: the model exists but the account has not activated it."""
    return Rejection(
        status=404,
        code="ModelNotOpen",
        message=(
            f"Your account {account} has not activated the model {model}. "
            "Please activate the model service in the Ark Console."
        ),
        param="model",
    )


# Body fields Seedance 2.x does not take (Ark's create-task page for 2.0: no frames, no
# camera_fixed, service_tier "not configurable", draft only from 2.5 on; its July 2026
# revision also lists seed as unsupported).
_NOT_ON_2X = ("frames", "camera_fixed", "service_tier", "seed")


def unsupported_on_2x(body: Mapping[str, Any], model: str) -> Rejection | None:
    """Ark's 400 ``InvalidParameter`` for a parameter a Seedance 2.x model does not take."""
    name = model.strip().lower()
    for prefix in ("doubao-", "dreamina-"):
        name = name.removeprefix(prefix)
    if not name.startswith("seedance-2"):
        return None
    refused = list(_NOT_ON_2X)
    if not name.startswith("seedance-2-5"):
        refused.append("draft")
    for field in refused:
        if body.get(field) is not None:
            return invalid(field, f"`{field}` is not supported by model {model}")
    return None


def parse_suffix(text: str) -> dict[str, Any]:
    """Body field → value of the ``--flag value`` commands at the end of a prompt."""
    found: dict[str, Any] = {}
    for flag, raw in _SUFFIX.findall(text):
        name = _SUFFIX_NAMES.get(flag)
        if name is None:
            continue  # --fps and unknown flags: nothing to set
        if name in ("duration", "frames", "seed"):
            try:
                found[name] = int(raw)
            except ValueError:
                continue
        elif name in ("camera_fixed", "watermark"):
            if raw.lower() in ("true", "false"):
                found[name] = raw.lower() == "true"
        else:
            found[name] = raw
    return found


def _int(body: Mapping[str, Any], name: str) -> int | Rejection | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return invalid(name, f"expected an integer, got {type(value).__name__}")
    return value


def _bool(body: Mapping[str, Any], name: str) -> bool | Rejection | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    return invalid(name, f"expected a boolean, got {type(value).__name__}")


def _str(body: Mapping[str, Any], name: str) -> str | Rejection | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    return invalid(name, f"expected a string, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class _Content:
    """What the content array holds: prompt, image roles, reference clips, a draft."""

    prompt: str
    roles: list[str]
    refs: list[RefItem]
    draft_task: str | None = None


def _media_url(item: Mapping[str, Any], kind: str, index: int) -> str | Rejection:
    holder = item.get(kind)
    url = holder.get("url") if isinstance(holder, Mapping) else None
    field = f"content[{index}].{kind}"
    if not isinstance(url, str) or not url:
        return invalid(field, f"a {kind} item needs a non-empty `url`")
    if kind == "video_url" and url.startswith("data:"):
        return invalid(field, "a reference video must be a URL or an asset, not base64")
    prefixes = ("http://", "https://", "asset://", "data:audio/")
    if not url.startswith(prefixes[: 4 if kind == "audio_url" else 3]):
        return invalid(field, "expected an http(s) URL or an asset://")
    return url


def _content(content: list[Any], info: ModelInfo) -> _Content | Rejection:
    """The prompt, image roles, reference clips and draft reference of the content array."""
    texts: list[str] = []
    roles: list[str | None] = []
    refs: list[RefItem] = []
    drafts: list[str] = []
    for index, item in enumerate(content):
        if not isinstance(item, Mapping):
            return invalid("content", "every item must be an object")
        kind = item.get("type")
        if kind == "text":
            if not isinstance(item.get("text"), str):
                return invalid("content.text", "text items need a string `text`")
            texts.append(item["text"])
        elif kind == "image_url":
            holder = item.get("image_url")
            url = holder.get("url") if isinstance(holder, Mapping) else None
            if not isinstance(url, str) or not url:
                return Rejection(
                    status=400,
                    code="InvalidImageURL.EmptyURL",
                    message="The image URL is empty.",
                    param="image_url",
                )
            schemes = ("http://", "https://", "data:image/")
            if not url.startswith(schemes + (("asset://",) if info.series == 2 else ())):
                return Rejection(
                    status=400,
                    code="InvalidImageURL.InvalidFormat",
                    message="The image URL has an invalid format.",
                    param="image_url",
                )
            role = item.get("role")
            if role is not None and role not in _ROLES:
                return invalid("content.role", f"unknown role {role!r}")
            roles.append(role)
        elif kind in ("video_url", "audio_url") and info.max_videos:
            media: Kind = "video" if kind == "video_url" else "audio"
            role = item.get("role")
            if role is not None and role != f"reference_{media}":
                return invalid(
                    f"content[{index}].role", f"a {kind} item takes only the role reference_{media}"
                )
            url = _media_url(item, kind, index)
            if isinstance(url, Rejection):
                return url
            refs.append(RefItem(kind=media, url=url, field=f"content[{index}].{kind}"))
        elif kind == "draft_task" and info.draft:
            holder = item.get("draft_task")
            draft_id = holder.get("id") if isinstance(holder, Mapping) else None
            if not isinstance(draft_id, str) or not draft_id:
                return missing("content.draft_task.id")
            drafts.append(draft_id)
        else:
            return invalid("content.type", f"unsupported content type {kind!r} for this model")
    if drafts and (len(drafts) > 1 or texts or roles or refs):
        return invalid("content", "a draft_task item must be the only content item")
    if len(roles) == 1 and roles[0] is None and not refs:
        roles = ["first_frame"]  # a single image may omit its role (Ark's model docs)
    if any(r is None for r in roles):
        return invalid("content.role", "every image needs a role when several are given")
    return _Content(
        prompt=" ".join(texts),
        roles=[r for r in roles if r is not None],
        refs=refs,
        draft_task=drafts[0] if drafts else None,
    )


def _scenario(parsed: _Content, info: ModelInfo, model: str) -> str | Rejection:
    roles = parsed.roles
    refs = roles.count("reference_image")
    videos = sum(r.kind == "video" for r in parsed.refs)
    audios = len(parsed.refs) - videos
    firsts, lasts = roles.count("first_frame"), roles.count("last_frame")
    if (refs or parsed.refs) and (firsts or lasts):
        return invalid("content", _MIXED)
    if refs or parsed.refs:
        if refs > info.max_images:
            return invalid("content", f"at most {info.max_images} reference images are allowed")
        if videos > info.max_videos or audios > info.max_audios:
            return invalid(
                "content",
                f"at most {info.max_videos} reference videos and {info.max_audios} reference audios are allowed",
            )
        if audios and not (refs or videos) and not info.audio_only:
            return invalid("content", "reference audio needs at least one reference image or video")
        scenario = "reference_images" if not parsed.refs else "multimodal_reference"
        allowed = info.reference_images
    elif roles:
        if firsts != 1 or lasts > 1:
            return invalid("content", "give one first_frame image and at most one last_frame image")
        scenario = "first_last_frame" if lasts else "first_frame"
        allowed = info.first_last_frame if lasts else info.first_frame
    else:
        scenario, allowed = "text", info.text_to_video
    if not allowed:
        return invalid("content", f"model {model} does not support the {scenario} scenario")
    return scenario


def _tools(body: Mapping[str, Any], info: ModelInfo, model: str) -> tuple[str, ...] | Rejection:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        return invalid("tools", "expected an array of objects")
    names = tuple(str(t.get("type")) for t in tools)
    for name in names:
        if name != "web_search":
            return invalid("tools", f"unknown tool type {name!r}")
    if names and not info.tools:
        return invalid("tools", f"model {model} does not support tools")
    return names


# The draft's own values a final keeps (Ark's draft tutorial): a final may set the rest.
_INHERITED = ("prompt", "scenario", "seed", "ratio", "duration", "generate_audio", "camera_fixed")
# What a 2.5 final may set at all (BytePlus ModelArk's 2.5 draft rules).
_FINAL_2_5 = frozenset(
    {
        "model",
        "content",
        "resolution",
        "watermark",
        "output_format",
        "return_last_frame",
        "priority",
        "execution_expires_after",
        "callback_url",
    }
)

DraftLookup = Callable[[str], GenParams | Rejection]
"""The succeeded draft behind a ``draft_task`` id (for the caller's key), or the refusal."""


async def parse_ark_body(
    body: Any,
    rng: random.Random,
    *,
    session: aiohttp.ClientSession | None = None,
    draft_of: DraftLookup | None = None,
    ignore_legacy: bool = True,
) -> GenParams | Rejection:
    """Validate an Ark create body and resolve its effective parameters.

    Args:
        body: the decoded JSON body.
        rng: draws seeds and lengths the request left to the model.
        session: reads reachable reference clips (see ``_reference``); None takes every
            clip on trust.
        draft_of: resolves a final's ``draft_task`` id; None refuses finals.
        ignore_legacy: a 2.x model ignores 1.x fields (``frames``, ``camera_fixed``,
            ``service_tier``, ``seed``, ``draft`` before 2.5) instead of refusing them
            (``Quirks.reject_unsupported_params`` refuses them before this runs).

    Returns:
        The parameters, or the :class:`Rejection` Ark would answer (first problem only,
        as Ark reports one).
    """
    if not isinstance(body, Mapping):
        return invalid("body", "the request body must be a JSON object")
    model = body.get("model")
    if model is None or model == "":
        return missing("model")
    if not isinstance(model, str):
        return invalid("model", "expected a string")
    content = body.get("content")
    if content is None:
        return missing("content")
    if not isinstance(content, list) or not content:
        return invalid("content", "expected a non-empty array")
    info = model_info(model)
    if info is None:
        return unknown_model(model)
    parsed = _content(content, info)
    if isinstance(parsed, Rejection):
        return parsed
    if parsed.draft_task is not None:
        return _final(body, parsed.draft_task, info, model, rng, draft_of)
    scenario = _scenario(parsed, info, model)
    if isinstance(scenario, Rejection):
        return scenario
    prompt = parsed.prompt
    if scenario == "text" and not prompt.strip():
        return missing("content.text")
    values = _values(body, info, ignore_legacy)
    if isinstance(values, Rejection):
        return values
    problem = _check_values(values, info, scenario)
    if problem is not None:
        return problem
    tools = _tools(body, info, model)
    if isinstance(tools, Rejection):
        return tools
    for name, value in parse_suffix(prompt).items():
        if values.get(name) is None:
            trial = {**values, name: value}
            if _check_values(trial, info, scenario) is None:
                values = trial
    facts, refused = await check_references(session, parsed.refs, info)
    if refused is not None:
        return invalid(*refused)
    videos = [f for f in facts if f is not None and f.kind == "video"]
    return resolve_params(
        model=model,
        info=info,
        scenario=scenario,
        prompt=prompt,
        rng=rng,
        resolution=values["resolution"],
        ratio=values["ratio"],
        duration=values["duration"],
        frames=values["frames"],
        seed=values["seed"],
        return_last_frame=values["return_last_frame"],
        generate_audio=values["generate_audio"],
        camera_fixed=values["camera_fixed"],
        watermark=values["watermark"],
        service_tier=values["service_tier"],
        execution_expires_after=values["execution_expires_after"],
        priority=values["priority"],
        callback_url=values["callback_url"],
        draft=values["draft"],
        tools=tools,
        safety_identifier=values["safety_identifier"],
        input_video_seconds=sum(f.seconds for f in videos),
        adaptive_ratio=nearest_ratio(videos[0].width, videos[0].height) if videos else None,
        output_format=values["output_format"],
    )


def _values(
    body: Mapping[str, Any], info: ModelInfo, ignore_legacy: bool
) -> dict[str, Any] | Rejection:
    values: dict[str, Any] = {}
    for name in ("duration", "frames", "seed", "execution_expires_after", "priority"):
        values[name] = _int(body, name)
    for name in ("return_last_frame", "generate_audio", "camera_fixed", "watermark", "draft"):
        values[name] = _bool(body, name)
    for name in ("resolution", "ratio", "service_tier", "callback_url", "safety_identifier"):
        values[name] = _str(body, name)
    for name in ("output_format", "omni_reference_task_type"):
        values[name] = _str(body, name)
    for value in values.values():
        if isinstance(value, Rejection):
            return value
    if info.series == 2 and ignore_legacy:
        # "Ignored or triggers an error" (Ark's 2.0 page): here, ignored.
        for name in _NOT_ON_2X:
            values[name] = None
        if not info.draft:
            values["draft"] = None
    return values


def _final(
    body: Mapping[str, Any],
    draft_id: str,
    info: ModelInfo,
    model: str,
    rng: random.Random,
    draft_of: DraftLookup | None,
) -> GenParams | Rejection:
    """A final made from a succeeded draft: the draft's values, the final's own options."""
    param = "content.draft_task.id"
    draft = (
        draft_of(draft_id) if draft_of is not None else invalid(param, "drafts are not served here")
    )
    if isinstance(draft, Rejection):
        return draft
    if draft.info.family != info.family:
        return invalid(param, f"the draft {draft_id} was made by another model ({draft.model})")
    strict = info.family.startswith("seedance-2-5")
    if strict:
        extra = sorted(k for k, v in body.items() if v is not None and k not in _FINAL_2_5)
        if extra:
            return invalid(extra[0], f"`{extra[0]}` cannot be set on a final made from a draft")
    values = _values(body, info, ignore_legacy=True)
    if isinstance(values, Rejection):
        return values
    if values["draft"]:
        return invalid("draft", "a final made from a draft cannot be a draft itself")
    resolution = values["resolution"]
    if strict:
        wanted = "4k" if info.family.endswith("premium") else "1080p"
        if resolution not in (None, wanted):
            return Rejection(
                status=400,
                code="InvalidResolutionParameter",
                message=f"A final made from a draft on {model} renders at {wanted} only.",
                param="resolution",
            )
        resolution = wanted
    elif resolution is not None and resolution not in info.resolutions:
        return invalid("resolution", f"{resolution!r} is not supported by model {model}")
    expires = values["execution_expires_after"]
    if expires is not None and not 3600 <= expires <= 259_200:
        return invalid("execution_expires_after", "must be within [3600, 259200] seconds")
    kept = {name: getattr(draft, name) for name in _INHERITED}
    return resolve_params(
        model=model,
        info=info,
        rng=rng,
        resolution=resolution,
        frames=None,
        return_last_frame=values["return_last_frame"],
        watermark=values["watermark"],
        service_tier=values["service_tier"],
        execution_expires_after=expires,
        priority=values["priority"],
        callback_url=values["callback_url"],
        draft_task_id=draft_id,
        tools=draft.tools,
        safety_identifier=values["safety_identifier"] or draft.safety_identifier,
        input_video_seconds=draft.input_video_seconds,
        output_format=values["output_format"],
        **kept,
    )


def nearest_ratio(width: int, height: int) -> str:
    """The fixed ratio closest to ``width / height`` (what ``adaptive`` picks from a clip)."""
    if not width or not height:
        return "16:9"
    shape = width / height
    return min(_FIXED_RATIOS, key=lambda r: abs(_FIXED_RATIOS[r] - shape))


_FIXED_RATIOS = {
    "16:9": 16 / 9,
    "4:3": 4 / 3,
    "1:1": 1.0,
    "3:4": 3 / 4,
    "9:16": 9 / 16,
    "21:9": 21 / 9,
}


def _check_values(values: Mapping[str, Any], info: ModelInfo, scenario: str) -> Rejection | None:
    refs = scenario == "reference_images" and info.series == 1
    resolution, ratio = values["resolution"], values["ratio"]
    if resolution is not None and resolution not in info.resolutions:
        shown = ", ".join(r for r in _RESOLUTION_ORDER if r in info.resolutions)
        return invalid("resolution", f"{resolution!r} is not one of {shown}")
    if resolution == "1080p" and refs:
        return invalid("resolution", "1080p is not supported with reference images")
    if values["draft"]:
        if not info.draft:
            return invalid("draft", "this model does not make drafts")
        if resolution not in (None, "480p"):
            return invalid("resolution", "a draft renders at 480p only")
        if values["return_last_frame"]:
            return invalid("return_last_frame", "a draft does not return a last frame")
        if values["service_tier"] == "flex":
            return invalid("service_tier", "a draft cannot run on flex")
    if ratio is not None and ratio not in ARK_RATIOS:
        return invalid("ratio", f"{ratio!r} is not a supported ratio")
    if ratio == "adaptive" and (refs or (scenario == "text" and not info.adaptive_text_to_video)):
        return invalid(
            "ratio", f"adaptive is not supported in the {scenario} scenario of this model"
        )
    frames, duration = values["frames"], values["duration"]
    if frames is not None:
        if not info.frames:
            return invalid("frames", "this model does not support frames")
        if not 29 <= frames <= 289 or (frames - 25) % 4:
            return invalid("frames", "frames must be 25+4n within [29, 289]")
    elif duration is not None:
        auto = duration == -1 and info.auto_duration
        if not auto and not info.min_duration <= duration <= info.max_duration:
            return invalid(
                "duration", f"duration must be within [{info.min_duration}, {info.max_duration}]"
            )
    seed = values["seed"]
    if seed is not None and not -1 <= seed <= 2**32 - 1:
        return invalid("seed", "seed must be within [-1, 4294967295]")
    if values["camera_fixed"] and refs:
        return invalid("camera_fixed", "camera_fixed is not supported with reference images")
    tier = values["service_tier"]
    if tier is not None and tier not in ("default", "flex"):
        return invalid("service_tier", "service_tier must be default or flex")
    priority = values["priority"]
    if info.series == 2 and priority is not None and not 0 <= priority <= 9:
        return invalid("priority", "priority must be within [0, 9]")
    safety = values["safety_identifier"]
    if safety is not None and len(safety) > 64:
        return invalid("safety_identifier", "safety_identifier may have at most 64 characters")
    output_format = values["output_format"]
    if output_format is not None and (
        not info.family.startswith("seedance-2-5") or output_format not in ("mp4", "mov")
    ):
        return invalid("output_format", "output_format is mp4 or mov, on Seedance 2.5 only")
    expires = values["execution_expires_after"]
    if expires is not None and not 3600 <= expires <= 259_200:
        return invalid("execution_expires_after", "must be within [3600, 259200] seconds")
    return None
