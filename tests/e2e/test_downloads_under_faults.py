"""Downloads against the simulator's result CDN with its faults on: 503s and cut bodies of
every kind end in whole files, resumed by Range; a failed last frame keeps the video."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedance_async import Client, Outcome, PollSchedule, RetryPolicy, Tracker, VideoTask
from seedance_async.config import parse_provider_config
from seedance_async.journal import SqliteJournal
from seedance_async.simulator import (
    DEFAULT_KEY,
    KEY_ENV,
    CdnFaults,
    DurationModel,
    Limits,
    Simulator,
    TruncateMode,
)
from seedance_async.simulator._cdn import TRUNCATE_MODES
from seedance_async.simulator._media import mp4_bytes
from seedance_async.spec import task_hash

PRO = "doubao-seedance-1-0-pro-250528"
TIME_SCALE = 0.001
QUICK = RetryPolicy(max_attempts=8, base_delay=0.001, max_delay=0.01)


def _whole_mp4(path: Path) -> bool:
    data = path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if size < 8:
            return False
        at += size
    return data[4:8] == b"ftyp" and at == len(data)


def _contents(ended: list[tuple[str, Outcome, str | None, str | None, str | None]]) -> set[bytes]:
    return {Path(video).read_bytes() for _, _, video, _, _ in ended if video}


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


async def _run(
    sim: Simulator, tasks: list[VideoTask], folder: Path
) -> list[tuple[str, Outcome, str | None, str | None, str | None]]:
    configs = parse_provider_config(sim.provider_config())
    async with Client(
        [configs["ark"]], env={KEY_ENV: DEFAULT_KEY}, seed=1, download_retry=QUICK
    ) as client:
        async with Tracker(
            client,
            providers=["ark"],
            download_dir=folder,
            schedule=PollSchedule().scaled(TIME_SCALE),
        ) as tracker:
            handles = [await tracker.submit(t) for t in tasks]
        results = [await h.result() for h in handles]
    return [(r.key, r.outcome, r.video_path, r.last_frame_path, r.download_failed) for r in results]


@pytest.mark.parametrize("mode", TRUNCATE_MODES)
async def test_every_video_lands_whole_through_503s_and_cut_bodies(
    mode: TruncateMode, tmp_path: Path
) -> None:
    """A third of the requests get a 503, a third a body cut short (each way a CDN cuts):
    every video is on disk, byte for byte, and the cuts were continued with Range."""
    faults = CdnFaults(unavailable=0.3, truncated=0.35, truncate_mode=mode, truncate_fraction=0.4)
    async with Simulator(
        ("ark",),
        seed=5,
        time_scale=TIME_SCALE,
        limits=Limits.unlimited(),
        durations=DurationModel.fixed(queue=1, run=5),
        cdn_faults=faults,
    ) as sim:
        tasks = [VideoTask(model=PRO, prompt=f"a lighthouse, take {i}") for i in range(12)]
        ended = await _run(sim, tasks, tmp_path)
        requests = sim.cdn_requests()
        remote = {t.task_id: t for t in sim.ledger("ark")}
    assert len(remote) == 12
    for _key, outcome, video, _frame, failed in ended:
        assert outcome is Outcome.SUCCEEDED
        assert failed is None
        assert video is not None
        assert _whole_mp4(Path(video))
    # Byte for byte: the CDN's file for that task, not a splice of two answers.
    by_bytes = {mp4_bytes(task_id, 5) for task_id in remote}
    assert _contents(ended) <= by_bytes
    assert _hidden(tmp_path) == []
    cut = [r for r in requests if r.fault.startswith("truncated")]
    assert cut, "the fault dice never cut a body: the test proves nothing"
    assert any(r.fault == "unavailable" for r in requests)
    assert all("Authorization" not in r.headers for r in requests)
    ranges = [r.headers.get("Range", "") for r in requests]
    assert all(h.startswith("bytes=") for h in ranges)
    if mode in ("closed", "chunked", "unframed"):  # bytes arrived before the cut: continued
        assert any(h != "bytes=0-" for h in ranges)


async def test_a_failed_last_frame_keeps_the_video(tmp_path: Path) -> None:
    """Only the last frame cannot be written: the video stays and the result says which."""
    task = VideoTask(model=PRO, prompt="a harbour at dusk", return_last_frame=True)
    other = VideoTask(model=PRO, prompt="a harbour at dawn", return_last_frame=True)
    async with Simulator(
        ("ark",),
        seed=2,
        time_scale=TIME_SCALE,
        limits=Limits.unlimited(),
        durations=DurationModel.fixed(queue=1, run=5),
    ) as sim:
        (tmp_path / f"{task_hash(task)}.last.png").mkdir()  # a folder where the PNG must go
        ended = await _run(sim, [task, other], tmp_path)
    (key, outcome, video, frame, failed), (_, outcome2, video2, frame2, failed2) = ended
    assert outcome is Outcome.SUCCEEDED
    assert video == str(tmp_path / f"{key}.mp4")
    assert _whole_mp4(Path(video))
    assert frame is None
    assert failed == "last_frame"
    assert (outcome2, failed2) == (Outcome.SUCCEEDED, None)
    assert video2 is not None
    assert frame2 is not None
    assert _contents([(key, outcome2, frame2, None, None)]).pop()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_rerun_with_a_download_folder_fetches_earlier_successes(tmp_path: Path) -> None:
    """The same program again with the same journal, now with a folder: nothing is
    submitted, and every success of the first run gets its video (through CDN faults)."""
    faults = CdnFaults(unavailable=0.3, truncated=0.3, truncate_mode="closed")
    tasks = [VideoTask(model=PRO, prompt=f"a quay, take {i}") for i in range(6)]
    async with Simulator(
        ("ark",),
        seed=7,
        time_scale=TIME_SCALE,
        limits=Limits.unlimited(),
        durations=DurationModel.fixed(queue=1, run=5),
        cdn_faults=faults,
    ) as sim:
        configs = parse_provider_config(sim.provider_config())
        ended = []
        for folder in (None, tmp_path / "videos"):
            async with (
                SqliteJournal(tmp_path / "journal.db") as journal,
                Client(
                    [configs["ark"]], env={KEY_ENV: DEFAULT_KEY}, download_retry=QUICK
                ) as client,
                Tracker(
                    client,
                    providers=["ark"],
                    journal=journal,
                    download_dir=folder,
                    schedule=PollSchedule().scaled(TIME_SCALE),
                ) as tracker,
            ):
                handles = [await tracker.submit(t) for t in tasks]
            ended.append([await h.result() for h in handles])
        billed = len(sim.ledger("ark"))
    first, second = ended
    assert billed == len(tasks)
    assert [r.video_path for r in first] == [None] * len(tasks)
    assert [r.task_id for r in second] == [r.task_id for r in first]
    assert all(r.outcome is Outcome.SUCCEEDED and r.download_failed is None for r in second)
    assert _contents([(r.key, r.outcome, r.video_path, None, None) for r in second]) == {
        mp4_bytes(r.task_id or "", 5) for r in first
    }
