"""Every documented rule of a Seedance task, checked before any request.

The numbers (limits, ranges, per-model abilities) are data in ``catalog/seedance.toml``;
the rules that are logic are here. Three layers:

* universal rules, for every model (a model id we do not know gets only these, plus an
  :class:`UnknownModelWarning`, so a new model is never blocked);
* per-model rules from the capability table (:mod:`seedance_async.spec._catalog`);
* per-provider rules (what an adapter can express) and local-file rules, checked by
  :func:`validate` because they need an adapter or disk reads.

The image rules (sources, roles, bytes, files, the body limit) are in
:mod:`seedance_async.spec._image_rules`; this module runs them with the rest.
All violations are collected and raised together in one :class:`InvalidTaskSpec`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.core._warn import warn_caller
from seedance_async.spec._catalog import ModelCapabilities, model_capabilities, universal_rules
from seedance_async.spec._image_rules import (
    check_images,
    check_inline_images,
)
from seedance_async.spec._media_files import check_inline_media
from seedance_async.spec._media_rules import check_generation_fields, check_media
from seedance_async.spec._vocab import ImageRole, Ratio, Resolution, TaskFields

__all__ = [
    "REFERENCE_SCENARIOS",
    "UnknownModelWarning",
    "check_task",
    "collect_violations",
    "scenario_of",
]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


class UnknownModelWarning(UserWarning):
    """The model id is not in the capability table; only universal rules were checked."""


def scenario_of(task: TaskFields) -> str:
    """``text``, ``first_frame``, ``first_last_frame``, ``reference_images`` (reference
    images only) or ``multimodal_reference`` (reference videos or audio, images optional)."""
    if task.videos or task.audios:
        return "multimodal_reference"
    roles = {i.role for i in task.images}
    if not roles:
        return "text"
    if ImageRole.REFERENCE_IMAGE in roles:
        return "reference_images"
    if ImageRole.LAST_FRAME in roles:
        return "first_last_frame"
    return "first_frame"


REFERENCE_SCENARIOS = frozenset({"reference_images", "multimodal_reference"})


def check_task(task: TaskFields) -> None:
    """Raise :class:`InvalidTaskSpec` if the task breaks a universal or per-model rule."""
    violations = collect_violations(task)
    if violations:
        raise InvalidTaskSpec(violations)


def collect_violations(task: TaskFields) -> list[Violation]:
    """Every universal and per-model violation of a task (no disk reads, no provider)."""
    # A blank id is a violation of its own below, not an unknown model worth a warning.
    named = bool(task.model.strip())
    caps = model_capabilities(task.model) if named else None
    if named and caps is None:
        warn_caller(
            f"model {task.model!r} is not in the capability table; only universal rules "
            "are checked",
            UnknownModelWarning,
        )
    out: list[Violation] = []
    out += _check_model_and_prompt(task)
    out += check_images(task)
    out += _check_scenario(task, caps)
    out += _check_output(task, caps)
    out += _check_options(task, caps)
    out += _check_metadata(task)
    out += check_media(task, caps)
    out += check_generation_fields(task, caps)
    out += check_inline_images(task, caps)
    out += check_inline_media(task, caps)
    return out


def _check_model_and_prompt(task: TaskFields) -> Iterator[Violation]:
    if not task.model.strip():
        yield Violation(field="model", rule="model id must be a non-empty string", value=task.model)
    rules = universal_rules()
    prompt = task.prompt
    if not task.images and not prompt.strip() and task.from_draft is None:
        yield Violation(field="prompt", rule="text-to-video needs a non-empty prompt", value=prompt)
    words = len(prompt.split())
    if words > rules.prompt_max_words:
        yield Violation(
            field="prompt",
            rule=f"prompt must be at most {rules.prompt_max_words} words",
            value=f"{words} words",
        )
    cjk = len(_CJK.findall(prompt))
    if cjk > rules.prompt_max_cjk_chars:
        yield Violation(
            field="prompt",
            rule=f"Chinese/Japanese/Korean prompt text must be at most {rules.prompt_max_cjk_chars} characters",
            value=f"{cjk} characters",
        )


def _check_scenario(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    scenario = scenario_of(task)
    if caps is None:
        return
    if scenario in REFERENCE_SCENARIOS:
        if task.resolution is Resolution.P1080 and not caps.reference_1080p:
            yield Violation(
                field="resolution",
                rule="1080p is not supported with reference images",
                value="1080p",
            )
        if task.camera_fixed and caps.camera_fixed and not caps.reference_camera_fixed:
            yield Violation(
                field="camera_fixed",
                rule="camera_fixed is not supported with reference images",
                value=True,
            )
        if task.ratio is Ratio.ADAPTIVE and not caps.reference_adaptive:
            yield Violation(
                field="ratio",
                rule="ratio=adaptive is not supported with reference images",
                value="adaptive",
            )
    supported = {
        "text": caps.text_to_video,
        "first_frame": caps.first_frame,
        "first_last_frame": caps.first_last_frame,
        "reference_images": caps.reference_images,
        # Checked per kind of media by the media rules, which name the kind.
        "multimodal_reference": True,
    }[scenario]
    if not supported:
        yield Violation(
            field="images" if scenario != "text" else "model",
            rule=f"model {caps.family} does not support the {scenario.replace('_', ' ')} scenario",
            value=task.model,
        )
    if scenario in REFERENCE_SCENARIOS and caps.reference_images:
        # Count reference images only, and leave counts above the universal limit to the
        # universal rule so one mistake is reported once.
        refs = len(task.images_with(ImageRole.REFERENCE_IMAGE))
        if caps.max_reference_images < refs <= universal_rules().max_reference_images:
            yield Violation(
                field="images",
                rule=f"model {caps.family} takes 1 to {caps.max_reference_images} reference images",
                value=refs,
            )
    if scenario == "text" and task.ratio is Ratio.ADAPTIVE and not caps.adaptive_text_to_video:
        yield Violation(
            field="ratio",
            rule=f"ratio=adaptive needs an input image on model {caps.family}",
            value="adaptive",
        )


def _check_output(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    if task.duration is not None and task.frames is not None:
        yield Violation(
            field="frames", rule="set either duration or frames, not both", value=task.frames
        )
    if task.frames is not None:
        f = task.frames
        low, high = universal_rules().frames_min, universal_rules().frames_max
        if not (low <= f <= high and (f - 25) % 4 == 0):
            yield Violation(
                field="frames", rule=f"frames = 25 + 4n within [{low}, {high}]", value=f
            )
        if caps is not None and not caps.frames:
            yield Violation(
                field="frames", rule=f"model {caps.family} does not support frames", value=f
            )
    if task.duration is not None:
        d = task.duration
        if caps is None:
            if d != -1 and d < 1:
                yield Violation(
                    field="duration",
                    rule="duration is -1 (model picks) or at least 1 second",
                    value=d,
                )
        else:
            auto_ok = caps.auto_duration and d == -1
            if not auto_ok and not caps.min_duration <= d <= caps.max_duration:
                extra = " or -1" if caps.auto_duration else ""
                yield Violation(
                    field="duration",
                    rule=f"model {caps.family} takes duration in [{caps.min_duration}, {caps.max_duration}]{extra} seconds",
                    value=d,
                )
    if caps is not None and task.resolution is not None and task.resolution not in caps.resolutions:
        allowed = ", ".join(sorted(r.value for r in caps.resolutions))
        yield Violation(
            field="resolution",
            rule=f"model {caps.family} supports resolution {allowed}",
            value=task.resolution.value,
        )


def _check_metadata(task: TaskFields) -> Iterator[Violation]:
    # Metadata is never sent, but it is dumped by to_dict/spec_hash and kept in journals,
    # so it must be a JSON object; otherwise spec_hash() would crash later.
    bad_keys = [k for k in task.metadata if not isinstance(k, str)]
    if bad_keys:
        yield Violation(field="metadata", rule="metadata keys must be strings", value=bad_keys[:3])
        return
    try:
        json.dumps(dict(task.metadata), sort_keys=True)
    except (TypeError, ValueError) as exc:
        yield Violation(
            field="metadata", rule=f"metadata must be JSON-serialisable ({exc})", value=None
        )


def _check_options(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    rules = universal_rules()
    if task.seed is not None and not rules.seed_min <= task.seed <= rules.seed_max:
        yield Violation(
            field="seed",
            rule=f"seed within [{rules.seed_min}, {_power_of_two(rules.seed_max)}]",
            value=task.seed,
        )
    if task.generate_audio and caps is not None and not caps.audio:
        yield Violation(
            field="generate_audio", rule=f"model {caps.family} cannot generate audio", value=True
        )
    e = task.execution_expires_after
    if e is not None and not rules.expires_min <= e <= rules.expires_max:
        yield Violation(
            field="execution_expires_after",
            rule=f"execution_expires_after within [{rules.expires_min}, {rules.expires_max}] seconds",
            value=e,
        )
    if task.callback_url is not None and not task.callback_url.startswith(("https://", "http://")):
        yield Violation(
            field="callback_url",
            rule="callback_url must be an http(s) URL",
            value=task.callback_url,
        )


def _power_of_two(n: int) -> str:
    """``2^32-1`` for 4294967295: how the documentation writes such bounds."""
    bits = (n + 1).bit_length() - 1
    return f"2^{bits}-1" if n > 1024 and n + 1 == 1 << bits else str(n)
