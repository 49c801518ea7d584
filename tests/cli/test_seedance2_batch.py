"""Seedance 2.x batch lines under ``run --dry-run``: each bad input of the issue is refused
before any request, with its line, JSON path and rule; a good multimodal line passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import mediadata
from tests.cli._helpers import run_cli

V20 = "doubao-seedance-2-0-260128"
FAST = "doubao-seedance-2-0-fast-260128"
PRO15 = "doubao-seedance-1-5-pro-251215"
REF = {"url": "https://example.com/boy.png", "role": "reference_image"}


def test_2x_lines_are_checked_per_line_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "ok.wav").write_bytes(mediadata.wav(seconds=4))
    (tmp_path / "long.mp4").write_bytes(mediadata.mp4(seconds=16))
    (tmp_path / "liar.mp4").write_bytes(mediadata.wav(seconds=4))
    lines = [
        {  # 1: good: URL video, local audio, reference image
            "model": V20,
            "prompt": "Image 1 in Video 1, Audio 1 as music",
            "images": [REF],
            "videos": [{"url": "https://example.com/v.mp4", "role": "reference_video"}],
            "audios": [{"path": "ok.wav", "role": "reference_audio"}],
            "duration": -1,
            "ratio": "adaptive",
            "resolution": "4k",
            "tools": ["web_search"],
            "priority": 2,
        },
        {"model": V20, "prompt": "p", "images": [REF], "videos": [{"path": "long.mp4"}]},  # 2
        {"model": V20, "prompt": "p", "images": [REF], "videos": [{"path": "liar.mp4"}]},  # 3
        {
            "model": V20,
            "prompt": "p",
            "audios": [{"url": f"https://e.com/{n}.mp3"} for n in range(3)],
        },  # 4
        {"model": FAST, "prompt": "p", "resolution": "4k"},  # 5
        {"model": V20, "prompt": "p", "frames": 57},  # 6
        {"model": PRO15, "prompt": "p", "draft": True, "resolution": "720p"},  # 7
        {
            "model": V20,
            "prompt": "p",
            "images": [REF],
            "videos": [{"url": "ftp://e.com/v.mp4"}],
        },  # 8
        {"model": V20, "prompt": "p", "extra": {"ratio": "1:1"}},  # 9
        {"model": "seedance-1-5-pro-251215", "prompt": "p"},  # 10: retired on BytePlus
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    done = run_cli(
        "run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run", cwd=tmp_path
    )
    err = done.stderr
    assert done.returncode == 3, err
    assert "t.jsonl:1:" not in err
    assert (
        "t.jsonl:2: $.videos[0].path: each reference video must last 2 to 15 s (got '16.00 s')"
        in err
    )
    assert (
        "t.jsonl:3: $.videos[0].path: must be a video (MP4 or MOV); the file's header says wav audio"
        in err
    )
    assert (
        "t.jsonl:4: $.audios: model seedance-2-0 needs a reference image or video beside reference audio"
        in err
    )
    assert (
        "t.jsonl:5: $.resolution: model seedance-2-0-fast supports resolution 480p, 720p (got '4k')"
        in err
    )
    assert "t.jsonl:6: $.frames: model seedance-2-0 does not support frames (got 57)" in err
    assert "t.jsonl:7: $.resolution: a draft renders at 480p (got '720p')" in err
    assert "t.jsonl:8: $.videos[0].url: video url must be an http(s) URL or asset://<id>" in err
    assert "t.jsonl:9: $.extra.ratio: extra may not set a field the library sends itself" in err
    assert "t.jsonl:10:" not in err  # Volcengine still serves 1.5 pro
    assert "10 lines, 2 tasks to run, 8 invalid lines" in err

    on_byteplus = run_cli(
        "run", "t.jsonl", "--provider", "byteplus", "--out", "r.jsonl", "--dry-run", cwd=tmp_path
    )
    assert (
        "t.jsonl:10: $.model: byteplus: provider byteplus: model seedance-1-5-pro was retired on "
        "byteplus on 2026-11-11; use seedance-2-0-mini"
    ) in on_byteplus.stderr


def test_a_local_video_needs_an_uploader(tmp_path: Path) -> None:
    (tmp_path / "v.mp4").write_bytes(mediadata.mp4(seconds=5))
    line = {"model": V20, "prompt": "p", "images": [REF], "videos": [{"path": "v.mp4"}]}
    (tmp_path / "t.jsonl").write_text(json.dumps(line) + "\n")
    done = run_cli(
        "run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run", cwd=tmp_path
    )
    assert done.returncode == 3
    assert (
        "t.jsonl:1: $.videos[0]: ark: a local video is sent as a URL here, which needs an"
        " uploader" in done.stderr
    )
    assert "run --upload s3://BUCKET/PREFIX" in done.stderr


def test_the_model_catalog_overlay_reaches_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEEDANCE_MODEL_CATALOG lays a user's facts over the shipped ones in every process."""
    line = {"model": V20, "prompt": "a seeded 2.0 line", "seed": 7}
    (tmp_path / "t.jsonl").write_text(json.dumps(line) + "\n")
    args = ("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run")
    refused = run_cli(*args, cwd=tmp_path)
    assert refused.returncode == 3
    assert "t.jsonl:1: $.seed: model seedance-2-0 does not take seed" in refused.stderr
    (tmp_path / "models.toml").write_text("[families.seedance-2-0]\nseed = true\n")
    monkeypatch.setenv("SEEDANCE_MODEL_CATALOG", str(tmp_path / "models.toml"))
    accepted = run_cli(*args, cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
