"""``seedance-async finalize``: the second stage of a draft batch.

Stage one is ``seedance-async run TASKS.jsonl --draft --provider ALIAS --out drafts.jsonl``:
every line runs as a cheap 480p draft, journaled beside ``drafts.jsonl``. Once you have
looked at the drafts (and deleted the lines of those you do not want from the results file,
or not), ``finalize`` reads the journal and writes one final spec per succeeded draft: a
batch of ``{"model", "from_draft": <draft task id>, <your final options>, "metadata":
{"draft_key", "draft_provider", ...}}`` lines. Run that batch with ``run`` on the alias the
drafts ran on (the command is printed; the draft ids mean nothing elsewhere): its journal
sends each final at most once, and each final's spec names its draft.

``--keep FILE`` restricts the finals to the drafts whose keys a results file lists (the
results JSONL of stage one, edited down to the drafts you liked).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio

from seedance_async.cli._batch_run import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from seedance_async.client._finalize import final_spec
from seedance_async.core._errors import InvalidTaskSpec, JournalError
from seedance_async.journal._record import JournalRecord
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.spec._codec import dump_task

__all__ = ["cmd_finalize", "register"]


async def _drafts(journal_path: Path) -> list[JournalRecord]:
    async with SqliteJournal(journal_path) as journal:
        records = await journal.finished()
    return [
        r
        for r in records
        if r.task.draft and r.result is not None and r.result.ok and r.result.handle is not None
    ]


def _kept_keys(path: Path) -> set[str]:
    keys: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            key = json.loads(raw).get("key")
            if isinstance(key, str):
                keys.add(key)
    return keys


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.resolution is not None:
        options["resolution"] = args.resolution
    if args.watermark is not None:
        options["watermark"] = args.watermark == "true"
    if args.return_last_frame:
        options["return_last_frame"] = True
    return options


def cmd_finalize(args: argparse.Namespace) -> int:
    """Write the finals batch of every succeeded draft in ``--journal``."""
    journal_path = Path(args.journal)
    if not journal_path.exists():
        print(f"finalize: {journal_path}: no such journal", file=sys.stderr)
        return EXIT_USAGE
    try:
        drafts = anyio.run(_drafts, journal_path)
        kept = _kept_keys(Path(args.keep)) if args.keep else None
    except (JournalError, OSError, ValueError) as exc:
        print(f"finalize: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if kept is not None:
        drafts = [d for d in drafts if d.key in kept]
    if not drafts:
        print(f"finalize: no succeeded drafts in {journal_path}", file=sys.stderr)
        return EXIT_INVALID
    options = _options(args)
    lines: dict[str, list[str]] = defaultdict(list)
    for record in drafts:
        handle = record.result.handle if record.result is not None else None
        assert handle is not None  # filtered above
        metadata = {
            **record.task.metadata,
            "draft_key": record.key,
            "draft_provider": handle.provider,
        }
        try:
            task = final_spec(handle, {**options, "metadata": metadata})
        except InvalidTaskSpec as exc:
            print(f"finalize: {exc}", file=sys.stderr)
            return EXIT_INVALID
        lines[handle.provider].append(json.dumps(dump_task(task)) + "\n")
    out = Path(args.out)
    several = len(lines) > 1
    for alias, rows in lines.items():
        # Finals run where their drafts ran: one file per alias when drafts ran on several.
        path = out.with_name(f"{out.stem}.{alias}{out.suffix}") if several else out
        path.write_text("".join(rows), encoding="utf-8")
        results = path.with_name(f"{path.stem}-results.jsonl")
        print(f"{len(rows)} finals in {path}; run them with:")
        print(f"  seedance-async run {path} --provider {alias} --out {results}")
    return EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``finalize`` to the CLI."""
    p = subparsers.add_parser(
        "finalize",
        help="turn the succeeded drafts of a 'run --draft' batch into a batch of finals",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--journal", required=True, metavar="FILE", help="the drafts run's journal")
    p.add_argument("--out", required=True, metavar="FILE", help="the finals batch (JSONL) to write")
    p.add_argument(
        "--keep", metavar="RESULTS.jsonl", help="only the drafts whose keys this file lists"
    )
    p.add_argument("--resolution", help="the finals' resolution (default: the model's, 720p)")
    p.add_argument("--watermark", choices=("true", "false"), help="the finals' watermark")
    p.add_argument(
        "--return-last-frame", action="store_true", help="the finals return their last frame"
    )
    p.set_defaults(func=cmd_finalize)
