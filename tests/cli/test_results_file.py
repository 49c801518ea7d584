"""The run's own files: results JSONL permissions, and the journal lock's life cycle."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from seedance_async import ConfigurationError
from seedance_async.cli._results_file import JournalLock, ResultsFile

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and flock")

_HOLD_LOCK = """
import sys
from pathlib import Path
from seedance_async.cli._results_file import JournalLock
JournalLock(Path(sys.argv[1])).__enter__()
print("locked", flush=True)
sys.stdin.read()  # held until killed
"""


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_results_file_gets_the_users_umask_permissions(tmp_path: Path, umask: int) -> None:
    """The results JSONL is an ordinary file of the user's, not a private 0600 one."""
    old = os.umask(umask)
    try:
        results = ResultsFile(tmp_path / "out" / "results.jsonl")
        results.rewrite([{"key": "a"}])
        results.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out" / "results.jsonl").stat().st_mode) == 0o666 & ~umask


def test_a_clean_exit_removes_the_lock_file(tmp_path: Path) -> None:
    """Nothing is left behind to puzzle the user after a run that ended normally."""
    lock = JournalLock(tmp_path / "j.db")
    with lock:
        assert lock.path.exists()
        owner = json.loads(lock.path.read_text())
        assert owner["pid"] == os.getpid()
    assert not lock.path.exists()
    with JournalLock(tmp_path / "j.db"):  # and the next run takes it without a note
        pass


def test_a_live_holder_is_refused_with_its_pid(tmp_path: Path) -> None:
    """A second run on the same journal is told who holds it."""
    notes: list[str] = []
    with JournalLock(tmp_path / "j.db"):
        with pytest.raises(ConfigurationError) as caught:
            JournalLock(tmp_path / "j.db", notify=notes.append).__enter__()
        text = str(caught.value)
        assert text.startswith("another seedance-async process is using the journal")
        assert f"PID {os.getpid()}" in text
        assert "started 2" in text  # an ISO 8601 date, not Unix seconds
    assert notes == []


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_note(tmp_path: Path) -> None:
    """SIGKILL leaves the file; the next run sees its PID is gone, says so, and goes on."""
    journal = tmp_path / "j.db"
    with subprocess.Popen(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _HOLD_LOCK, str(journal)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "locked"
            with pytest.raises(ConfigurationError, match=f"PID {proc.pid}"):
                JournalLock(journal).__enter__()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    lock_file = journal.with_name("j.db.lock")
    assert lock_file.exists()  # a killed run cannot clean up
    notes: list[str] = []
    with JournalLock(journal, notify=notes.append):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    assert len(notes) == 1
    assert f"PID {proc.pid}" in notes[0]
    assert "no longer running" in notes[0]
    assert not lock_file.exists()
