"""Files of a batch run: the results JSONL, the journal's lock, leftovers of killed runs."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from seedance_async.core._errors import ConfigurationError

__all__ = ["JournalLock", "ResultsFile", "sweep_partial_downloads"]


def _dump(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is; not possible on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ResultsFile:
    """The results JSONL: rewritten atomically from the journal, appended to in between."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the file with ``rows`` in one rename, then reopen it for appending."""
        self.close()
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".{self.path.name}.*.tmp"):  # from a killed rewrite
            stale.unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for row in rows:
                    tmp.write(_dump(row))
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(name, self.path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        _fsync_dir(parent)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one line with a single ``write()``: a killed process never leaves half a line.

        A few hundred bytes into the page cache: cheap enough for the event loop thread.
        """
        if self._fd is not None:
            os.write(self._fd, _dump(row))

    def close(self) -> None:
        """Stop appending (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JournalLock:
    """An exclusive lock file next to the journal: one run (or cancel) per batch at a time.

    The kernel drops the lock when the process dies, even by SIGKILL, so it never goes stale.

    Raises:
        ConfigurationError: on entering, when another process holds the lock.
    """

    def __init__(self, journal: Path) -> None:
        self.path = journal.with_name(journal.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> JournalLock:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one run at a time is then up to the user
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigurationError(
                f"another seedance-async process is using the journal {self.path.with_suffix('')};"
                " wait for it or stop it (Ctrl-C) first"
            ) from None
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The file stays: deleting it would race with a process that has just opened it.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_partial_downloads(folder: Path, keys: Iterable[str]) -> int:
    """Delete the ``.<key>.*.part`` temporaries a killed download left; returns how many."""
    wanted = set(keys)
    removed = 0
    for part in folder.glob(".*.part"):
        if part.name[1:].split(".", 1)[0] in wanted:
            part.unlink(missing_ok=True)
            removed += 1
    return removed
