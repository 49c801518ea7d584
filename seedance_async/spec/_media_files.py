"""Reference videos and audio checked from their headers: kind, container, codec, length,
frame rate, size and bytes, against the model's ``[media.*]`` limits in ``seedance.toml``.

* :func:`check_inline_media` - clips held in memory (``data``, ``data:audio`` URLs),
  checked on construction;
* :func:`check_local_media` - local files; they need disk reads, so they run from
  :func:`~seedance_async.validate` and the batch reader, not on construction.

Remote clips (URLs, ``asset://`` ids) are the provider's to fetch and are not read here.
A model the catalog does not know gets the readability and kind checks only.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator, Mapping

from seedance_async.core._errors import Violation
from seedance_async.spec._catalog import MediaLimits, ModelCapabilities, model_capabilities
from seedance_async.spec._media_sniff import (
    MediaInfo,
    NotMedia,
    sniff_media_bytes,
    sniff_media_file,
)
from seedance_async.spec._vocab import Audio, TaskFields, Video

__all__ = [
    "check_inline_media",
    "check_local_media",
    "check_probed_media",
    "inline_audio",
    "media_info_violations",
    "remote_media",
]

_KINDS = {"videos": "video", "audios": "audio"}
_WHAT = {"videos": "a video (MP4 or MOV)", "audios": "audio (WAV or MP3)"}


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def inline_audio(audio: Audio) -> tuple[bytes | None, str | None, str | None]:
    """(bytes, declared format, problem) of an in-memory clip: ``data`` or a data URL."""
    if audio.data is not None:
        return audio.data, None, None
    url = audio.url
    if url is None or not url.startswith("data:audio/"):
        return None, None, None
    head, _, payload = url.partition(";base64,")
    if not payload:
        return None, None, "an inline audio URL must be data:audio/<format>;base64,..."
    try:
        return base64.b64decode(payload, validate=True), head.removeprefix("data:audio/"), None
    except (binascii.Error, ValueError):
        return None, None, "the data URL's base64 payload is not valid base64"


def media_info_violations(
    field: str, kind: str, info: MediaInfo, size: int, limits: MediaLimits | None
) -> Iterator[Violation]:
    """Violations of one clip's header facts (``kind``: ``videos`` or ``audios``)."""
    if info.kind != _KINDS[kind]:
        yield Violation(
            field=field,
            rule=f"must be {_WHAT[kind]}; the file's header says {info.container} {info.kind}",
            value=info.container,
        )
        return
    if limits is None:
        return
    tolerance = limits.seconds_tolerance
    if kind == "videos":
        yield from _video_violations(field, info, size, limits, tolerance)
    else:
        if info.container not in limits.audio_formats:
            yield Violation(
                field=field,
                rule=f"audio must be {', '.join(sorted(limits.audio_formats))}",
                value=info.container,
            )
        if size > limits.audio_max_bytes:
            yield Violation(
                field=field,
                rule=f"audio must be at most {_mb(limits.audio_max_bytes)}",
                value=f"{size} bytes",
            )
        yield from _seconds(
            field,
            "audio",
            info.duration,
            limits.audio_min_seconds,
            limits.audio_max_seconds,
            tolerance,
        )


def _seconds(
    field: str, what: str, seconds: float | None, low: float, high: float, tolerance: float
) -> Iterator[Violation]:
    if seconds is None:
        yield Violation(field=field, rule=f"the {what}'s header gives no duration", value=None)
    elif not low <= seconds <= high + tolerance:
        yield Violation(
            field=field,
            rule=f"each reference {what} must last {low:g} to {high:g} s",
            value=f"{seconds:.2f} s",
        )


def _video_violations(
    field: str, info: MediaInfo, size: int, limits: MediaLimits, tolerance: float
) -> Iterator[Violation]:
    if info.container not in limits.video_formats:
        yield Violation(
            field=field,
            rule=f"video must be {', '.join(sorted(limits.video_formats))}",
            value=info.container,
        )
    if info.video_codec not in limits.video_codecs:
        yield Violation(
            field=field,
            rule=f"video codec must be {', '.join(sorted(limits.video_codecs))}",
            value=info.video_codec,
        )
    if size > limits.video_max_bytes:
        yield Violation(
            field=field,
            rule=f"video must be at most {_mb(limits.video_max_bytes)}",
            value=f"{size} bytes",
        )
    yield from _seconds(
        field, "video", info.duration, limits.video_min_seconds, limits.video_max_seconds, tolerance
    )
    if info.fps is not None and not limits.video_fps_min <= info.fps <= limits.video_fps_max:
        yield Violation(
            field=field,
            rule=f"video frame rate must be {limits.video_fps_min:g} to {limits.video_fps_max:g} fps",
            value=f"{info.fps:g} fps",
        )
    w, h = info.width, info.height
    if w is None or h is None:
        yield Violation(
            field=field, rule="the video's header gives no width and height", value=None
        )
        return
    if not (limits.video_side_min <= w <= limits.video_side_max) or not (
        limits.video_side_min <= h <= limits.video_side_max
    ):
        yield Violation(
            field=field,
            rule=f"video width and height must be {limits.video_side_min} to {limits.video_side_max} px",
            value=f"{w}x{h}",
        )
    if not limits.video_aspect_min <= w / h <= limits.video_aspect_max:
        yield Violation(
            field=field,
            rule=f"video aspect ratio (width/height) must be {limits.video_aspect_min:g} to {limits.video_aspect_max:g}",
            value=f"{w}x{h}",
        )
    if not limits.video_pixels_min <= w * h <= limits.video_pixels_max:
        yield Violation(
            field=field,
            rule=f"video width x height must be {limits.video_pixels_min} to {limits.video_pixels_max} pixels",
            value=f"{w}x{h}",
        )


def _totals(kind: str, seconds: list[float], limits: MediaLimits | None) -> Iterator[Violation]:
    if limits is None or not seconds:
        return
    total = sum(seconds)
    cap = limits.video_total_seconds if kind == "videos" else limits.audio_total_seconds
    each = limits.video_max_seconds if kind == "videos" else limits.audio_max_seconds
    if max(seconds) > each + limits.seconds_tolerance:
        return  # one clip too long is reported once, as itself
    if total > cap + limits.seconds_tolerance:
        what = "reference videos" if kind == "videos" else "reference audio clips"
        yield Violation(
            field=kind,
            rule=f"all {what} together must last at most {cap:g} s",
            value=f"{total:.2f} s",
        )


def _limits(caps: ModelCapabilities | None) -> MediaLimits | None:
    return None if caps is None else caps.media


def check_inline_media(task: TaskFields, caps: ModelCapabilities | None) -> Iterator[Violation]:
    """Violations of in-memory clips (video ``data``, audio ``data`` and data URLs)."""
    if not task.videos and not task.audios:
        return
    limits = _limits(caps)
    lengths: dict[str, list[float]] = {"videos": [], "audios": []}
    items: list[tuple[str, int, Video | Audio]] = [
        ("videos", n, v) for n, v in enumerate(task.videos)
    ]
    items += [("audios", n, a) for n, a in enumerate(task.audios)]
    for kind, n, item in items:
        declared = None
        if isinstance(item, Audio):
            raw, declared, problem = inline_audio(item)
            if problem is not None:
                yield Violation(field=f"{kind}[{n}].url", rule=problem, value=(item.url or "")[:40])
                continue
        else:
            raw = item.data
        if raw is None:
            continue
        field = f"{kind}[{n}]"
        try:
            info = sniff_media_bytes(raw)
        except NotMedia as exc:
            yield Violation(
                field=field, rule=f"must be {_WHAT[kind]} ({exc})", value=f"{len(raw)} bytes"
            )
            continue
        if declared is not None and declared not in (
            info.container,
            "mpeg" if info.container == "mp3" else "",
        ):
            yield Violation(
                field=f"{field}.url",
                rule="data URL format must match the audio bytes (data:audio/<lowercase format>)",
                value=f"declared {declared}, bytes are {info.container}",
            )
        yield from media_info_violations(field, kind, info, len(raw), limits)
        if info.duration is not None:
            lengths[kind].append(info.duration)
    # Totals need every clip; with local files among them the file check adds them up.
    if not any(i.is_local for _, _, i in items):
        for kind, seconds in lengths.items():
            yield from _totals(kind, seconds, limits)


def check_local_media(task: TaskFields) -> list[Violation]:
    """Violations of local clips, and of the totals over all clips whose length is known
    (reads headers; call off the event loop)."""
    caps = model_capabilities(task.model)
    limits = _limits(caps)
    out: list[Violation] = []
    has_local = False
    lengths: dict[str, list[float]] = {"videos": [], "audios": []}
    items: list[tuple[str, int, Video | Audio]] = [
        ("videos", n, v) for n, v in enumerate(task.videos)
    ]
    items += [("audios", n, a) for n, a in enumerate(task.audios)]
    for kind, n, item in items:
        info: MediaInfo | None = None
        if item.is_local and item.path is not None:
            has_local = True
            field = f"{kind}[{n}].path"
            try:
                size = os.path.getsize(item.path)
                info = sniff_media_file(item.path)
            except OSError as exc:
                out.append(
                    Violation(
                        field=field, rule=f"file must be readable ({exc.strerror})", value=item.path
                    )
                )
                continue
            except NotMedia as exc:
                out.append(
                    Violation(field=field, rule=f"must be {_WHAT[kind]} ({exc})", value=item.path)
                )
                continue
            out += media_info_violations(field, kind, info, size, limits)
        else:
            raw = inline_audio(item)[0] if isinstance(item, Audio) else item.data
            if raw is not None:
                try:
                    info = sniff_media_bytes(raw)
                except NotMedia:
                    continue  # reported on construction
        if info is not None and info.duration is not None:
            lengths[kind].append(info.duration)
    if has_local:
        for kind, seconds in lengths.items():
            out += _totals(kind, seconds, limits)
    return out


def remote_media(task: TaskFields) -> list[tuple[str, int, str]]:
    """(kind, index, url) of every reference clip a provider would fetch over http(s)."""
    return [
        (kind, n, item.url)
        for kind, n, item in _clips(task)
        if item.url is not None and item.url.startswith(("https://", "http://"))
    ]


def _clips(task: TaskFields) -> list[tuple[str, int, Video | Audio]]:
    out: list[tuple[str, int, Video | Audio]] = [
        ("videos", n, v) for n, v in enumerate(task.videos)
    ]
    out += [("audios", n, a) for n, a in enumerate(task.audios)]
    return out


def check_probed_media(
    task: TaskFields,
    probed: Mapping[tuple[str, int], tuple[MediaInfo | None, int | None, str | None]],
) -> list[Violation]:
    """Violations of remote clips from what their headers said (``probed``: (kind, index) →
    (facts, size, why they are refused)), and of the totals over every clip whose length is
    known (remote, inline and local)."""
    caps = model_capabilities(task.model)
    limits = _limits(caps)
    out: list[Violation] = []
    lengths: dict[str, list[float]] = {"videos": [], "audios": []}
    for kind, n, item in _clips(task):
        info: MediaInfo | None = None
        if (kind, n) in probed:
            info, size, refused = probed[(kind, n)]
            field = f"{kind}[{n}].url"
            if refused is not None:
                out.append(
                    Violation(
                        field=field,
                        rule=f"the reference must be readable {_WHAT[kind]} ({refused})",
                        value=(item.url or "")[:80],
                    )
                )
                continue
            if info is not None:
                out += media_info_violations(field, kind, info, size or 0, limits)
        else:
            info = _known_info(item)
        if info is not None and info.duration is not None:
            lengths[kind].append(info.duration)
    for kind, seconds in lengths.items():
        out += _totals(kind, seconds, limits)
    return out


def _known_info(item: Video | Audio) -> MediaInfo | None:
    try:
        if item.is_local and item.path is not None:
            return sniff_media_file(item.path)
        raw = inline_audio(item)[0] if isinstance(item, Audio) else item.data
        return None if raw is None else sniff_media_bytes(raw)
    except (OSError, NotMedia):
        return None  # reported by the local and inline checks
