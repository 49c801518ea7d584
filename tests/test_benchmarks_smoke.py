"""The benchmark harness runs end to end at tiny sizes and produces numbers.

Timings are never asserted here (they are ratios read from one run on one machine, see
``benchmarks/README.md``); these tests only prove that every benchmark still runs against
the current library and simulator and fills its table.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import bench_peers
from benchmarks.__main__ import BENCHMARKS, QUICK, main, update_readme
from benchmarks._common import (
    BenchResult,
    Row,
    paired_ratio,
    percentile,
    ratio_cell,
    render_markdown,
    render_text,
)


@pytest.mark.parametrize("name", list(BENCHMARKS))
async def test_benchmark_runs_at_tiny_size_and_reports_figures(name: str) -> None:
    """Each benchmark returns table rows and finite raw figures at its quick size."""
    result = await BENCHMARKS[name](**QUICK[name])
    assert result.name == name
    assert result.rows
    assert all(row.metric and row.library for row in result.rows)
    assert result.figures
    finite = [v for v in result.figures.values() if math.isfinite(v)]
    assert finite, result.figures


async def test_peers_run_without_the_bench_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the optional peers the job still runs, and each missing peer gets its row."""
    monkeypatch.setattr(
        bench_peers,
        "_MODULES",
        {"ark-sdk": "no_such_module_for_ark", "litellm": "no_such_module_for_litellm"},
    )
    result = await bench_peers.run(**QUICK["peers"])
    cells = {row.metric: row.library for row in result.rows}
    missing = [metric for metric, library in cells.items() if library == "not installed"]
    assert len(missing) == 2
    assert any("Ark SDK" in metric for metric in missing)
    assert any("litellm" in metric for metric in missing)
    assert math.isfinite(result.figures["seedance_async_c4_cpu_us"])
    assert math.isfinite(result.figures["seedance_async_c4_ratio"])


def test_paired_ratio_reports_the_median_round_and_its_range() -> None:
    """Ratios are taken round by round; the cell shows their median and range."""
    ratio = paired_ratio([2.0, 3.0, 12.0], [1.0, 2.0, 4.0])
    assert ratio.per_round == (2.0, 1.5, 3.0)
    assert ratio.median == 2.0
    assert ratio_cell(ratio) == "2.00x (1.50-3.00)"
    assert ratio_cell(paired_ratio([1.0], [2.0])) == "0.50x"


def test_tables_render_every_row() -> None:
    """The text and Markdown tables carry one line per row plus the header."""
    rows = [Row("1 x", "metric a", "1.0", "2.0", "0.50x", "<= 1", "met"), Row("2 y", "b", "3")]
    text = render_text(rows).splitlines()
    assert len(text) == 4  # header, rule, two rows
    assert "metric a" in text[2]
    markdown = render_markdown(rows).splitlines()
    assert markdown[0].startswith("| bench |")
    assert len(markdown) == 4


def test_percentile_interpolates() -> None:
    """Percentiles interpolate linearly and are NaN without values."""
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 99) == pytest.approx(9.9)
    assert math.isnan(percentile([], 50))


def test_update_readme_replaces_only_the_generated_blocks(tmp_path: Path) -> None:
    """The README's marked blocks are rewritten; the hand-written reading is kept."""
    readme = tmp_path / "README.md"
    blocks = "".join(
        f"<!-- bench:{name}:start -->\nold\n<!-- bench:{name}:end -->\n"
        for name in ("table", "machine")
    )
    blocks += "<!-- bench:notes:start -->\n<!-- bench:notes:end -->\n"  # an empty block
    readme.write_text("# Reading\nkept\n" + blocks, encoding="utf-8")
    result = BenchResult("x", rows=[Row("1 x", "metric", "1")], notes=["a note"])
    update_readme([result], 12.0, path=readme)
    text = readme.read_text(encoding="utf-8")
    assert "kept" in text
    assert "old" not in text
    assert "| 1 x | metric | 1 |" in text
    assert "- a note" in text
    update_readme([result], 13.0, path=readme)  # again: the markers survive
    assert readme.read_text(encoding="utf-8").count("| 1 x | metric | 1 |") == 1


def test_cli_rejects_unknown_benchmarks() -> None:
    """An unknown name in --only is a usage error."""
    with pytest.raises(SystemExit):
        main(["--only", "nope"])
