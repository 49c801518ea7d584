"""``seedance-async status | results | cancel | download``: what a batch journal says,
stopping it, and fetching the files of its succeeded tasks."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from seedance_async.cli._batch_run import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from seedance_async.cli._fetch_files import fetch_missing_files
from seedance_async.cli._results_file import JournalLock, ResultsFile
from seedance_async.client._client import Client
from seedance_async.config._provider import BUILTIN_PROVIDERS, ProviderConfig, load_provider_config
from seedance_async.core._errors import ConfigurationError, JournalError, ProviderError
from seedance_async.distributed._keys import DEFAULT_PREFIX
from seedance_async.journal._protocol import JournalEntry
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["KEYS_HELP", "fail", "format_summary", "provider_catalog", "register_journal_commands"]

if TYPE_CHECKING:  # only subscriptable for type checkers
    _Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def _keys_help() -> str:
    named = ", ".join(f"{c.key_env} for {a}" for a, c in BUILTIN_PROVIDERS.items() if c.key_env)
    # The epilogs are printed raw (for the exit-code tables): wrapped here.
    return textwrap.fill(
        f"API keys come from the environment variable of each provider alias ({named}; "
        "key_env in --config), or from --key-env NAME; never from a command-line value.",
        width=90,
    )


KEYS_HELP = _keys_help()


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print ``seedance-async COMMAND: MESSAGE`` to stderr; returns ``code``."""
    print(f"seedance-async {command}: {message}", file=sys.stderr)
    return code


def provider_catalog(args: argparse.Namespace) -> dict[str, ProviderConfig]:
    """Built-in aliases, then the --config file's, with --rate/--max-running/--key-env applied."""
    configured = load_provider_config(args.config) if args.config else {}
    overrides: dict[str, Any] = {}
    if getattr(args, "rate", None):
        overrides["submit_rpm"] = float(args.rate)
    if getattr(args, "max_running", None):
        overrides["max_running"] = args.max_running
    if args.key_env:
        overrides["key_env"] = args.key_env
    catalog = {**BUILTIN_PROVIDERS, **configured}
    return {alias: attrs.evolve(c, **overrides) for alias, c in catalog.items()}


_COLUMN_ORDER = (
    "pending",
    "intent",
    "submitted",
    "queued",
    "running",
    "succeeded",
    "failed",
    "expired",
    "cancelled",
    "deadline",
    "rejected",
    "unknown",
)


def format_summary(summary: Mapping[str, Any], journal: str) -> str:
    """The ``status`` table: one row per provider, one column per state or outcome."""
    by_provider: dict[str, dict[str, int]] = {k: dict(v) for k, v in summary["by_provider"].items()}
    totals: dict[str, int] = dict(summary["by_outcome"])
    totals |= {s: n for s, n in summary["by_state"].items() if s != "final"}
    unassigned = {
        label: n - sum(p.get(label, 0) for p in by_provider.values()) for label, n in totals.items()
    }
    if any(unassigned.values()):
        by_provider["(none)"] = {k: v for k, v in unassigned.items() if v}
    labels = [c for c in _COLUMN_ORDER if totals.get(c)]
    labels += sorted(set(totals) - set(labels))
    finished = sum(summary["by_outcome"].values())
    lines = [f"journal {journal}: {summary['total']} tasks, {finished} finished"]
    header = ["provider", *labels, "total"]
    rows = [
        [alias, *(str(counts.get(c, 0)) for c in labels), str(sum(counts.values()))]
        for alias, counts in by_provider.items()
    ]
    rows.append(["total", *(str(totals.get(c, 0)) for c in labels), str(summary["total"])])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _existing_journal(args: argparse.Namespace) -> Path:
    path = Path(args.journal)
    if not path.is_file():
        # SqliteJournal would create an empty one: a typo must not look like an empty batch.
        raise ConfigurationError(f"no journal at {path}")
    return path


async def _read(path: Path, what: str) -> Any:
    async with SqliteJournal(path) as journal:
        return await (journal.summary() if what == "summary" else journal.results())


def cmd_status(args: argparse.Namespace) -> int:
    """``seedance-async status``: counts by provider and state."""
    if args.redis is not None or args.batch is not None:
        return _status_from_redis(args)
    if not args.journal:
        return fail("status", "--journal FILE is required (or --redis URL --batch NAME)")
    try:
        path = _existing_journal(args)
        summary = anyio.run(_read, path, "summary")
    except (ConfigurationError, JournalError) as exc:
        return fail("status", str(exc))
    if args.json:
        print(json.dumps({"journal": str(path), **summary}, indent=2, sort_keys=True))
    else:
        print(format_summary(summary, str(path)))
    return EXIT_OK


def _status_from_redis(args: argparse.Namespace) -> int:
    from seedance_async.cli._redis_cmds import redis_errors, summary_from_redis

    if not args.batch:
        return fail("status", "--redis needs --batch NAME")
    try:
        summary = summary_from_redis(args.redis, args.batch, prefix=args.redis_prefix)
    except redis_errors() as exc:
        return fail("status", str(exc))
    if args.json:
        print(json.dumps({"batch": args.batch, **summary}, indent=2, sort_keys=True, default=str))
    else:
        print(format_summary(summary, f"redis batch {args.batch}"))
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    """``seedance-async results``: the results JSONL again, from the journal."""
    try:
        rows = anyio.run(_read, _existing_journal(args), "results")
        if args.out:
            out = ResultsFile(Path(args.out))
            out.rewrite(rows)
            out.close()
        else:
            for row in rows:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    except (ConfigurationError, JournalError) as exc:
        return fail("results", str(exc))
    except OSError as exc:
        return fail("results", f"{args.out}: {exc.strerror}")
    return EXIT_OK


async def _cancel(path: Path, catalog: Mapping[str, ProviderConfig], keep_pending: bool) -> int:
    with JournalLock(path):
        async with SqliteJournal(path) as journal:
            entries = await journal.unfinished()
            aliases = sorted({e.handle.provider for e in entries if e.handle})
            missing = [a for a in aliases if a not in catalog]
            if missing:
                raise ConfigurationError(f"provider {', '.join(missing)} is not configured")
            left = 0
            for entry in entries:
                if entry.handle is None:
                    print(f"{entry.key[:12]}: submit not confirmed yet; `run` again reconciles it")
                    left += 1
            if aliases:
                async with Client([catalog[a] for a in aliases]) as client:
                    for entry in entries:
                        if entry.handle is not None:
                            left += not await _cancel_one(client, journal, entry, entry.handle)
            for key, task in [] if keep_pending else await journal.pending():
                await _cancelled(journal, key, task, None, None, "cancelled before submit")
    return EXIT_FAILED if left else EXIT_OK


async def _cancel_one(
    client: Client, journal: SqliteJournal, entry: JournalEntry, handle: TaskHandle
) -> bool:
    """Cancel one submitted task; True when nothing more will happen to it remotely."""
    provider = client.provider(handle.provider)
    try:
        status = await provider.status(handle.task_id, key=entry.key)
        # The cancel reads the status again: a task that ends meanwhile is left alone
        # (on Ark the same request would delete a finished task's record).
        outcome = await provider.cancel(handle.task_id, key=entry.key)
    except ProviderError as exc:
        print(f"{entry.key[:12]}: cancel failed: {exc}")
        return False
    if outcome.outcome == "already_final":
        state = outcome.state.value if outcome.state else "finished"
        print(f"{entry.key[:12]}: already {state}; `run` again collects it")
        return True
    if not outcome:
        state = outcome.state.value if outcome.state else status.state.value
        print(
            f"{entry.key[:12]}: {handle.provider} cannot cancel a {state} task;"
            " it will finish (and bill): `run` again collects it"
        )
        return False
    await _cancelled(journal, entry.key, entry.task, handle, status, "cancelled remotely")
    print(f"{entry.key[:12]}: cancelled on {handle.provider} ({handle.task_id})")
    return True


async def _cancelled(
    journal: SqliteJournal,
    key: str,
    task: VideoTask,
    handle: TaskHandle | None,
    status: TaskStatus | None,
    why: str,
) -> None:
    attempts = (
        (Attempt(provider=handle.provider, task_id=handle.task_id, outcome="cancelled"),)
        if handle
        else ()
    )
    result = TaskResult(
        key=key,
        task=task,
        outcome=Outcome.CANCELLED,
        status=status,
        handle=handle,
        attempts=attempts,
        reason=f"{why} by `seedance-async cancel`",
        submitted_at=handle.created_at if handle else None,
        finished_at=time.time(),
    )
    await journal.record_result(key, result)


def cmd_cancel(args: argparse.Namespace) -> int:
    """``seedance-async cancel``: stop a batch, remotely where the provider allows."""
    try:
        path = _existing_journal(args)
        return anyio.run(_cancel, path, provider_catalog(args), args.keep_pending)
    except (ConfigurationError, JournalError) as exc:
        return fail("cancel", str(exc))


def _default_folder(rows: Sequence[Mapping[str, Any]]) -> Path:
    folders = {Path(str(r["video_path"])).parent for r in rows if r.get("video_path")}
    if len(folders) == 1:
        return folders.pop()
    raise ConfigurationError(
        "say where the files go with --out DIR (the journal names no single download folder)"
    )


async def _download(path: Path, catalog: Mapping[str, ProviderConfig], out: str | None) -> int:
    with JournalLock(path):
        async with SqliteJournal(path) as journal:
            rows = [r for r in await journal.results() if r["outcome"] == Outcome.SUCCEEDED]
            folder = Path(out) if out else _default_folder(rows)
            report = await fetch_missing_files(
                journal, [str(r["key"]) for r in rows], folder, catalog
            )
    print(f"{report.describe()}; files in {folder}")
    return EXIT_FAILED if report.count("failed") else EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    """``seedance-async download``: fetch the missing files of succeeded tasks."""
    path = Path(args.journal)
    if not path.is_file():
        return fail("download", f"no journal at {path}")
    try:
        return anyio.run(_download, path, provider_catalog(args), args.out)
    except (ConfigurationError, JournalError) as exc:
        return fail("download", str(exc))
    except OSError as exc:
        return fail("download", f"{exc.filename or args.out}: {exc.strerror or exc}")


def _register_download(sub: _Sub) -> None:
    p = sub.add_parser(
        "download",
        help="download the videos (and last frames) of succeeded tasks that are not on disk",
        description=(
            "Fetch every file of the journal's succeeded tasks that is missing or was cut"
            " short, as <key>.mp4 and <key>.last.png. Files already there are kept; partial"
            " files are continued. Nothing is submitted: expired result URLs are renewed by"
            " reading the task again."
        ),
        epilog=f"{KEYS_HELP}\n\nExit 0 when every file is on disk, 4 otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--journal", required=True, metavar="FILE", help="the batch journal of `run`")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where the files go (default: the folder the journal's results already use)",
    )
    p.add_argument("--config", metavar="FILE", help="provider aliases in TOML")
    p.add_argument("--key-env", metavar="NAME", help="read the API key of every alias from $NAME")
    p.set_defaults(func=cmd_download)


def register_journal_commands(sub: _Sub) -> None:
    """Add ``status``, ``results``, ``cancel`` and ``download`` to the CLI."""
    p = sub.add_parser("status", help="summary of a batch journal")
    p.add_argument("--journal", metavar="FILE", help="the batch journal of `run`")
    p.add_argument("--redis", metavar="URL", help="a Redis batch instead (see `run --redis`)")
    p.add_argument("--batch", metavar="NAME", help="the Redis batch name")
    p.add_argument("--redis-prefix", default=DEFAULT_PREFIX, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("results", help="write the results JSONL again from a journal")
    p.add_argument("--journal", required=True, metavar="FILE")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser(
        "cancel",
        help="cancel a batch: remote tasks where the provider allows, and every unsent task",
        epilog=f"{KEYS_HELP}\n\nExit 0 when nothing is left running, 4 otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--journal", required=True, metavar="FILE")
    p.add_argument("--config", metavar="FILE", help="provider aliases in TOML")
    p.add_argument("--key-env", metavar="NAME", help="read the API key of every alias from $NAME")
    p.add_argument(
        "--keep-pending", action="store_true", help="leave never-sent tasks for a later run"
    )
    p.set_defaults(func=cmd_cancel)
    _register_download(sub)
