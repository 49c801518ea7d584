"""What a provider can be sent: a spec's violations of its capabilities and its model ids."""

from __future__ import annotations

from collections.abc import Iterator

from seedance_async.core._errors import Violation
from seedance_async.core._warn import warn_caller
from seedance_async.providers._protocol import ProviderCapabilities
from seedance_async.spec._catalog import (
    RetiredModelWarning,
    model_capabilities,
    model_deprecation,
    model_for_provider,
)
from seedance_async.spec._rules import scenario_of
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import OPTIONAL_FIELDS

__all__ = ["check_capabilities", "model_violations"]


def _harmless(value: object) -> bool:
    # An explicit false or "default" equals the provider's own default, so a provider that
    # cannot send the field still produces exactly what was asked.
    return value is False or value == "default"


def check_capabilities(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> list[Violation]:
    """Violations of what a provider's wire format can express.

    A field refused by a specific rule (``frames`` when ``caps.frames`` is False) is not
    reported a second time for being missing from ``caps.fields``.
    """
    out: list[Violation] = []
    for violation in _capability_violations(provider, caps, task):
        if violation.field in _OPTIONAL_FIELDS and any(v.field == violation.field for v in out):
            continue
        out.append(violation)
    return out


def _capability_violations(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> Iterator[Violation]:
    scenario = scenario_of(task)
    if scenario == "reference_images" and not caps.reference_images:
        yield Violation(
            field="images",
            rule=f"provider {provider} cannot send reference images",
            value=len(task.images),
        )
    if scenario == "first_last_frame" and not caps.first_last_frame:
        yield Violation(
            field="images", rule=f"provider {provider} cannot send a last frame", value="last_frame"
        )
    if not caps.inline_images:
        for n, image in enumerate(task.images):
            if image.url is None or image.url.startswith("data:"):
                yield Violation(
                    field=f"images[{n}]",
                    rule=f"provider {provider} takes image URLs only (no inline data or local files)",
                    value=image.path or "inline data",
                )
    if task.seed is not None and not caps.seed_min <= task.seed <= caps.seed_max:
        yield Violation(
            field="seed",
            rule=f"provider {provider} takes seed within [{caps.seed_min}, {caps.seed_max}]",
            value=task.seed,
        )
    if task.frames is not None and not caps.frames:
        yield Violation(
            field="frames",
            rule=f"provider {provider} cannot send frames (use duration)",
            value=task.frames,
        )
    if (
        task.duration is not None
        and caps.durations is not None
        and task.duration not in caps.durations
    ):
        allowed = ", ".join(str(d) for d in sorted(caps.durations))
        yield Violation(
            field="duration",
            rule=f"provider {provider} takes duration {allowed}",
            value=task.duration,
        )
    if task.ratio is not None and task.ratio not in caps.ratios:
        allowed = ", ".join(sorted(r.value for r in caps.ratios))
        yield Violation(
            field="ratio", rule=f"provider {provider} takes ratio {allowed}", value=task.ratio.value
        )
    if caps.max_prompt_chars is not None and len(task.prompt) > caps.max_prompt_chars:
        yield Violation(
            field="prompt",
            rule=f"provider {provider} takes at most {caps.max_prompt_chars} prompt characters",
            value=f"{len(task.prompt)} characters",
        )
    if caps.models is not None:
        family = model_capabilities(task.model)
        if family is not None and family.family not in caps.models:
            yield Violation(
                field="model",
                rule=f"provider {provider} does not offer model {family.family}",
                value=task.model,
            )
    yield from _media_capability_violations(provider, caps, task)
    # frames is reported above with its own rule when the provider cannot send it.
    for name in sorted(_OPTIONAL_FIELDS - caps.fields - {"frames"}):
        value = getattr(task, name)
        if value is not None and not _harmless(value):
            yield Violation(field=name, rule=f"provider {provider} cannot send {name}", value=value)


_OPTIONAL_FIELDS = frozenset(OPTIONAL_FIELDS)


def _media_capability_violations(
    provider: str, caps: ProviderCapabilities, task: VideoTask
) -> Iterator[Violation]:
    if task.videos and not caps.reference_videos:
        yield Violation(
            field="videos",
            rule=f"provider {provider} cannot send reference videos",
            value=len(task.videos),
        )
    elif task.videos:
        for n, video in enumerate(task.videos):
            if video.url is None:
                yield Violation(
                    field=f"videos[{n}]",
                    rule=f"provider {provider} takes reference videos as http(s) URLs or "
                    "asset ids only: upload local files first (an uploader)",
                    value=video.path or "inline data",
                )
    if task.audios and not caps.reference_audios:
        yield Violation(
            field="audios",
            rule=f"provider {provider} cannot send reference audio",
            value=len(task.audios),
        )
    elif task.audios and not caps.inline_audios:
        for n, audio in enumerate(task.audios):
            if audio.url is None or audio.url.startswith("data:"):
                yield Violation(
                    field=f"audios[{n}]",
                    rule=f"provider {provider} takes reference audio as URLs only "
                    "(no inline data or local files)",
                    value=audio.path or "inline data",
                )
    if task.tools and not caps.tools:
        yield Violation(
            field="tools", rule=f"provider {provider} cannot send tools", value=list(task.tools)
        )
    for key in sorted(set(task.extra) & caps.body_fields):
        yield Violation(
            field=f"extra.{key}",
            rule=f"provider {provider} writes {key} itself; extra may not override it",
            value=key,
        )


def model_violations(provider: str, naming: str, task: VideoTask) -> list[Violation]:
    """A retired model, or a neutral name without an id under the provider's ``naming``;
    a model the provider has announced it will retire is a :class:`RetiredModelWarning`."""
    if model_capabilities(task.model) is None:
        return []
    notice = model_deprecation(task.model, naming)
    if notice is not None:
        warn_caller(f"provider {provider}: {notice}", RetiredModelWarning)
    _, problem = model_for_provider(task.model, naming)
    if problem is None:
        return []
    return [Violation(field="model", rule=f"provider {provider}: {problem}", value=task.model)]
