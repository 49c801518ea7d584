"""Files of a batch run: the results JSONL, the journal's lock, leftovers of killed runs."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from seedance_async.core._clock import local_time
from seedance_async.core._errors import ConfigurationError
from seedance_async.transport._part_file import create_temp_beside, sweep_stale_parts

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
        # Not mkstemp: its 0600 would make the results file private whatever the umask says.
        fd, name = create_temp_beside(self.path, ".tmp")
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


def _print_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _pid_alive(pid: int) -> bool:
    # Signal 0 checks existence only; on Windows os.kill would terminate the process instead,
    # but this module only calls it where fcntl exists (POSIX).
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


class JournalLock:
    """An exclusive lock file next to the journal: one run (or cancel) per batch at a time.

    The lock itself is ``flock`` on the file, which the kernel drops when the process dies,
    even by SIGKILL. The file says who holds it (PID, host, start time) for the messages: a
    clean exit removes it; one left by a killed run is taken over, with a note naming the
    dead run.

    Args:
        journal: the journal file; the lock is ``<journal>.lock``.
        notify: where the take-over note goes (default: stderr).

    Raises:
        ConfigurationError: on entering, when another live process holds the lock.
    """

    def __init__(self, journal: Path, *, notify: Callable[[str], None] = _print_stderr) -> None:
        self.path = journal.with_name(journal.name + ".lock")
        self._journal = journal
        self._notify = notify
        self._fd: int | None = None

    def __enter__(self) -> JournalLock:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one run at a time is then up to the user
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _describe(_read_owner(fd))
                os.close(fd)
                raise ConfigurationError(
                    f"another seedance-async process is using the journal {self._journal}"
                    f"{holder}; wait for it or stop it (Ctrl-C) first"
                ) from None
            # The holder we waited for may have removed the file after we opened it: the
            # lock is then on a file nobody else can find. Lock the file at the path instead.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        previous = _read_owner(fd)
        if previous:
            self._notify(_takeover_note(previous, self._journal))
        _write_owner(fd)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            # Removed while still locked: a process that opened it meanwhile finds, once it
            # gets the lock, that the path no longer names its file, and starts again.
            with contextlib.suppress(OSError):
                if _same_file(self._fd, self.path):
                    self.path.unlink()
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        owner = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _write_owner(fd: int) -> None:
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    with contextlib.suppress(OSError):  # the note is for messages; the flock is the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)


def _describe(owner: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(owner.get("pid"), int):
        parts.append(f"PID {owner['pid']}")
    if isinstance(owner.get("host"), str) and owner["host"] != socket.gethostname():
        parts.append(f"on {owner['host']}")
    if isinstance(owner.get("started"), int | float):
        parts.append(f"started {local_time(owner['started'])}")
    return f" ({', '.join(parts)})" if parts else ""


def _takeover_note(owner: Mapping[str, Any], journal: Path) -> str:
    pid = owner.get("pid")
    local = owner.get("host") in (None, socket.gethostname())
    if isinstance(pid, int) and local and not _pid_alive(pid):
        why = "which is no longer running (killed?)"
    else:
        why = "which no longer holds it"
    return (
        f"note: taking over the lock of journal {journal} left by seedance-async"
        f"{_describe(owner)}, {why}; its finished work is kept and the rest resumes"
    )


def sweep_partial_downloads(folder: Path, keys: Iterable[str]) -> int:
    """Delete the partial files left beside the finished downloads of ``keys``.

    A partial file beside a whole ``<key>.mp4`` (or ``<key>.last.png``) is stale: a download
    killed after its file was renamed into place left it. A partial file of a download that
    never finished stays, for the next download of that result to continue.

    Returns:
        How many were removed.
    """
    removed = 0
    for key in keys:
        for name in (f"{key}.mp4", f"{key}.last.png"):
            dest = folder / name
            if dest.is_file():
                removed += sweep_stale_parts(dest)
    return removed
