"""The Seedance 2.x rules: reference videos and audio, and the fields 2.x added or dropped.

Checked on construction, with the rest of :mod:`seedance_async.spec._rules`:

* :func:`check_media` - sources, URL schemes, counts per kind, the exclusive scenarios
  (first/last frames never beside reference media) and audio-only references;
* :func:`check_generation_fields` - the values of ``tools``, ``priority``,
  ``safety_identifier``, ``draft``, ``omni_reference_task_type``, ``output_format``, the
  fields a model does not take (``camera_fixed``, ``service_tier``, ``seed``... on 2.x),
  and ``extra`` (it may never name a field the library sends itself).

Local files are read by :mod:`seedance_async.spec._media_files`, not here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from seedance_async.core._errors import Violation
from seedance_async.spec._catalog import ModelCapabilities, universal_rules
from seedance_async.spec._vocab import (
    ASSET_SCHEME,
    OPTIONAL_FIELDS,
    OUTPUT_FORMAT_NAMES,
    TASK_TYPE_NAMES,
    TOOL_NAMES,
    Audio,
    ImageRole,
    Ratio,
    Resolution,
    ServiceTier,
    TaskFields,
    Video,
)

__all__ = ["RESERVED_BODY_FIELDS", "check_generation_fields", "check_media"]

RESERVED_BODY_FIELDS: frozenset[str] = frozenset({"model", "content", "tools", *OPTIONAL_FIELDS})
"""Body fields the library writes itself: ``extra`` may not name them."""


def _source_violations(
    kind: str, items: Sequence[Video | Audio], schemes: tuple[str, ...], forms: str
) -> Iterator[Violation]:
    what = kind[:-1]
    for n, item in enumerate(items):
        if item.source_count != 1:
            yield Violation(
                field=f"{kind}[{n}]",
                rule=f"a reference {what} needs exactly one source: url, path or data",
                value=f"{item.source_count} sources",
            )
        if item.url is not None and (not item.url.startswith(schemes) or item.url == ASSET_SCHEME):
            yield Violation(
                field=f"{kind}[{n}].url", rule=f"{what} url must be {forms}", value=item.url[:80]
            )


def check_media(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    """Violations of the reference video and audio rules (no bytes read)."""
    yield from _source_violations(
        "videos",
        task.videos,
        ("https://", "http://", ASSET_SCHEME),
        "an http(s) URL or asset://<id> (no inline data: upload it)",
    )
    yield from _source_violations(
        "audios",
        task.audios,
        ("https://", "http://", ASSET_SCHEME, "data:"),
        "an http(s) URL, a data:audio/<format>;base64 URL or asset://<id>",
    )
    for n, audio in enumerate(task.audios):
        url = audio.url
        if (url is not None and url.startswith("data:")) and (
            not url.startswith("data:audio/") or ";base64," not in url
        ):
            yield Violation(
                field=f"audios[{n}].url",
                rule="an inline audio URL must be data:audio/<format>;base64,...",
                value=url[:40],
            )
    rules = universal_rules()
    nv, na = len(task.videos), len(task.audios)
    if nv > rules.max_reference_videos:
        yield Violation(
            field="videos", rule=f"at most {rules.max_reference_videos} reference videos", value=nv
        )
    if na > rules.max_reference_audios:
        yield Violation(
            field="audios",
            rule=f"at most {rules.max_reference_audios} reference audio clips",
            value=na,
        )
    if not (nv or na):
        return
    frames = [
        i.role.value for i in task.images if i.role in (ImageRole.FIRST_FRAME, ImageRole.LAST_FRAME)
    ]
    if frames:
        yield Violation(
            field="images",
            rule="first/last frame images cannot be mixed with reference videos or audio "
            "(the scenarios are exclusive: give the images role reference_image)",
            value=frames,
        )
    if caps is None:
        return
    if nv and not caps.max_reference_videos:
        yield Violation(
            field="videos", rule=f"model {caps.family} takes no reference videos", value=nv
        )
    elif caps.max_reference_videos < nv <= rules.max_reference_videos:
        yield Violation(
            field="videos",
            rule=f"model {caps.family} takes at most {caps.max_reference_videos} reference videos",
            value=nv,
        )
    if na and not caps.max_reference_audios:
        yield Violation(
            field="audios", rule=f"model {caps.family} takes no reference audio", value=na
        )
    elif caps.max_reference_audios < na <= rules.max_reference_audios:
        yield Violation(
            field="audios",
            rule=f"model {caps.family} takes at most {caps.max_reference_audios} reference audio clips",
            value=na,
        )
    refs = len(task.images_with(ImageRole.REFERENCE_IMAGE))
    if na and not nv and not refs and caps.max_reference_audios and not caps.audio_only_references:
        yield Violation(
            field="audios",
            rule=f"model {caps.family} needs a reference image or video beside reference audio",
            value=na,
        )


def _not_taken(
    task: TaskFields, caps: ModelCapabilities, name: str, takes: bool
) -> Iterator[Violation]:
    value = getattr(task, name)
    if value is None or takes:
        return
    shown = value.value if isinstance(value, ServiceTier) else value
    yield Violation(field=name, rule=f"model {caps.family} does not take {name}", value=shown)


def check_generation_fields(
    task: TaskFields, caps: ModelCapabilities | None
) -> Iterator[Violation]:
    """Violations of the values and per-model support of the fields 2.x changed."""
    rules = universal_rules()
    seen: set[str] = set()
    for n, tool in enumerate(task.tools):
        if tool not in TOOL_NAMES:
            yield Violation(
                field=f"tools[{n}]",
                rule=f"expected one of {', '.join(TOOL_NAMES)}",
                value=tool,
            )
        elif tool in seen:
            yield Violation(field=f"tools[{n}]", rule="each tool at most once", value=tool)
        seen.add(str(tool))
    p = task.priority
    if p is not None and (
        isinstance(p, bool)
        or not isinstance(p, int)
        or not rules.priority_min <= p <= rules.priority_max
    ):
        yield Violation(
            field="priority",
            rule=f"priority is an integer within [{rules.priority_min}, {rules.priority_max}]",
            value=p,
        )
    sid = task.safety_identifier
    if sid is not None and not (
        isinstance(sid, str) and 0 < len(sid) <= rules.safety_identifier_max_chars
    ):
        yield Violation(
            field="safety_identifier",
            rule=f"safety_identifier is 1 to {rules.safety_identifier_max_chars} characters "
            "(a hash of your user's id is recommended)",
            value=f"{len(sid)} characters" if isinstance(sid, str) else sid,
        )
    if (
        task.omni_reference_task_type is not None
        and task.omni_reference_task_type not in TASK_TYPE_NAMES
    ):
        yield Violation(
            field="omni_reference_task_type",
            rule=f"expected one of {', '.join(TASK_TYPE_NAMES)}",
            value=task.omni_reference_task_type,
        )
    if task.output_format is not None and task.output_format not in OUTPUT_FORMAT_NAMES:
        yield Violation(
            field="output_format",
            rule=f"expected one of {', '.join(OUTPUT_FORMAT_NAMES)}",
            value=task.output_format,
        )
    if task.draft:
        yield from _draft_violations(task)
    if task.from_draft is not None:
        yield from _final_violations(task, caps)
    yield from _task_type_violations(task)
    yield from _extra_violations(task)
    if caps is None:
        return
    yield from _not_taken(task, caps, "camera_fixed", caps.camera_fixed)
    yield from _not_taken(task, caps, "service_tier", caps.service_tier)
    yield from _not_taken(task, caps, "draft", caps.draft)
    yield from _not_taken(task, caps, "priority", caps.priority)
    yield from _not_taken(task, caps, "safety_identifier", caps.safety_identifier)
    yield from _not_taken(task, caps, "omni_reference_task_type", caps.omni_reference_task_type)
    yield from _not_taken(task, caps, "output_format", caps.output_format)
    if task.seed is not None and not caps.seed:
        yield Violation(
            field="seed",
            rule=f"model {caps.family} does not take seed (the providers' documents disagree; "
            "the catalog refuses it until confirmed)",
            value=task.seed,
        )
    for n, tool in enumerate(task.tools):
        if tool in TOOL_NAMES and tool not in caps.tools:
            yield Violation(
                field=f"tools[{n}]", rule=f"model {caps.family} cannot use tool {tool}", value=tool
            )


def _draft_violations(task: TaskFields) -> Iterator[Violation]:
    if task.resolution is not None and task.resolution is not Resolution.P480:
        yield Violation(
            field="resolution", rule="a draft renders at 480p", value=task.resolution.value
        )
    if task.return_last_frame:
        yield Violation(
            field="return_last_frame", rule="a draft has no last frame to return", value=True
        )
    if task.service_tier is ServiceTier.FLEX:
        yield Violation(field="service_tier", rule="a draft cannot run on flex", value="flex")


# What a final reuses from its draft (Ark's draft flow): sending them again is at best
# ignored, at worst refused (2.5), so a final never sets them.
_REUSED_BY_FINAL = ("seed", "ratio", "duration", "frames", "generate_audio", "camera_fixed")


def _final_violations(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    draft_id = task.from_draft
    if not isinstance(draft_id, str) or not draft_id.strip():
        yield Violation(field="from_draft", rule="the draft's task id, non-empty", value=draft_id)
    if caps is not None and not caps.draft:
        yield Violation(
            field="from_draft",
            rule=f"model {caps.family} makes no drafts, so no finals from one",
            value=draft_id,
        )
    if task.draft:
        yield Violation(field="draft", rule="a final made from a draft is not a draft", value=True)
    reused = "a final reuses its draft's prompt and media"
    if task.prompt:
        yield Violation(field="prompt", rule=reused, value=task.prompt[:40])
    for name in ("images", "videos", "audios"):
        count = len(getattr(task, name))
        if count:
            yield Violation(field=name, rule=reused, value=count)
    if task.tools:
        yield Violation(field="tools", rule=reused, value=list(task.tools))
    for name in _REUSED_BY_FINAL:
        value = getattr(task, name)
        if value is not None:
            yield Violation(field=name, rule=f"a final reuses its draft's {name}", value=value)


def _task_type_violations(task: TaskFields) -> Iterator[Violation]:
    kind = task.omni_reference_task_type
    if kind not in ("edit", "extend"):
        return
    if not task.videos:
        yield Violation(
            field="omni_reference_task_type",
            rule=f"{kind} needs a reference video",
            value=kind,
        )
    if task.ratio is not None and task.ratio is not Ratio.ADAPTIVE:
        yield Violation(
            field="ratio", rule=f"{kind} needs ratio adaptive (or unset)", value=task.ratio.value
        )
    if kind == "edit" and task.duration is not None and task.duration != -1:
        yield Violation(
            field="duration", rule="edit needs duration -1 (or unset)", value=task.duration
        )


def _extra_violations(task: TaskFields) -> Iterator[Violation]:
    extra = task.extra
    bad_keys = [k for k in extra if not isinstance(k, str)]
    if bad_keys:
        yield Violation(field="extra", rule="extra keys must be strings", value=bad_keys[:3])
        return
    for key in sorted(extra):
        if key in RESERVED_BODY_FIELDS:
            yield Violation(
                field=f"extra.{key}",
                rule="extra may not set a field the library sends itself"
                + ("" if key in ("model", "content") else f" (use the task's {key})"),
                value=key,
            )
    try:
        json.dumps(dict(extra))
    except (TypeError, ValueError) as exc:
        yield Violation(field="extra", rule=f"extra must be JSON-serialisable ({exc})", value=None)
