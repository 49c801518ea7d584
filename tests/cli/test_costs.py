"""Money on the command line: the --dry-run estimate, --max-cost, estimated vs actual."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from seedance_async import load_task
from seedance_async.cli._costs import parse_max_cost
from seedance_async.core._errors import ConfigurationError
from seedance_async.spec import task_hash
from tests.cli._helpers import PRO, PRO_15, read_jsonl, run_cli, simulator

# 10 USD per 1M output tokens on the simulator's "ark" alias: a default 1.0 pro task
# (1080p, 16:9, 5 s: 244,800 tokens) costs 2.448 USD.
PRICES = """
[prices.ark]
currency = "USD"
as_of = "2026-12"
source = "test"

[prices.ark.models.seedance-1-0-pro]
online = 10.0
"""


def _lines(folder: Path, name: str, lines: list[dict[str, object]]) -> None:
    (folder / name).write_text("".join(json.dumps(line) + "\n" for line in lines))


def _pro(n: int) -> dict[str, object]:
    return {"model": PRO, "prompt": f"capped batch #{n}", "duration": 5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25", (25.0, None)),
        ("25 USD", (25.0, "USD")),
        ("2.5cny", (2.5, "CNY")),
        (".5", (0.5, None)),
    ],
)
def test_max_cost_takes_an_amount_and_an_optional_currency(
    text: str, expected: tuple[float, str | None]
) -> None:
    assert parse_max_cost(text) == expected


@pytest.mark.parametrize("text", ["", "-5", "5 dollars", "USD", "1e3"])
def test_a_malformed_max_cost_is_a_typed_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="--max-cost: expected an amount"):
        parse_max_cost(text)


def test_dry_run_prints_the_estimate_per_provider_and_model(tmp_path: Path) -> None:
    """Each line is priced on the alias it goes to first; unpriced lines say why."""
    (tmp_path / "prices.toml").write_text(PRICES)
    _lines(
        tmp_path,
        "t.jsonl",
        [
            _pro(1),
            _pro(2),
            # The model picks 4-12 s: a range. 1.5 pro has no price on "ark" here.
            {"model": PRO_15, "prompt": "adaptive", "duration": -1},
        ],
    )
    done = run_cli(
        *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run"),
        *("--prices", "prices.toml"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[0][0] == "estimated"
    assert lines[1] == ["ark", "seedance-1-0-pro", "2", "tasks", "estimated", "4.8960", "USD"]
    assert lines[2][:5] == ["ark", "seedance-1-5-pro", "1", "task", "estimated"]
    assert "unknown (no price for seedance-1-5-pro on 'ark')" in done.stdout
    assert lines[3] == [
        "ark",
        "(all)",
        "3",
        "tasks",
        "estimated",
        "4.8960",
        "USD,",
        "1",
        "unpriced",
    ]
    assert lines[4] == ["total", "3", "tasks", "estimated", "4.8960", "USD,", "1", "unpriced"]
    assert not (tmp_path / "r.journal.db").exists()


def test_dry_run_shows_a_range_where_the_model_chooses(tmp_path: Path) -> None:
    """1.5 pro at BytePlus's list price (2.4 USD per 1M with sound): 4 to 12 s at 720p 16:9.

    Priced on ark through --prices: BytePlus itself has retired 1.5 pro (seedance.toml), so a
    byteplus line for it is refused before any estimate.
    """
    _lines(tmp_path, "t.jsonl", [{"model": PRO_15, "prompt": "any length", "duration": -1}])
    (tmp_path / "p.toml").write_text(
        '[prices.ark]\ncurrency = "USD"\nas_of = "2026-11"\nsource = "test"\n'
        "[prices.ark.models.seedance-1-5-pro]\nonline = 2.4\n"
    )
    done = run_cli(
        *("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", "--dry-run"),
        *("--prices", "p.toml"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    low = int(1280 * 720 * 24 * 4 / 1024) * 2.4 / 1e6
    high = int(1280 * 720 * 24 * 12 / 1024) * 2.4 / 1e6
    assert f"estimated {low:.4f} USD to {high:.4f} USD" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--max-cost", "ten"), "--max-cost: expected an amount"),
        (("--allow-unpriced",), "--allow-unpriced applies to a spend cap: add --max-cost"),
        (("--max-cost", "10"), "a spend cap needs a currency: no price list for ark"),
        (("--prices", "missing.toml"), "missing.toml: cannot read the price file"),
        (("--prices", "bad.toml"), "bad.toml"),
    ],
)
def test_cost_options_are_checked_before_anything_runs(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.toml").write_text('[prices.ark]\ncurrency = "USD"\nas_of = 1\nsource = "x"\n')
    _lines(tmp_path, "t.jsonl", [_pro(1)])
    done = run_cli("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not (tmp_path / "r.jsonl").exists()


def test_the_cap_stops_at_the_right_line_and_a_higher_cap_finishes_without_rebilling(
    tmp_path: Path,
) -> None:
    """8 USD holds three worst cases of 2.448: lines 4 and 5 are not sent (exit 6, result
    lines say why); the same command with 13 USD sends only those two."""
    (tmp_path / "prices.toml").write_text(PRICES)
    _lines(tmp_path, "t.jsonl", [_pro(n) for n in range(1, 6)])
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        common = ("--config", str(sim.config), "--poll-scale", "0.001", "--prices", "prices.toml")
        base = ("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", *common)
        first = run_cli(*base, "--max-cost", "8 USD", cwd=tmp_path)
        rows = read_jsonl(tmp_path / "r.jsonl")
        billed_first = len(sim.ledger("ark"))
        second = run_cli(*base, "--max-cost", "13", cwd=tmp_path)
        billed_second = len(sim.ledger("ark"))
    assert first.returncode == 6, first.stdout + first.stderr
    assert billed_first == 3
    keys = [task_hash(load_task(_pro(n))) for n in range(1, 6)]
    outcome = {r["key"]: r["outcome"] for r in rows}
    assert [outcome[k] for k in keys] == ["succeeded"] * 3 + ["capped"] * 2
    capped = [r for r in rows if r["outcome"] == "capped"]
    assert capped[0]["reason"].startswith("not sent: its worst case (2.4480 USD) would pass")
    assert "7.3440 of 8 USD" in capped[0]["reason"]
    assert all(r["attempts"] == [] and r["cost"] is None for r in capped)
    # --prices prices the result lines too (ark has no price in the shipped list)
    for row in rows:
        if row["outcome"] == "succeeded":
            assert row["cost"]["currency"] == "USD"
            assert row["cost"]["amount"] == pytest.approx(2.448)
    assert "2 not sent (spend cap): raise --max-cost" in first.stdout
    assert re.search(r"spend cap: \d+\.\d{4} of 8 USD spent", first.stdout)
    summary = re.search(
        r"ark\s+seedance-1-0-pro\s+3 tasks\s+estimated 7\.3440 USD; actual (\d+\.\d{4}) USD",
        first.stdout,
    )
    assert summary, first.stdout

    assert second.returncode == 0, second.stdout + second.stderr
    assert billed_second == 5  # the two capped lines only: nothing billed twice
    final = read_jsonl(tmp_path / "r.jsonl")
    assert sorted(r["outcome"] for r in final) == ["succeeded"] * 5
    assert all(r["cost"]["amount"] == pytest.approx(2.448) for r in final)
    assert re.search(r"spend cap: \d+\.\d{4} of 13 USD spent", second.stdout)
    assert re.search(r"total\s+5 tasks\s+estimated 12.2400 USD", second.stdout), second.stdout


def test_unpriced_lines_are_refused_under_a_cap_unless_allowed(tmp_path: Path) -> None:
    """1.5 pro has no price on "ark" in this file: not sent under a cap, unless allowed."""
    (tmp_path / "prices.toml").write_text(PRICES)
    _lines(tmp_path, "t.jsonl", [{"model": PRO_15, "prompt": "unpriced", "duration": 4}])
    with simulator(tmp_path, "--time-scale", "0.001", providers=["ark"]) as sim:
        common = ("--config", str(sim.config), "--poll-scale", "0.001", "--prices", "prices.toml")
        base = ("run", "t.jsonl", "--provider", "ark", "--out", "r.jsonl", *common)
        refused = run_cli(*base, "--max-cost", "5", cwd=tmp_path)
        refused_rows = read_jsonl(tmp_path / "r.jsonl")
        allowed = run_cli(*base, "--max-cost", "5", "--allow-unpriced", cwd=tmp_path)
        billed = len(sim.ledger("ark"))
    assert refused.returncode == 6, refused.stdout + refused.stderr
    (row,) = refused_rows
    assert row["outcome"] == "capped"
    assert "no USD price for 'doubao-seedance-1-5-pro-251215' on 'ark'" in row["reason"]
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert billed == 1
    assert "actual unknown" in allowed.stdout or "estimated unknown" in allowed.stdout
