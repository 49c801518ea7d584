"""Bad batch lines are reported with file, line, JSON path and rule; the good ones still run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seedance_async import load_task
from seedance_async.spec import task_hash
from tests.cli._helpers import LITE_I2V, PRO, PRO_15, read_jsonl, run_cli, simulator
from tests.imagedata import png, sparse_copy

BIG = 31 * 1024 * 1024  # over the 30 MB image limit


def _batch(folder: Path) -> set[str]:
    """A batch with every kind of mistake; returns the keys of its valid lines."""
    (folder / "small.png").write_bytes(png(640, 480))
    sparse_copy(folder / "big.png", png(1280, 720), BIG)
    lines = [
        json.dumps({"model": PRO, "prompt": "good text line", "duration": 5}),  # 1
        '{"model": "doubao-seedance-1-0-pro-250528", "prompt": ',  # 2: malformed JSON
        json.dumps({"model": PRO, "prompt": "typo", "durration": 5}),  # 3: unknown field
        json.dumps({"model": PRO, "prompt": "odd frames", "frames": 30}),  # 4: invalid spec
        json.dumps(
            {"model": LITE_I2V, "prompt": "big", "images": [{"path": "big.png"}]}
        ),  # 5: oversized image
        json.dumps({"model": PRO, "prompt": "wrong type", "duration": "5"}),  # 6: wrong type
        "",  # blank lines are skipped
        json.dumps(
            {"model": LITE_I2V, "prompt": "good image line", "images": [{"path": "small.png"}]}
        ),  # 8
        "[1, 2]",  # 9: not an object
        json.dumps({"model": PRO, "prompt": "good text line", "duration": 5}),  # 10: duplicate
    ]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    return {task_hash(load_task(json.loads(lines[n]))) for n in (0, 7)}


EXPECTED = [
    "tasks.jsonl:2: $: malformed JSON: Expecting value at column",
    "tasks.jsonl:3: $.durration: unknown field",
    "tasks.jsonl:4: $.frames: frames = 25 + 4n within [29, 289] (got 30)",
    "tasks.jsonl:5: $.images[0].path: image must be smaller than 30 MB",
    "tasks.jsonl:6: $.duration: expected an integer, got str",
    "tasks.jsonl:9: $: a task must be a JSON object",
    "tasks.jsonl:10: warning: $: same spec as line 1: it runs once",
]


def test_each_bad_line_is_named_and_the_valid_lines_run(tmp_path: Path) -> None:
    """Malformed JSON, unknown field, bad frames, a 31 MB image, a wrong type: 3, and the rest runs."""
    good = _batch(tmp_path)
    with simulator(tmp_path, "--time-scale", "0.001", "--unlimited", providers=["ark"]) as sim:
        done = run_cli(
            *("run", "tasks.jsonl", "--config", str(sim.config), "--provider", "ark"),
            *("--out", "results.jsonl", "--poll-scale", "0.001"),
            cwd=tmp_path,
        )
    assert done.returncode == 3, done.stderr
    for message in EXPECTED:
        assert message in done.stderr
    assert "tasks.jsonl: 9 lines, 2 tasks to run, 6 invalid lines" in done.stderr
    for line_no in (1, 8):  # valid lines say nothing
        assert f"tasks.jsonl:{line_no}:" not in done.stderr
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert {r["key"] for r in rows} == good
    assert [r["outcome"] for r in rows] == ["succeeded", "succeeded"]


def test_strict_submits_nothing_and_dry_run_only_validates(tmp_path: Path) -> None:
    """--strict and --dry-run stop after validation: exit 3, no journal, no results."""
    _batch(tmp_path)
    for flag in ("--strict", "--dry-run"):
        done = run_cli(
            *("run", "tasks.jsonl", "--provider", "ark", "--out", "r.jsonl", flag), cwd=tmp_path
        )
        assert done.returncode == 3, done.stderr
        assert "tasks.jsonl:4: $.frames:" in done.stderr
    assert not (tmp_path / "r.jsonl").exists()
    assert not (tmp_path / "r.journal.db").exists()


def test_dry_run_of_a_clean_file_needs_no_key_and_exits_0(tmp_path: Path) -> None:
    """A valid batch passes --dry-run without any API key in the environment."""
    (tmp_path / "ok.jsonl").write_text(json.dumps({"model": PRO, "prompt": "fine"}) + "\n")
    done = run_cli(
        "run", "ok.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "ok.jsonl: 1 lines, 1 tasks to run" in done.stderr


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("service_tier", "flex", "aimlapi: provider aimlapi cannot send service_tier"),
        ("frames", 29, "aimlapi: provider aimlapi cannot send frames"),
    ],
)
def test_a_line_no_chosen_provider_can_express_is_invalid(
    tmp_path: Path, field: str, value: object, rule: str
) -> None:
    """Provider rules apply: a line must fit at least one --provider alias."""
    line = {"model": PRO, "prompt": "provider rules", field: value}
    (tmp_path / "t.jsonl").write_text(json.dumps(line) + "\n")
    args = ("run", "t.jsonl", "--out", "r.jsonl", "--dry-run", "--provider")
    only_aiml = run_cli(*args, "aimlapi", cwd=tmp_path)
    assert only_aiml.returncode == 3
    assert f"t.jsonl:1: $.{field}: {rule}" in only_aiml.stderr
    with_ark = run_cli(*args, "aimlapi,ark", cwd=tmp_path)
    assert with_ark.returncode == 0, with_ark.stderr


def test_dry_run_refuses_a_line_no_chosen_alias_serves(tmp_path: Path) -> None:
    """A unified gateway's catalog entry has no 1.5 pro: the line fits only with ark."""
    (tmp_path / "p.toml").write_text(
        "[providers.gw]\nadapter = 'unified'\nbase_url = 'https://gw.example'\nkey_env = 'GW'\n"
    )
    line = {"model": PRO_15, "prompt": "a heron at dawn"}
    (tmp_path / "t.jsonl").write_text(json.dumps(line) + "\n")
    args = ("run", "t.jsonl", "--config", "p.toml", "--out", "r.jsonl", "--dry-run", "--provider")
    only_gateway = run_cli(*args, "gw", cwd=tmp_path)
    assert only_gateway.returncode == 3
    assert "t.jsonl:1: $.model: gw: provider gw does not serve this model" in only_gateway.stderr
    with_ark = run_cli(*args, "gw,ark", cwd=tmp_path)
    assert with_ark.returncode == 0, with_ark.stderr
