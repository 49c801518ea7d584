"""``seedance-async run`` (and the ``demo`` entry); registers the journal commands too.

Argument handling and messages live here; reading the batch file is :mod:`._batch`, the run
itself :mod:`._batch_run`, the display :mod:`._progress`, ``status``/``results``/``cancel``
:mod:`._batch_admin`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio

from seedance_async.cli._batch_file import Batch, read_batch
from seedance_async.cli._batch_run import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    RunPlan,
    run_batch,
)
from seedance_async.cli._callback_args import add_callback_args, check_callback_args
from seedance_async.cli._costs import CostTally, first_alias, parse_max_cost
from seedance_async.cli._journal_cmds import (
    KEYS_HELP,
    fail,
    provider_catalog,
    register_journal_commands,
)
from seedance_async.client._uploading import as_uploaded, missing_uploader, to_upload
from seedance_async.config._provider import BUILTIN_PROVIDERS, ProviderConfig
from seedance_async.core._errors import BatchMismatch, ConfigurationError, JournalError, Violation
from seedance_async.distributed._keys import DEFAULT_PREFIX
from seedance_async.journal._sqlite_schema import BatchIdentity
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.providers import ProviderAdapter, create_adapter
from seedance_async.spec._cost import PriceTable, load_price_table, price_table
from seedance_async.spec._task import ProviderChecker, VideoTask
from seedance_async.telemetry import JsonFormatter
from seedance_async.tracker._spend import cap_currency
from seedance_async.upload._s3 import S3Uploader

__all__ = ["EXIT_CODES_HELP", "register"]

_T = TypeVar("_T")
if TYPE_CHECKING:  # only subscriptable for type checkers
    _Sub = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_CODES_HELP = """\
exit codes:
  0    every task succeeded (and was downloaded, with --download)
  2    usage or configuration error (unknown alias, missing key, unreadable file, journal busy)
  3    some lines of the batch file are invalid (the valid ones ran unless --strict)
  4    some tasks failed, expired, were cancelled, rejected or hit the deadline
  5    some tasks are "unknown": a submit may have created (and billed) a task that could
       not be identified; the result line has the time and reason
  6    the spend cap (--max-cost) kept some tasks from being sent ("capped" result lines):
       raise it, or add --allow-unpriced, and run again to send them
  130  interrupted: run the same command again to resume
When several apply, the first in this order wins: 130, 3, 5, 6, 4."""


def _positive(kind: Callable[[str], _T]) -> Callable[[str], _T]:
    def parse(text: str) -> _T:
        value = kind(text)
        if not value > 0:  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


# -- providers ------------------------------------------------------------------------------


def _failover(text: str, catalog: Mapping[str, ProviderConfig]) -> tuple[str, ...]:
    aliases = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if not aliases:
        raise ConfigurationError("--provider needs at least one alias")
    unknown = [a for a in aliases if a not in catalog]
    if unknown:
        raise ConfigurationError(
            f"unknown provider alias {', '.join(unknown)} (known: {', '.join(sorted(catalog))};"
            " define more with --config)"
        )
    return aliases


class _AliasChecker:
    """An alias's rules as the client applies them: the models it serves, then its adapter,
    which judges the task as it will be sent (local media the uploader stores as URLs)."""

    def __init__(
        self, config: ProviderConfig, adapter: ProviderAdapter, *, uploading: bool, upload_all: bool
    ) -> None:
        self._config = config
        self._adapter = adapter
        self._uploading = uploading
        self._upload_all = upload_all

    def check(self, task: VideoTask) -> list[Violation]:
        wrong = self._config.model_violations(task.model)
        if wrong:
            return wrong
        caps = self._adapter.capabilities
        targets = to_upload(task, caps, upload_all=self._uploading and self._upload_all)
        unsent = [] if self._uploading else missing_uploader(targets)
        return unsent + self._adapter.check(as_uploaded(task, targets))


def _adapters(
    aliases: tuple[str, ...],
    catalog: Mapping[str, ProviderConfig],
    *,
    uploading: bool = False,
    upload_all: bool = False,
) -> dict[str, ProviderChecker]:
    out: dict[str, ProviderChecker] = {}
    for alias in aliases:
        config = catalog[alias]
        options = dict(config.options)
        options.setdefault("name", alias)  # as the client builds it
        adapter = create_adapter(config.adapter, **options)
        out[alias] = _AliasChecker(config, adapter, uploading=uploading, upload_all=upload_all)
    return out


# -- run ----------------------------------------------------------------------------------


def _journal_path(args: argparse.Namespace) -> Path:
    return Path(args.journal) if args.journal else Path(args.out).with_suffix(".journal.db")


def _command_line(args: argparse.Namespace) -> str:
    """The run command with the journal spelled out: what to type to resume."""
    words = ["seedance-async", "run", args.tasks, "--provider", args.provider, "--out", args.out]
    words += ["--journal", str(_journal_path(args))]
    for flag, value in (
        ("--config", args.config),
        ("--download", args.download),
        ("--rate", args.rate),
        ("--max-running", args.max_running),
        ("--deadline", args.deadline),
        ("--key-env", args.key_env),
        ("--poll-scale", args.poll_scale),
        ("--max-cost", args.max_cost),
        ("--prices", args.prices),
        ("--callback-listen", args.callback_listen),
        ("--callback-url", args.callback_url),
    ):
        if value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for flag, text in (
        ("--upload", args.upload),
        ("--upload-endpoint", args.upload_endpoint),
        ("--upload-region", args.upload_region),
    ):
        if text is not None:
            words += [flag, text]
    if args.upload_expires is not None:
        words += ["--upload-expires", f"{args.upload_expires:g}"]
    if args.upload_all:
        words.append("--upload-all")
    for flag, on in (("--append", args.append), ("--allow-unpriced", args.allow_unpriced)):
        if on:
            words.append(flag)
    return shlex.join(words)


def _estimate(
    batch: Batch,
    failover: tuple[str, ...],
    adapters: Mapping[str, ProviderChecker],
    table: PriceTable,
) -> None:
    """The ``--dry-run`` estimate: each valid line priced on the alias it goes to first."""
    tally = CostTally(table)
    for line in batch.lines:
        alias = first_alias(line.task, failover, adapters)
        if alias is not None:
            tally.estimate(line.task, alias)
    lines = tally.lines(actual=False)
    if lines:
        print("estimated cost if every task succeeds on the first provider that accepts it:")
        print("\n".join(lines))


def _cap(
    args: argparse.Namespace, failover: tuple[str, ...], table: PriceTable
) -> tuple[float, str] | None:
    if args.max_cost is None:
        if args.allow_unpriced:
            raise ConfigurationError("--allow-unpriced applies to a spend cap: add --max-cost")
        return None
    amount, currency = parse_max_cost(args.max_cost)
    return amount, currency or cap_currency(failover, table)


def _log_json(secrets: Iterable[str]) -> None:
    """Every record of the library as one JSON line on stderr, the API keys redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets=secrets))
    logger = logging.getLogger("seedance_async")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0-65535, got {text}")
    return port


def _uploader(args: argparse.Namespace) -> S3Uploader | None:
    """The ``--upload`` store (no connection is made here: ``--dry-run`` stores nothing).

    Raises:
        ConfigurationError: a bad URL, a missing s3 extra, or upload options without one.
    """
    if args.upload is None:
        if args.upload_all or args.upload_endpoint or args.upload_region:
            raise ConfigurationError("--upload-* options need --upload s3://BUCKET[/PREFIX]")
        return None
    if args.redis is not None or args.batch is not None:
        raise ConfigurationError("--upload is not supported with --redis/--batch yet")
    return S3Uploader.from_url(
        args.upload,
        endpoint_url=args.upload_endpoint,
        region=args.upload_region,
        expires_in=args.upload_expires,
    )


def _report_batch(batch: Batch) -> None:
    for problem in batch.problems:
        print(problem, file=sys.stderr)
    bad = batch.invalid_lines
    print(
        f"{batch.file}: {batch.line_count} lines, {len(batch.lines)} tasks to run"
        + (f", {bad} invalid line{'s' * (bad != 1)}" if bad else ""),
        file=sys.stderr,
    )


def cmd_run(args: argparse.Namespace) -> int:
    """``seedance-async run``: validate, then submit and track a JSONL batch."""
    try:
        catalog = provider_catalog(args)
        failover = _failover(args.provider, catalog)
        check_callback_args(args)
        uploader = _uploader(args)
        adapters = _adapters(
            failover, catalog, uploading=uploader is not None, upload_all=args.upload_all
        )
    except ConfigurationError as exc:
        return fail("run", str(exc))
    try:
        batch = read_batch(args.tasks, adapters, draft=args.draft)
    except OSError as exc:
        return fail("run", f"{args.tasks}: cannot read the batch file ({exc.strerror})")
    _report_batch(batch)
    invalid = bool(batch.errors)
    try:
        table = load_price_table(args.prices) if args.prices else price_table()
        max_cost = _cap(args, failover, table)
    except ConfigurationError as exc:
        return fail("run", str(exc))
    if args.dry_run:
        _estimate(batch, failover, adapters, table)
        return EXIT_INVALID if invalid else EXIT_OK
    if invalid and args.strict:
        return fail("run", "--strict: invalid lines, nothing was submitted", EXIT_INVALID)
    if args.redis is not None or args.batch is not None:
        if args.callback_listen is not None:
            return fail(
                "run",
                "--callback-listen is for the processes that run the tasks: pass it to"
                " `seedance-async worker` (one address per host)",
            )
        # Scale-out: queue the valid lines in Redis; `seedance-async worker` processes run them.
        from seedance_async.cli._redis_cmds import enqueue_from_run

        name = args.batch or Path(args.tasks).stem
        code = enqueue_from_run(args.redis, name, batch.lines, prefix=args.redis_prefix)
        return EXIT_INVALID if invalid and code == EXIT_OK else code
    if not args.out:
        return fail("run", "--out FILE is required (or --redis URL to queue the batch for workers)")
    try:  # before any file is written: a missing key is a usage error, not a crashed run
        keys = [catalog[alias].resolve_key() for alias in failover]
    except ConfigurationError as exc:
        return fail("run", str(exc))
    if args.log_json:
        _log_json(k.reveal() for k in keys)
    schedule, backstop, window = PollSchedule(), PollSchedule.backstop(), 0.5
    if args.poll_scale:
        schedule, backstop = schedule.scaled(args.poll_scale), backstop.scaled(args.poll_scale)
        window *= args.poll_scale
    plan = RunPlan(
        catalog=catalog,
        failover=failover,
        journal_path=_journal_path(args),
        out_path=Path(args.out),
        download_dir=Path(args.download) if args.download else None,
        deadline=args.deadline,
        schedule=schedule,
        backstop=backstop,
        confirm_window=window,
        callback_listen=args.callback_listen,
        callback_url=args.callback_url,
        progress=args.progress,
        log_interval=args.log_interval,
        command=_command_line(args),
        batch=BatchIdentity(digest=batch.digest, source=args.tasks, lines=len(batch.lines)),
        append=args.append,
        max_cost=max_cost,
        allow_unpriced=args.allow_unpriced,
        prices=table if args.prices else None,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        log_events=args.log_json,
        probe_media=args.probe_media,
        uploader=uploader,
        upload_all=args.upload_all,
    )
    try:
        report = anyio.run(run_batch, plan, batch.lines)
    except BatchMismatch as exc:
        return fail(
            "run",
            f"{exc}.\nRunning both would mix their tasks and results. Start a new batch with"
            " another --out (or --journal), or add --append to run these tasks in this journal"
            " too.",
        )
    except (ConfigurationError, JournalError) as exc:
        return fail("run", str(exc))
    except KeyboardInterrupt:  # before the signal handlers were in place
        print(f"interrupted; resume with: {plan.command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    code = report.exit_code()
    return EXIT_INVALID if invalid and code != EXIT_INTERRUPTED else code


def _add_run(sub: _Sub) -> None:
    p = sub.add_parser(
        "run",
        help="validate a JSONL batch, then generate every task with progress and resume",
        description=(
            "Validate every line of TASKS (one VideoTask JSON object per line), then submit and "
            "track the tasks across the chosen providers, writing one result line per task to "
            "--out as it finishes. Running the same command again resumes the batch from its "
            "journal: finished tasks are kept, running ones are followed, nothing is paid twice."
        ),
        epilog=f"{KEYS_HELP}\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("tasks", metavar="TASKS.jsonl", help="the batch file")
    p.add_argument(
        "--provider",
        required=True,
        metavar="ALIAS[,ALIAS...]",
        help="provider aliases in failover order (built-in: "
        + ", ".join(BUILTIN_PROVIDERS)
        + "; more via --config)",
    )
    p.add_argument("--config", metavar="FILE", help="provider aliases in TOML")
    p.add_argument("--out", metavar="FILE", help="results JSONL (required without --redis)")
    p.add_argument("--download", metavar="DIR", help="download videos here as <key>.mp4")
    p.add_argument(
        "--journal", metavar="FILE", help="the batch journal (default: <out>.journal.db)"
    )
    p.add_argument(
        "--rate",
        type=_positive(float),
        metavar="N",
        help="submits per minute for each provider (overrides the config)",
    )
    p.add_argument(
        "--max-running",
        type=_positive(int),
        metavar="N",
        help="tasks running at once per provider key (overrides the config)",
    )
    p.add_argument(
        "--deadline",
        type=_positive(float),
        metavar="SECONDS",
        help="give up on a task this long after its submit (cancelled remotely where possible)",
    )
    p.add_argument("--key-env", metavar="NAME", help="read the API key of every alias from $NAME")
    p.add_argument(
        "--append",
        action="store_true",
        help="run these tasks in a journal that belongs to another batch file (refused"
        " otherwise: both batches' tasks would run and be written to --out)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the estimated cost per provider and model; submit and"
        " upload nothing",
    )
    p.add_argument(
        "--probe-media",
        action="store_true",
        help="before sending a task, read the header of each http(s) reference video and"
        " audio clip (a few ranged GETs) and fail the task unsent when one breaks a rule",
    )
    p.add_argument(
        "--max-cost",
        metavar="AMOUNT[CUR]",
        help="spend cap, e.g. '25 USD' (currency default: the one the aliases are priced in):"
        " tasks whose worst case would pass it are not sent (resumable with a higher cap)",
    )
    p.add_argument(
        "--allow-unpriced",
        action="store_true",
        help="under --max-cost, send tasks without a price too (uncounted); refused otherwise",
    )
    p.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics while the batch runs",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 for remote scrapers)",
    )
    p.add_argument(
        "--log-json",
        action="store_true",
        help="log every state change as one JSON object per line on stderr (keys redacted)",
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="your prices in TOML ([prices.<alias>] tables), laid over the shipped list",
    )
    p.add_argument(
        "--upload",
        metavar="s3://BUCKET[/PREFIX]",
        help="store local media there and send presigned URLs (needs the s3 extra; credentials"
        " from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws); objects are keyed by content,"
        " so a re-run stores nothing twice",
    )
    p.add_argument(
        "--upload-endpoint",
        metavar="URL",
        help="an S3-compatible endpoint, e.g. MinIO's (default: $AWS_ENDPOINT_URL, else AWS)",
    )
    p.add_argument(
        "--upload-region", metavar="NAME", help="the bucket's region (default: $AWS_REGION)"
    )
    p.add_argument(
        "--upload-expires",
        type=_positive(float),
        metavar="SECONDS",
        help="presigned URL lifetime (default: each task's deadline, else 48 h, plus an hour;"
        " at most 7 days)",
    )
    p.add_argument(
        "--upload-all",
        action="store_true",
        help="send local images and audio through --upload too, instead of inline base64"
        " (local videos always go through it)",
    )
    p.add_argument("--strict", action="store_true", help="submit nothing when any line is invalid")
    p.add_argument(
        "--draft",
        action="store_true",
        help="run every line as a cheap 480p draft; later, 'seedance-async finalize' turns the"
        " drafts you keep into final videos",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bars", "plain"),
        default="auto",
        help="bars on a terminal (needs rich), plain log lines otherwise (default auto)",
    )
    p.add_argument(
        "--log-interval",
        type=_positive(float),
        metavar="SECONDS",
        help="seconds between progress updates (default 10 for plain lines)",
    )
    p.add_argument(
        "--poll-scale",
        type=_positive(float),
        metavar="FACTOR",
        help="multiply poll timing, e.g. 0.01 against `simulate --time-scale 0.01`",
    )
    p.add_argument(
        "--redis",
        metavar="URL",
        help="queue the batch in Redis for `seedance-async worker` processes instead of running it"
        " here (default URL: $SEEDANCE_REDIS_URL when --batch is given)",
    )
    p.add_argument(
        "--batch", metavar="NAME", help="the Redis batch name (default: the file's stem)"
    )
    p.add_argument("--redis-prefix", default=DEFAULT_PREFIX, help=argparse.SUPPRESS)
    add_callback_args(p)
    p.set_defaults(func=cmd_run)


# -- demo (implemented in seedance_async.cli._demo) ---------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """``seedance-async demo``: hands its arguments to :func:`seedance_async.cli._demo.main`."""
    try:
        demo = importlib.import_module("seedance_async.cli._demo")
    except ModuleNotFoundError as exc:
        if exc.name != "seedance_async.cli._demo":
            raise
        return fail("demo", "not available in this version")
    code: int = demo.main(args.argv)
    return code


def register(subparsers: _Sub) -> None:
    """Add ``run``, ``status``, ``results``, ``cancel`` and ``demo`` to the CLI."""
    _add_run(subparsers)
    register_journal_commands(subparsers)
    # Every argument, --help included, goes to the demo's own parser: with no prefix
    # characters of its own this parser takes "--count 5" as plain words.
    p = subparsers.add_parser(
        "demo",
        help="a batch against the simulator, end to end",
        add_help=False,
        prefix_chars="\0",
    )
    p.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
