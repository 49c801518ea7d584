"""The partial file beside a destination: where a download's bytes wait until they are whole.

A download writes to ``.<name>.<source>.part`` in the destination's folder, where
``<source>`` is a short hash of the result's host and path (never its query: that is the
signature, which changes each time the URL is refreshed, while the object stays the same).
The name is stable, so a download cut short by a fault, a cancellation or a killed process
leaves bytes that the next download of the same object continues with an HTTP range
request. When the file is whole it is fsynced and renamed over the destination in one step,
so a half-written file never appears under the destination's name, and the partial files of
other sources beside it (an older URL path, an older version's random names) go too.

Two downloads of one object to one destination at once would write one partial file twice:
the first holds an exclusive lock on it (POSIX ``flock``), the second uses a private,
randomly named partial file and resumes nothing.

Partial files are created with mode ``0666`` so the user's umask decides, as for any file
they create, not the ``0600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path
from typing import IO

try:  # POSIX; elsewhere partial files are not locked (one download per destination, then)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["PartFile", "create_temp_beside", "part_name", "sweep_stale_parts"]

_SUFFIX = ".part"


def create_temp_beside(dest: Path, suffix: str) -> tuple[int, Path]:
    """A new, empty ``.<name>.<random><suffix>`` file beside ``dest``, open for writing.

    Unlike :func:`tempfile.mkstemp` (always ``0600``), the file is created with mode
    ``0666`` so the user's umask decides, as for any file they create: a video or results
    file renamed from it is readable by whoever the user's other files are readable by.

    Raises:
        OSError: the folder is missing or not writable.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = dest.parent / f".{dest.name}.{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(dest.parent))


def part_name(dest: Path, source: str) -> Path:
    """The stable partial file of ``dest`` for the object named ``source`` (host and path)."""
    tag = hashlib.sha256(source.encode()).hexdigest()[:12]
    return dest.parent / f".{dest.name}.{tag}{_SUFFIX}"


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows
        return True  # type: ignore[unreachable]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class PartFile:
    """The bytes of one download so far; every method is blocking (run it off the loop).

    Attributes:
        dest: the destination the file becomes.
        path: the partial file itself.
        resumable: the file has the stable name (it may hold bytes of an earlier download,
            and it is kept for a later one when this download fails).
    """

    def __init__(self, dest: Path, path: Path, file: IO[bytes], *, resumable: bool) -> None:
        self.dest = dest
        self.path = path
        self.resumable = resumable
        self._file = file

    @classmethod
    def open(cls, dest: Path, source: str) -> PartFile:
        """The partial file of ``dest`` for ``source``, with the bytes an earlier download left.

        Raises:
            OSError: the folder is missing or not writable.
        """
        path = part_name(dest, source)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o666)
        if _try_lock(fd):
            file = os.fdopen(fd, "r+b")
            file.seek(0, os.SEEK_END)
            return cls(dest, path, file, resumable=True)
        os.close(fd)  # another download of this object is writing it: use a private file
        fd, path = create_temp_beside(dest, _SUFFIX)
        _try_lock(fd)  # so that a finishing download's sweep leaves it alone
        return cls(dest, path, os.fdopen(fd, "r+b"), resumable=False)

    @property
    def size(self) -> int:
        """Bytes held so far."""
        return self._file.tell()

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``."""
        self._file.write(chunk)

    def restart(self) -> None:
        """Drop every byte held: the server sends the file from its start."""
        self._file.seek(0)
        self._file.truncate()

    def keep(self) -> None:
        """Close, leaving the bytes for a later download (a private file is removed)."""
        self._file.flush()
        self._file.close()
        if not self.resumable or self.path.stat().st_size == 0:
            self.path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Close and remove the file (quick: safe to call while being cancelled)."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def finish(self) -> None:
        """Make the file durable, rename it over the destination, drop stale partial files."""
        self._file.flush()
        os.fsync(self._file.fileno())
        # Renamed before closing: the lock keeps a concurrent sweep away until the name is gone.
        os.replace(self.path, self.dest)
        self._file.close()
        _fsync_directory(self.dest.parent)
        sweep_stale_parts(self.dest)

    @property
    def closed(self) -> bool:
        """The file was kept, discarded or finished."""
        return self._file.closed


def sweep_stale_parts(dest: Path) -> int:
    """Remove the partial files beside ``dest`` that no download holds; returns how many.

    Called once ``dest`` is whole: what is left beside it (another URL path's bytes, a
    killed download's) can only be stale.
    """
    removed = 0
    for path in dest.parent.glob(f".{_glob_escape(dest.name)}.*{_SUFFIX}"):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError:
            continue
        try:
            if _try_lock(fd):
                path.unlink(missing_ok=True)
                removed += 1
        finally:
            os.close(fd)
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
