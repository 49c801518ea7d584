"""``run --upload s3://...``: local images stored in a real S3-compatible server (moto's,
in this process) and sent as presigned URLs to the simulator; nothing stored on --dry-run."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import imagedata, mediadata
from tests.cli._helpers import CLI, DEADLINE, PRO, env, read_jsonl, simulator
from tests.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, moto_server

BUCKET = "seedance-cli"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **env(),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
    }
    return subprocess.run(  # noqa: S603 (our own CLI)
        [*CLI, "run", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=folder,
        timeout=DEADLINE,
        check=False,
    )


def _batch(folder: Path) -> bytes:
    image = imagedata.png(640, 480)
    (folder / "corgi.png").write_bytes(image)
    line = {
        "model": PRO,
        "prompt": "a corgi on a beach",
        "images": [{"path": "corgi.png", "role": "first_frame"}],
    }
    (folder / "tasks.jsonl").write_text(json.dumps(line) + "\n")
    return image


def _no_secret(run: subprocess.CompletedProcess[str]) -> None:
    assert SECRET_ACCESS_KEY not in run.stdout + run.stderr


async def test_dry_run_checks_the_upload_options_and_stores_nothing(
    s3: S3Server, tmp_path: Path
) -> None:
    _batch(tmp_path)
    await s3.create_bucket(BUCKET)
    await s3.start_recording()
    dry = _run(
        tmp_path,
        *("tasks.jsonl", "--provider", "ark", "--dry-run"),
        *("--upload", f"s3://{BUCKET}/runs", "--upload-endpoint", s3.endpoint, "--upload-all"),
    )
    assert dry.returncode == 0, dry.stderr
    assert await s3.recorded() == []
    assert await s3.keys(BUCKET) == []

    wrong = _run(tmp_path, "tasks.jsonl", "--provider", "ark", "--dry-run", "--upload", "bucket")
    assert wrong.returncode == 2
    assert "s3://BUCKET" in wrong.stderr
    orphan = _run(tmp_path, "tasks.jsonl", "--provider", "ark", "--dry-run", "--upload-all")
    assert orphan.returncode == 2
    assert "need --upload" in orphan.stderr


async def test_local_images_reach_the_provider_as_presigned_urls_stored_once(
    s3: S3Server, tmp_path: Path
) -> None:
    """Two runs of the batch (two journals): one object, one PUT; both tasks succeed."""
    image = _batch(tmp_path)
    bucket = f"{BUCKET}-run"
    await s3.create_bucket(bucket)
    upload = ("--upload", f"s3://{bucket}/runs", "--upload-endpoint", s3.endpoint)
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        common = ("--provider", "ark", "--config", str(sim.config), "--poll-scale", "0.001")
        await s3.start_recording()
        first = _run(
            tmp_path, "tasks.jsonl", *common, "--out", "one.jsonl", *upload, "--upload-all"
        )
        puts = [m for m, _ in await s3.recorded() if m == "PUT"]
        await s3.start_recording()
        again = _run(
            tmp_path, "tasks.jsonl", *common, "--out", "two.jsonl", *upload, "--upload-all"
        )
        methods = [m for m, _ in await s3.recorded()]
        ledger = sim.ledger("ark")
    assert first.returncode == 0, first.stdout + first.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r["outcome"] for r in read_jsonl(tmp_path / "one.jsonl")] == ["succeeded"]
    assert [r["outcome"] for r in read_jsonl(tmp_path / "two.jsonl")] == ["succeeded"]
    assert await s3.keys(bucket) == [f"runs/{hashlib.sha256(image).hexdigest()}.png"]
    assert len(puts) == 1
    assert "PUT" not in methods
    assert "HEAD" in methods
    assert len(ledger) == 2
    _no_secret(first)
    _no_secret(again)


async def test_a_store_that_fails_rejects_the_task_naming_the_file(
    s3: S3Server, tmp_path: Path
) -> None:
    _batch(tmp_path)
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        run = _run(
            tmp_path,
            *("tasks.jsonl", "--provider", "ark", "--config", str(sim.config)),
            *("--out", "r.jsonl", "--upload", "s3://no-such-bucket-here"),
            *("--upload-endpoint", s3.endpoint, "--upload-all"),
        )
        ledger = sim.ledger("ark")
    assert run.returncode == 4, run.stdout + run.stderr
    (row,) = read_jsonl(tmp_path / "r.jsonl")
    assert row["outcome"] == "rejected"
    assert "corgi.png" in row["reason"]
    assert "NoSuchBucket" in row["reason"]
    assert ledger == []
    _no_secret(run)
    assert SECRET_ACCESS_KEY not in (tmp_path / "r.jsonl").read_text()


def _video_batch(folder: Path) -> bytes:
    clip = mediadata.mp4(seconds=5)
    (folder / "dance.mp4").write_bytes(clip)
    (folder / "corgi.png").write_bytes(imagedata.png(640, 480))
    line = {
        "model": "doubao-seedance-2-0-260128",
        "prompt": "[Image1] the corgi dances like [Video1]",
        "images": [{"path": "corgi.png", "role": "reference_image"}],
        "videos": [{"path": "dance.mp4", "role": "reference_video"}],
    }
    (folder / "video.jsonl").write_text(json.dumps(line) + "\n")
    return clip


async def test_a_local_video_needs_upload_and_goes_through_it_alone(
    s3: S3Server, tmp_path: Path
) -> None:
    """Without --upload the dry run refuses the line naming videos[0]; with it the line is
    valid, and the run stores the video (only: the image stays inline)."""
    clip = _video_batch(tmp_path)
    bucket = f"{BUCKET}-video"
    await s3.create_bucket(bucket)
    refused = _run(tmp_path, "video.jsonl", "--provider", "ark", "--dry-run")
    assert refused.returncode == 3, refused.stderr
    assert "$.videos[0]" in refused.stderr
    assert "needs an uploader" in refused.stderr
    upload = ("--upload", f"s3://{bucket}", "--upload-endpoint", s3.endpoint)
    dry = _run(tmp_path, "video.jsonl", "--provider", "ark", "--dry-run", *upload)
    assert dry.returncode == 0, dry.stderr
    assert await s3.keys(bucket) == []
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        run = _run(
            tmp_path,
            *("video.jsonl", "--provider", "ark", "--config", str(sim.config)),
            *("--poll-scale", "0.001", "--out", "r.jsonl", *upload),
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert [r["outcome"] for r in read_jsonl(tmp_path / "r.jsonl")] == ["succeeded"]
    assert await s3.keys(bucket) == [f"{hashlib.sha256(clip).hexdigest()}.mp4"]
    _no_secret(run)
