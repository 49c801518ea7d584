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
from collections.abc import Mapping
from typing import Any

from seedance_async.simulator._params import (
    ARK_RATIOS,
    RESOLUTIONS,
    GenParams,
    ModelInfo,
    Rejection,
    model_info,
    resolve_params,
)

__all__ = [
    "model_not_open",
    "parse_ark_body",
    "parse_suffix",
    "unknown_model",
    "unsupported_on_2x",
]

_ROLES = frozenset({"first_frame", "last_frame", "reference_image"})
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


def _content(content: list[Any], info: ModelInfo) -> tuple[str, list[str]] | Rejection:
    """(prompt, image roles) from the content array."""
    texts: list[str] = []
    roles: list[str | None] = []
    for item in content:
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
            if not url.startswith(("http://", "https://", "data:image/")):
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
        elif kind in ("video_url", "audio_url", "draft_task") and info.family == "generic":
            continue  # 2.x / draft inputs: accepted, not simulated
        else:
            return invalid("content.type", f"unsupported content type {kind!r} for this model")
    if len(roles) == 1 and roles[0] is None:
        roles = ["first_frame"]  # a single image may omit its role (Ark's model docs)
    if any(r is None for r in roles):
        return invalid("content.role", "every image needs a role when several are given")
    return " ".join(texts), [r for r in roles if r is not None]


def _scenario(roles: list[str], info: ModelInfo, model: str) -> str | Rejection:
    refs = roles.count("reference_image")
    firsts, lasts = roles.count("first_frame"), roles.count("last_frame")
    if refs and (firsts or lasts):
        return invalid("content", _MIXED)
    if refs:
        if refs > 4:
            return invalid("content", "at most 4 reference images are allowed")
        scenario, allowed = "reference_images", info.reference_images
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


def parse_ark_body(body: Any, rng: random.Random) -> GenParams | Rejection:
    """Validate an Ark create body and resolve its effective parameters.

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
    prompt, roles = parsed
    scenario = _scenario(roles, info, model)
    if isinstance(scenario, Rejection):
        return scenario
    if scenario == "text" and not prompt.strip():
        return missing("content.text")
    values: dict[str, Any] = {}
    for name in ("duration", "frames", "seed", "execution_expires_after", "priority"):
        values[name] = _int(body, name)
    for name in ("return_last_frame", "generate_audio", "camera_fixed", "watermark", "draft"):
        values[name] = _bool(body, name)
    for name in ("resolution", "ratio", "service_tier", "callback_url"):
        values[name] = _str(body, name)
    for value in values.values():
        if isinstance(value, Rejection):
            return value
    problem = _check_values(values, info, scenario)
    if problem is not None:
        return problem
    for name, value in parse_suffix(prompt).items():
        if values.get(name) is None:
            trial = {**values, name: value}
            if _check_values(trial, info, scenario) is None:
                values = trial
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
    )


def _check_values(values: Mapping[str, Any], info: ModelInfo, scenario: str) -> Rejection | None:
    refs = scenario == "reference_images"
    resolution, ratio = values["resolution"], values["ratio"]
    if resolution is not None and resolution not in RESOLUTIONS:
        return invalid("resolution", f"{resolution!r} is not one of 480p, 720p, 1080p")
    if resolution == "1080p" and refs:
        return invalid("resolution", "1080p is not supported with reference images")
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
    expires = values["execution_expires_after"]
    if expires is not None and not 3600 <= expires <= 259_200:
        return invalid("execution_expires_after", "must be within [3600, 259200] seconds")
    return None
