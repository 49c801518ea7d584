"""The files of a succeeded task: its video, then the last frame it was asked for.

The video is what was paid for: when only the last frame cannot be downloaded, the video
stays saved and the outcome says which file failed, instead of discarding both. Files
already at their destination can be kept (a download writes a destination only once it is
whole), so saving again after a partial failure fetches only what is missing; a file that
is visibly cut short (an MP4 whose boxes do not add up to its size, a PNG without its end
chunk: what versions before length checks could leave) is downloaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import attrs

from seedance_async.client._client import Client
from seedance_async.core._errors import InvalidTaskSpec, ProviderError
from seedance_async.spec._handle import DownloadPart, TaskHandle
from seedance_async.spec._status import TaskStatus
from seedance_async.transport._download import DownloadResult

__all__ = ["SavedFiles", "looks_whole", "save_task_files"]

DownloadFailure = ProviderError | InvalidTaskSpec | OSError
"""What a download can end with: a storage or URL problem, no URL at all, the local disk."""


@attrs.frozen(kw_only=True)
class SavedFiles:
    """What :func:`save_task_files` saved, and what it could not.

    Attributes:
        video: the video, when saved (or already there).
        last_frame: the last frame, when asked for and saved (or already there).
        failed: the file that could not be saved (``video``: none was; ``last_frame``: the
            video was), or None.
        error: why it could not.
    """

    video: DownloadResult | None = None
    last_frame: DownloadResult | None = None
    failed: DownloadPart | None = None
    error: DownloadFailure | None = None

    @property
    def reason(self) -> str | None:
        """The failure in words, for a result's ``reason``; None when every file was saved."""
        if self.failed == "video":
            return f"video download failed: {self.error}"
        if self.failed == "last_frame":
            return f"last frame download failed (the video is saved): {self.error}"
        return None


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def looks_whole(path: Path) -> bool:
    """False when ``path`` is missing or an MP4 or PNG visibly cut short; other files pass.

    Reads box headers only (a few bytes per top-level MP4 box), never the whole file.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(8)
            if head[4:8] == b"ftyp":
                return _boxes_fill(file, size)
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                file.seek(max(0, size - len(_PNG_END)))
                return file.read() == _PNG_END
    except OSError:
        return False
    return size > 0


def _boxes_fill(file: IO[bytes], size: int) -> bool:
    # ISO/IEC 14496-12 §4.2: a 32-bit size, 1 = a 64-bit size follows, 0 = up to the end.
    at = 0
    while at < size:
        file.seek(at)
        header = file.read(16)
        if len(header) < 8:
            return False
        box = int.from_bytes(header[:4], "big")
        if box == 0:
            return True
        if box == 1:
            if len(header) < 16:
                return False
            box = int.from_bytes(header[8:16], "big")
        if box < 8:
            return False
        at += box
    return at == size


def _present(dest: Path) -> DownloadResult | None:
    # A destination only ever receives whole files (the rename comes last), so one that is
    # there is done unless an older version left it cut short.
    if not looks_whole(dest):
        return None
    size = dest.stat().st_size
    return DownloadResult(path=dest, size=size, content_type=None, attempts=0)


async def save_task_files(
    client: Client,
    status: TaskStatus,
    *,
    video: Path,
    last_frame: Path | None,
    handle: TaskHandle | None = None,
    keep_existing: bool = False,
) -> SavedFiles:
    """Download a succeeded task's video to ``video`` and, when asked, its last frame.

    Args:
        client: the client whose download session, retries and URL refreshes are used.
        status: the succeeded status (its URLs; a fresh one is asked for when they expired).
        video: where the video goes.
        last_frame: where the last frame goes; None when the task did not ask for one. A
            status without a last frame URL saves none.
        handle: the remote task, to ask for fresh URLs.
        keep_existing: a destination that already holds a file is not downloaded again.

    Returns:
        What was saved; failures are reported in it, never raised (cancellation aside).
    """
    try:
        saved_video = (keep_existing and _present(video)) or await client.download(
            status, video, handle=handle
        )
    except (ProviderError, InvalidTaskSpec, OSError) as exc:
        return SavedFiles(failed="video", error=exc)
    if last_frame is None or not status.last_frame_url:
        return SavedFiles(video=saved_video)
    try:
        saved_frame = (keep_existing and _present(last_frame)) or await client.download(
            status, last_frame, last_frame=True, handle=handle
        )
    except (ProviderError, InvalidTaskSpec, OSError) as exc:
        return SavedFiles(video=saved_video, failed="last_frame", error=exc)
    return SavedFiles(video=saved_video, last_frame=saved_frame)
