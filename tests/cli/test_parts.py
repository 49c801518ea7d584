"""The batch CLI's parts in-process: batch reading, progress, the submit gate, results file."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import anyio
import pytest

from seedance_async import Event, EventKind, SqliteJournal, VideoTask, load_task
from seedance_async.cli._batch_file import json_path, read_batch
from seedance_async.cli._batch_run import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNKNOWN,
    RunReport,
    _GatedJournal,
)
from seedance_async.cli._journal_cmds import KEYS_HELP, format_summary
from seedance_async.cli._progress import ProgressReporter, rich_available
from seedance_async.cli._results_file import ResultsFile, sweep_partial_downloads
from seedance_async.config import BUILTIN_PROVIDERS
from seedance_async.providers import create_adapter
from seedance_async.spec import task_hash
from tests.cli._helpers import PRO

ARK = {"ark": create_adapter("ark", name="ark")}


def _event(kind: EventKind, key: str, provider: str = "ark", detail: str | None = None) -> Event:
    return Event(kind=kind, key=key, provider=provider, at=0.0, detail=detail)


# -- reading a batch ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "path"),
    [("", "$"), ("$", "$"), ("frames", "$.frames"), ("images[1].role", "$.images[1].role")],
)
def test_violation_fields_become_json_paths(field: str, path: str) -> None:
    """A violation's field is shown as a JSON path rooted at ``$``."""
    assert json_path(field) == path


def test_batch_keys_are_spec_hashes_and_duplicates_collapse(tmp_path: Path) -> None:
    """Each distinct spec is one task keyed by its hash; a repeat is a warning, not a task."""
    line = {"model": PRO, "prompt": "same"}
    other = {"model": PRO, "prompt": "same", "metadata": {"id": 2}}  # metadata makes it distinct
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in (line, other, line)) + "\n\n")
    batch = read_batch(path, ARK)
    assert [b.line_no for b in batch.lines] == [1, 2]
    assert [b.key for b in batch.lines] == [task_hash(load_task(x)) for x in (line, other)]
    assert [str(p) for p in batch.problems] == [
        f"{path}:3: warning: $: same spec as line 1: it runs once"
    ]
    assert batch.errors == ()
    assert batch.line_count == 3


def test_unknown_model_is_a_warning_and_non_utf8_an_error(tmp_path: Path) -> None:
    """A model missing from the table still runs (warning); undecodable bytes do not."""
    path = tmp_path / "b.jsonl"
    path.write_bytes(
        json.dumps({"model": "seedance-from-the-future", "prompt": "x"}).encode()
        + b"\n\xff\xfe{}\n"
        + b'{"model": "m", "prompt": NaN}\n'
    )
    batch = read_batch(path, ARK)
    assert len(batch.lines) == 1
    warning, *errors = batch.problems
    assert warning.warning
    assert warning.path == "$.model"
    assert "not in the capability table" in warning.rule
    assert [(e.line_no, e.path) for e in errors] == [(2, "$"), (3, "$")]
    assert "not UTF-8" in errors[0].rule
    assert "NaN is not valid JSON" in errors[1].rule
    assert batch.invalid_lines == 2


def test_a_missing_image_file_names_its_path(tmp_path: Path) -> None:
    """Local files are checked at validation time, not at submit time."""
    path = tmp_path / "b.jsonl"
    image = {"path": str(tmp_path / "nope.png")}
    path.write_text(json.dumps({"model": PRO, "prompt": "x", "images": [image]}) + "\n")
    (problem,) = read_batch(path, ARK).errors
    assert problem.path == "$.images[0].path"
    assert problem.rule.startswith("image file must be readable")


# -- progress -----------------------------------------------------------------------------


def test_plain_progress_counts_per_provider_without_escape_codes() -> None:
    """Events move tasks between waiting, queued, running and final, per provider."""
    out = io.StringIO()
    reporter = ProgressReporter(total=4, providers=["ark", "chainhub"], stream=out, interval=60)
    with reporter:
        for event in (
            _event(EventKind.SUBMITTED, "a"),
            _event(EventKind.SUBMITTED, "b", "chainhub"),
            _event(EventKind.RUNNING, "a"),
            _event(EventKind.RATE_LIMITED, "", "chainhub", "429"),
            _event(EventKind.SUCCEEDED, "a"),
            _event(EventKind.SUBMITTED, "c"),
            _event(EventKind.UNKNOWN, "c", detail="lost answer"),
        ):
            reporter.on_event(event)
    text = out.getvalue()
    assert "\x1b" not in text
    last = text.splitlines()[-1]
    assert "finished=2/4 succeeded=1 failed=0 unknown=1 running=0 queued=1 waiting=1" in last
    assert "ark: queued=0 running=0 done=1 failed=0 unknown=1 rate_limited=0" in last
    assert "chainhub: queued=1 running=0 done=0 failed=0 unknown=0 rate_limited=1" in last
    assert " per_min=" in last
    assert " eta=" in last
    assert "unknown   c on ark: lost answer" in text


def test_throughput_and_eta_count_only_tasks_that_ended_in_this_run() -> None:
    """A resumed batch's earlier results do not inflate the rate; the ETA follows the rate."""
    reporter = ProgressReporter(total=10, quiet=True)
    for key in "abcd":
        reporter.preload(key, "ark", "succeeded")
    assert reporter.timing()[1:] == (None, None)
    reporter.on_event(_event(EventKind.SUBMITTED, "e"))
    reporter.on_event(_event(EventKind.SUCCEEDED, "e"))
    reporter.on_event(_event(EventKind.SUCCEEDED, "e"))  # a repeated notice is not a second end
    assert reporter.finished_now == 1
    elapsed, per_minute, left = reporter.timing()
    assert per_minute == pytest.approx(60 / elapsed)
    assert left == pytest.approx(5 * elapsed)  # 5 of 10 left at one task per `elapsed`


@pytest.mark.skipif(not rich_available(), reason="the bars need the cli extra (rich)")
def test_bars_fit_an_80_column_terminal() -> None:
    """Every row is one line of at most 80 columns: a wrapped row breaks the live display."""
    out = io.StringIO()
    providers = ["ark-main-account", "chainhub", "gateway000", "unified"]
    with ProgressReporter(total=2000, providers=providers, mode="bars", stream=out) as reporter:
        for n in range(300):
            alias = providers[n % 4]
            reporter.on_event(_event(EventKind.SUBMITTED, f"k{n}", alias))
            if n % 3:
                reporter.on_event(_event(EventKind.SUCCEEDED, f"k{n}", alias))
        reporter.refresh(final=True)
    visible = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    rows = [line for line in visible.splitlines() if line.strip()]
    assert rows
    assert max(len(line) for line in rows) <= 80
    # A wrapped row continues on a line of its own that starts with blanks.
    assert all(not line.startswith(" ") for line in rows), rows[:6]
    # What matters survives the squeeze: the count done of total, and the outcomes.
    final = rows[-5:]
    assert "/2000" in final[0]
    assert "200 ok 0 failed" in final[0]
    assert all("50/75" in row for row in final[1:])


def test_failover_sends_a_task_back_to_waiting() -> None:
    """A task moving to another provider is waiting again until that one takes it."""
    reporter = ProgressReporter(total=1, quiet=True)
    reporter.on_event(_event(EventKind.SUBMITTED, "a"))
    reporter.on_event(_event(EventKind.FAILED_OVER, "a", detail="resubmitting elsewhere"))
    assert reporter.tally() == {"waiting": 1}
    reporter.on_event(_event(EventKind.SUBMITTED, "a", "chainhub"))
    assert reporter.tally("chainhub") == {"queued": 1}


def test_bars_fall_back_or_draw_without_errors() -> None:
    """mode=bars draws with rich when it is installed (plain lines otherwise)."""
    out = io.StringIO()
    with ProgressReporter(total=2, providers=["ark"], mode="bars", stream=out) as reporter:
        reporter.on_event(_event(EventKind.SUBMITTED, "a"))
        reporter.on_event(_event(EventKind.FAILED, "a", detail="policy"))
    assert "failed    a on ark: policy" in out.getvalue()


# -- the submit gate -----------------------------------------------------------------------


async def test_draining_holds_new_submits_and_waits_for_those_on_the_wire(tmp_path: Path) -> None:
    """After Ctrl-C no intent is written, and 'drained' waits for the submit in flight."""
    task = VideoTask(model=PRO, prompt="gate")
    later = VideoTask(model=PRO, prompt="later")
    async with SqliteJournal(tmp_path / "j.db") as journal:
        await journal.add_pending_many([("a", task, 1), ("b", later, 2)])
        gate = _GatedJournal(journal)
        await gate.record_intent("a", task, "ark", 0, 0.0)
        gate.start_draining()
        drained = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def wait() -> None:
                await gate.drained()
                drained.set()

            tg.start_soon(wait)
            tg.start_soon(gate.record_intent, "b", later, "ark", 0, 0.0)
            await anyio.wait_all_tasks_blocked()
            assert not drained.is_set()
            await gate.record_not_created("a", "ark", "refused")
            await anyio.wait_all_tasks_blocked()
            assert drained.is_set()
            tg.cancel_scope.cancel()  # the held-back submit never writes its intent
        assert sorted(k for k, _ in await journal.pending()) == ["a", "b"]


# -- results file, leftovers, exit codes, status table --------------------------------------


def test_results_file_is_replaced_whole_and_appended_line_by_line(tmp_path: Path) -> None:
    """rewrite() replaces the file atomically (and sweeps stale temporaries); append() adds."""
    out = tmp_path / "r.jsonl"
    (tmp_path / ".r.jsonl.abc.tmp").write_text("left by a killed run")
    results = ResultsFile(out)
    results.rewrite([{"key": "a"}])
    results.append({"key": "b"})
    results.close()
    assert [json.loads(x)["key"] for x in out.read_text().splitlines()] == ["a", "b"]
    results.rewrite([{"key": "a"}, {"key": "b"}, {"key": "c"}])
    results.close()
    assert len(out.read_text().splitlines()) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]


def test_only_partial_downloads_of_this_batch_are_swept(tmp_path: Path) -> None:
    """A killed download's .part file goes; another batch's and finished files stay."""
    for name in (".k1.mp4.x1.part", ".other.mp4.x2.part", "k1.mp4"):
        (tmp_path / name).write_text("x")
    assert sweep_partial_downloads(tmp_path, ["k1"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.mp4.x2.part", "k1.mp4"]


@pytest.mark.parametrize(
    ("outcomes", "total", "missing", "code"),
    [
        ({"succeeded": 3}, 3, 0, EXIT_OK),
        ({"succeeded": 2}, 3, 0, EXIT_INTERRUPTED),
        ({"succeeded": 2, "failed": 1}, 3, 0, EXIT_FAILED),
        ({"succeeded": 3}, 3, 1, EXIT_FAILED),
        ({"failed": 1, "unknown": 1, "succeeded": 1}, 3, 0, EXIT_UNKNOWN),
        ({"unknown": 1}, 2, 0, EXIT_INTERRUPTED),
    ],
)
def test_exit_code_precedence(
    outcomes: dict[str, int], total: int, missing: int, code: int
) -> None:
    """Unfinished beats unknown beats failed (or not downloaded) beats success."""
    report = RunReport(outcomes=outcomes, total=total, missing_downloads=missing)
    assert report.exit_code() == code


def test_status_table_has_a_row_per_provider_and_totals() -> None:
    """Never-sent tasks appear under (none); columns follow the task lifecycle."""
    summary = {
        "total": 6,
        "by_state": {"final": 4, "pending": 1, "running": 1},
        "by_outcome": {"succeeded": 3, "unknown": 1},
        "by_provider": {
            "ark": {"succeeded": 2, "running": 1},
            "chainhub": {"succeeded": 1, "unknown": 1},
        },
    }
    assert format_summary(summary, "b.db").splitlines() == [
        "journal b.db: 6 tasks, 4 finished",
        "provider  pending  running  succeeded  unknown  total",
        "ark             0        1          2        0      3",
        "chainhub        0        0          1        1      2",
        "(none)          1        0          0        0      1",
        "total           1        1          3        1      6",
    ]


def test_the_keys_help_names_every_built_in_alias_variable() -> None:
    """The help is read from the catalog, so a new built-in alias shows up by itself."""
    text = " ".join(KEYS_HELP.split())
    for alias, config in BUILTIN_PROVIDERS.items():
        assert f"{config.key_env} for {alias}" in text
    assert all(len(line) <= 90 for line in KEYS_HELP.splitlines())
