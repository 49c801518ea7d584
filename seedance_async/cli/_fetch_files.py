"""The files of a batch's succeeded tasks that are not on disk yet, fetched from the journal
(``seedance-async download``, and a re-run of ``run --download`` for earlier results).

Only downloads happen here (and a status query when a result URL has expired): nothing is
ever created on a provider. A file already at its destination is whole (a download writes
there last, in one rename) and is left alone; a partial file beside it is continued with a
range request. Each task's journaled result is updated with what was saved, so ``results``
and the next run see it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import anyio
import attrs

from seedance_async.client._client import Client
from seedance_async.client._task_files import SavedFiles, looks_whole, save_task_files
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import ConfigurationError, ProviderError
from seedance_async.journal._record import JournalRecord
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.spec._handle import Outcome
from seedance_async.tracker._transitions import journaled_result

__all__ = ["FetchReport", "fetch_missing_files", "needs_files"]

_CONCURRENCY = 8

Verdict = Literal["present", "downloaded", "failed"]


@attrs.frozen(kw_only=True)
class FetchReport:
    """What a pass over succeeded tasks did, per key (in batch order)."""

    verdicts: Mapping[str, Verdict]
    lines: Sequence[str]

    def count(self, verdict: Verdict) -> int:
        """How many tasks ended with ``verdict``."""
        return sum(1 for v in self.verdicts.values() if v == verdict)

    def describe(self) -> str:
        """One summary line."""
        return (
            f"{len(self.verdicts)} succeeded tasks: {self.count('present')} already on disk,"
            f" {self.count('downloaded')} downloaded, {self.count('failed')} failed"
        )


def _files(record: JournalRecord, folder: Path) -> tuple[Path, Path | None]:
    frame = folder / f"{record.key}.last.png" if record.task.return_last_frame else None
    return folder / f"{record.key}.mp4", frame


def needs_files(row: Mapping[str, Any], folder: Path) -> bool:
    """A result line of a succeeded task whose files are not all in ``folder``."""
    if row.get("outcome") != Outcome.SUCCEEDED.value:
        return False
    key = str(row["key"])
    if row.get("download_failed") or not looks_whole(folder / f"{key}.mp4"):
        return True
    wanted_frame = bool(row.get("last_frame_url"))
    return wanted_frame and not looks_whole(folder / f"{key}.last.png")


async def fetch_missing_files(
    journal: SqliteJournal,
    keys: Sequence[str],
    folder: Path,
    catalog: Mapping[str, ProviderConfig],
    *,
    client_options: Mapping[str, Any] | None = None,
    note: Callable[[str], None] = print,
) -> FetchReport:
    """Download what is missing of the succeeded tasks ``keys`` into ``folder``.

    Args:
        journal: the batch journal; each task's result is updated with its files.
        keys: succeeded tasks of the journal.
        folder: where the files go, as ``<key>.mp4`` and ``<key>.last.png``.
        catalog: provider aliases, to ask for fresh URLs when they expired.
        client_options: extra :class:`Client` arguments (tests pass ``download_retry``).
        note: receives one line per task.

    Raises:
        ConfigurationError: a task was created with an alias the catalog lacks, or its key
            is missing.
    """
    records = [r for r in [await journal.get(k) for k in keys] if r is not None]
    records = [r for r in records if r.handle is not None and r.result is not None]
    verdicts: dict[str, Verdict] = {}
    lines: dict[str, str] = {}
    todo = []
    for record in records:
        if _on_disk(record, folder):
            verdicts[record.key] = "present"
            lines[record.key] = f"{record.key[:12]}: already on disk"
        else:
            todo.append(record)
    aliases = sorted({r.handle.provider for r in todo if r.handle is not None})
    unknown = [a for a in aliases if a not in catalog]
    if unknown:
        raise ConfigurationError(
            f"the journal has tasks created with provider {', '.join(unknown)}, which is not"
            " configured: pass the --config that defines it"
        )
    if todo:  # a client (and its keys) only when something must be fetched
        await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
        async with Client([catalog[a] for a in aliases], **(client_options or {})) as client:
            limiter = anyio.CapacityLimiter(_CONCURRENCY)

            async def one(record: JournalRecord) -> None:
                async with limiter:
                    verdict, line = await _fetch_one(client, journal, record, folder)
                verdicts[record.key], lines[record.key] = verdict, line
                note(line)

            async with anyio.create_task_group() as tg:
                for record in todo:
                    tg.start_soon(one, record)
    order = [r.key for r in records]
    return FetchReport(verdicts={k: verdicts[k] for k in order}, lines=[lines[k] for k in order])


def _on_disk(record: JournalRecord, folder: Path) -> bool:
    # The disk has every file and the journal's result already names them.
    result = record.result
    assert result is not None
    video = folder / f"{record.key}.mp4"
    frame_url = result.status.last_frame_url if result.status else None
    return (
        result.download_failed is None
        and result.video_path == str(video)
        and looks_whole(video)
        and (not frame_url or looks_whole(folder / f"{record.key}.last.png"))
    )


async def _fetch_one(
    client: Client, journal: SqliteJournal, record: JournalRecord, folder: Path
) -> tuple[Verdict, str]:
    assert record.handle is not None
    video, frame = _files(record, folder)
    result = journaled_result(record, record.task)
    status = result.status
    name = record.key[:12]
    if status is None or not status.video_url:
        try:  # an older journal without the final status: ask the provider once
            status = await client.provider(record.handle.provider).status(record.handle.task_id)
        except ProviderError as exc:
            return "failed", f"{name}: cannot read the task's result: {exc}"
    frame = frame if status.last_frame_url else None
    before = looks_whole(video) and (frame is None or looks_whole(frame))
    saved: SavedFiles = await save_task_files(
        client, status, video=video, last_frame=frame, handle=record.handle, keep_existing=True
    )
    updated = attrs.evolve(
        result,
        status=status,
        reason=saved.reason,
        video_path=str(saved.video.path) if saved.video else None,
        last_frame_path=str(saved.last_frame.path) if saved.last_frame else None,
        download_failed=saved.failed,
    )
    if updated != result:
        await journal.record_result(record.key, updated)
    if saved.failed is not None:
        return "failed", f"{name}: {saved.reason}"
    if before:
        return "present", f"{name}: already on disk"
    files = [f.path.name for f in (saved.video, saved.last_frame) if f is not None]
    return "downloaded", f"{name}: downloaded {', '.join(files)}"
