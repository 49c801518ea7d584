"""Local media of a task stored through an uploader, so the request carries URLs.

Which media go: local (or in-memory) reference videos always (no provider takes a video
inline), and images and audio clips where the provider cannot take them inline or the
caller asked for everything to be uploaded (``upload_all``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import anyio
import attrs

from seedance_async.core._errors import Violation
from seedance_async.providers._protocol import ProviderCapabilities
from seedance_async.spec._catalog import universal_rules
from seedance_async.spec._image_sniff import sniff_bytes, sniff_file
from seedance_async.spec._media_sniff import MediaInfo, sniff_media_bytes, sniff_media_file
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, Video
from seedance_async.upload._protocol import Upload, Uploader, call_uploader

__all__ = [
    "MediaKind",
    "Target",
    "as_uploaded",
    "missing_uploader",
    "to_upload",
    "upload_media",
    "url_lifetime",
]

MediaKind = Literal["images", "videos", "audios"]
Target = tuple[MediaKind, int]

# Never sent: it stands in for the URL an upload will give, so the provider's rules can be
# checked before anything is stored.
_PLACEHOLDER = "https://uploader.invalid/{kind}/{n}"
_WHAT: Mapping[MediaKind, str] = {"images": "image", "videos": "video", "audios": "audio clip"}
_MEDIA_TYPES = {
    ("video", "mp4"): "video/mp4",
    ("video", "mov"): "video/quicktime",
    ("audio", "mp4"): "audio/mp4",
    ("audio", "mov"): "audio/mp4",
    ("audio", "wav"): "audio/wav",
    ("audio", "mp3"): "audio/mpeg",
}


def url_lifetime(task: VideoTask, deadline: float | None) -> float:
    """Seconds a reference URL of ``task`` must stay fetchable.

    When a provider fetches reference media (at submit, or when the task leaves its queue)
    is not documented, so the URL must last as long as the task can: until its deadline,
    and never beyond the provider's expiry of a queued task.
    """
    expiry = float(task.execution_expires_after or universal_rules().expires_default)
    return expiry if deadline is None else max(0.0, min(deadline, expiry))


def _local(item: Image | Video | Audio) -> bool:
    return item.url is None and (item.path is not None or item.data is not None)


def to_upload(task: VideoTask, caps: ProviderCapabilities, *, upload_all: bool) -> list[Target]:
    """The media of ``task`` that must become URLs for a provider with ``caps``."""
    out: list[Target] = [("videos", n) for n, v in enumerate(task.videos) if _local(v)]
    if upload_all or not caps.inline_audios:
        out += [("audios", n) for n, a in enumerate(task.audios) if _local(a)]
    if upload_all or not caps.inline_images:
        out += [("images", n) for n, i in enumerate(task.images) if _local(i)]
    return out


def _with_urls(task: VideoTask, urls: Mapping[Target, str]) -> VideoTask:
    if not urls:
        return task
    images = [
        Image(url=urls[("images", n)], role=i.role) if ("images", n) in urls else i
        for n, i in enumerate(task.images)
    ]
    videos = [
        Video(url=urls[("videos", n)], role=v.role) if ("videos", n) in urls else v
        for n, v in enumerate(task.videos)
    ]
    audios = [
        Audio(url=urls[("audios", n)], role=a.role) if ("audios", n) in urls else a
        for n, a in enumerate(task.audios)
    ]
    return attrs.evolve(task, images=images, videos=videos, audios=audios)


def as_uploaded(task: VideoTask, targets: list[Target]) -> VideoTask:
    """``task`` as the provider will see it once ``targets`` are uploaded (placeholder URLs),
    to check the provider's rules before anything is stored."""
    return _with_urls(task, {(k, n): _PLACEHOLDER.format(kind=k, n=n) for k, n in targets})


def missing_uploader(targets: list[Target]) -> list[Violation]:
    """Why ``targets`` cannot be sent when no uploader is configured, one per field."""
    return [
        Violation(
            field=f"{kind}[{n}]",
            rule=f"a local {_WHAT[kind]} is sent as a URL here, which needs an uploader:"
            " Client(uploader=...), Tracker(uploader=...) or run --upload s3://BUCKET/PREFIX",
        )
        for kind, n in targets
    ]


def _item(task: VideoTask, target: Target) -> Image | Video | Audio:
    kind, n = target
    items: tuple[Image | Video | Audio, ...] = getattr(task, kind)
    return items[n]


def _content_type(kind: MediaKind, item: Image | Video | Audio) -> str:
    if kind == "images":
        info = sniff_file(item.path) if item.path is not None else sniff_bytes(item.data or b"")
        return f"image/{info.format}"
    media: MediaInfo = (
        sniff_media_file(item.path)
        if item.path is not None
        else sniff_media_bytes(item.data or b"")
    )
    return _MEDIA_TYPES.get((media.kind, media.container), "application/octet-stream")


async def upload_media(
    task: VideoTask, targets: list[Target], uploader: Uploader, *, valid_for: float
) -> VideoTask:
    """The same task with ``targets`` replaced by the uploader's URLs.

    Run after the task was validated, so every file is readable media of a known format.

    Raises:
        UploadError: naming the field and the file that could not be stored.
    """
    urls: dict[Target, str] = {}
    for target in targets:
        kind, n = target
        item = _item(task, target)
        content_type = await anyio.to_thread.run_sync(_content_type, kind, item)
        upload = Upload(
            content_type=content_type,
            valid_for=valid_for,
            field=f"{kind}[{n}]",
            path=item.path,
            data=item.data if item.path is None else None,
        )
        urls[target] = await call_uploader(uploader, upload)
    return _with_urls(task, urls)
