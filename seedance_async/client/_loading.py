"""Reading local image and audio files into the spec, off the event loop.

Local reference videos are not read here: no provider takes video inline, so they go to an
uploader, which turns them into URLs.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import attrs

from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image

__all__ = ["load_local_images"]


def _read(task: VideoTask) -> VideoTask:
    images = [
        Image(data=Path(i.path).read_bytes(), role=i.role)
        if i.is_local and i.path is not None
        else i
        for i in task.images
    ]
    audios = [
        Audio(data=Path(a.path).read_bytes()) if a.is_local and a.path is not None else a
        for a in task.audios
    ]
    return attrs.evolve(task, images=images, audios=audios)


async def load_local_images(task: VideoTask) -> VideoTask:
    """The same task with every local-path image and audio clip replaced by its bytes.

    Adapters are pure and cannot read files, so this runs once per task before a request is
    built, in a worker thread. The original task (with paths) keeps its spec hash.

    Raises:
        OSError: a file cannot be read.
        InvalidTaskSpec: a file's bytes break an image rule.
    """
    if not any(i.is_local for i in task.images) and not any(a.is_local for a in task.audios):
        return task
    return await anyio.to_thread.run_sync(_read, task)
