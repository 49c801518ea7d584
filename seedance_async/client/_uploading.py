"""Local media of a task stored through an uploader, so the request carries URLs."""

from __future__ import annotations

import anyio
import attrs

from seedance_async.spec._catalog import universal_rules
from seedance_async.spec._image_sniff import sniff_bytes, sniff_file
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image
from seedance_async.upload._protocol import Upload, Uploader, call_uploader

__all__ = ["needs_upload", "upload_media", "url_lifetime"]


def url_lifetime(task: VideoTask, deadline: float | None) -> float:
    """Seconds a reference URL of ``task`` must stay fetchable.

    When a provider fetches reference media (at submit, or when the task leaves its queue)
    is not documented, so the URL must last as long as the task can: until its deadline,
    and never beyond the provider's expiry of a queued task.
    """
    expiry = float(task.execution_expires_after or universal_rules().expires_default)
    return expiry if deadline is None else max(0.0, min(deadline, expiry))


def _stored_inline(image: Image) -> bool:
    return image.url is None and (image.path is not None or image.data is not None)


def needs_upload(task: VideoTask, *, images: bool) -> bool:
    """True when ``task`` has media that go through the uploader."""
    return images and any(_stored_inline(i) for i in task.images)


def _content_type(image: Image) -> str:
    info = sniff_file(image.path) if image.path is not None else sniff_bytes(image.data or b"")
    return f"image/{info.format}"


async def upload_media(
    task: VideoTask, uploader: Uploader, *, valid_for: float, images: bool
) -> VideoTask:
    """The same task with its local media replaced by the uploader's URLs.

    Run after the task was validated, so every file is a readable image of a known format.

    Raises:
        UploadError: naming the field and the file that could not be stored.
    """
    if not needs_upload(task, images=images):
        return task
    out: list[Image] = []
    for n, image in enumerate(task.images):
        if not _stored_inline(image):
            out.append(image)
            continue
        content_type = await anyio.to_thread.run_sync(_content_type, image)
        upload = Upload(
            content_type=content_type,
            valid_for=valid_for,
            field=f"images[{n}]",
            path=image.path,
            data=image.data if image.path is None else None,
        )
        out.append(Image(url=await call_uploader(uploader, upload), role=image.role))
    return attrs.evolve(task, images=out)
