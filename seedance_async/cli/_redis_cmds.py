"""``seedance-async worker | enqueue | redis-status``: the distributed mode's commands.

``run --redis`` and ``status --redis`` of the batch CLI call the same functions
(:func:`~seedance_async.distributed._batch.enqueue_batch`,
:func:`~seedance_async.distributed._batch.redis_summary`). Nothing here imports redis-py until a
command runs, so the CLI works without the ``redis`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from seedance_async.cli._callback_args import add_callback_args, check_callback_args
from seedance_async.config._provider import BUILTIN_PROVIDERS, ProviderConfig, load_provider_config
from seedance_async.core._errors import ConfigurationError, SeedanceError
from seedance_async.distributed._keys import DEFAULT_PREFIX
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.telemetry import MetricsServer, PrometheusMetrics

if TYPE_CHECKING:
    from seedance_async.callbacks import CallbackServer, CallbackStats
    from seedance_async.distributed._worker import RedisWorker, WorkerReport

    _Sub = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["EXIT_LEASE_LOST", "register"]

EXIT_LEASE_LOST = 75  # EX_TEMPFAIL: restart the worker; its tasks were taken over
_URL_HELP = "Redis URL, e.g. redis://127.0.0.1:6379/0 (default: $SEEDANCE_REDIS_URL)"


def _providers(args: argparse.Namespace) -> tuple[tuple[ProviderConfig, ...], tuple[str, ...]]:
    """(every alias of the catalog a worker may need, the failover order for new submits)."""
    catalog = {**BUILTIN_PROVIDERS, **(load_provider_config(args.config) if args.config else {})}
    if args.provider:
        order = tuple(dict.fromkeys(a.strip() for a in args.provider.split(",") if a.strip()))
    elif args.config:
        order = tuple(load_provider_config(args.config))
    else:
        raise ConfigurationError("name the providers with --provider (or give --config)")
    unknown = [a for a in order if a not in catalog]
    if unknown:
        raise ConfigurationError(
            f"unknown provider alias {', '.join(unknown)} (known: {', '.join(sorted(catalog))})"
        )
    return tuple(catalog[a] for a in order), order


def _url(args: argparse.Namespace) -> str:
    url: str | None = args.redis or os.environ.get("SEEDANCE_REDIS_URL")
    if not url:
        raise ConfigurationError("give --redis URL (or set SEEDANCE_REDIS_URL)")
    return url


def _common(p: argparse.ArgumentParser, *, providers: bool = True) -> None:
    p.add_argument("--redis", metavar="URL", help=_URL_HELP)
    p.add_argument("--batch", required=True, metavar="NAME", help="the batch name")
    p.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"Redis key prefix (default {DEFAULT_PREFIX})"
    )
    if providers:
        p.add_argument("--config", metavar="FILE", help="provider aliases in TOML")
        p.add_argument("--provider", metavar="A,B", help="aliases in failover order")


def register(subparsers: _Sub) -> None:
    """Add ``worker``, ``enqueue``, ``redis-status`` and ``callbacks`` to the CLI."""
    p = subparsers.add_parser(
        "worker",
        help="process a Redis batch (run any number, on any host)",
        description="Claim tasks of a Redis batch, submit and follow them under budgets shared "
        "with every other worker, and take over the tasks of workers that died.",
    )
    _common(p)
    p.add_argument("--concurrency", type=int, default=500, help="tasks followed at once")
    p.add_argument("--lease", type=float, default=15.0, help="seconds before takeover")
    p.add_argument("--submit-burst", type=float, help="creates back to back per key")
    p.add_argument(
        "--poll-burst", type=float, help="status/list requests back to back per key (default 1)"
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="scale poll timing (e.g. 0.01 against `simulate --time-scale 0.01`)",
    )
    p.add_argument("--progress-interval", type=float, default=5.0, help="seconds between lines")
    p.add_argument("--stay", action="store_true", help="keep waiting once the batch is done")
    p.add_argument("--id", help="worker id (default host-pid-random)")
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve this worker's Prometheus metrics at http://HOST:PORT/metrics",
    )
    p.add_argument(
        "--metrics-host", default="127.0.0.1", metavar="HOST", help="address for --metrics-port"
    )
    add_callback_args(p)
    p.set_defaults(func=_worker)

    p = subparsers.add_parser("enqueue", help="queue a JSONL batch file in Redis for workers")
    _common(p)
    p.add_argument("tasks", help="the JSONL batch file")
    p.add_argument("--force", action="store_true", help="enqueue into a batch rebuilt after loss")
    p.set_defaults(func=_enqueue)

    p = subparsers.add_parser("redis-status", help="progress of a Redis batch, as JSON")
    _common(p, providers=False)
    p.add_argument("--results", action="store_true", help="print result lines (JSONL) instead")
    p.set_defaults(func=_status)

    p = subparsers.add_parser(
        "callbacks",
        help="receive provider callbacks for a Redis batch and relay them to its workers",
        description="A callback receiver that follows no task itself: each callback for a"
        " task some worker of the batch follows is passed to that worker through Redis (the"
        " workers' own --callback-listen does the same for tasks of other workers). Put it"
        " behind the public URL the workers' --callback-url names.",
    )
    _common(p, providers=False)
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to bind")
    p.add_argument(
        "--url",
        metavar="URL",
        help="the public URL that reaches it, without the token (default http://HOST:PORT;"
        " required with 0.0.0.0)",
    )
    p.set_defaults(func=_callbacks)


def _errors() -> tuple[type[Exception], ...]:
    """What a command reports in one line instead of a traceback (Redis unreachable too)."""
    base: tuple[type[Exception], ...] = (SeedanceError, ValueError, OSError)
    try:
        from seedance_async.distributed._conn import outage_errors

        return base + outage_errors()
    except ImportError:  # no redis extra: connect() says so with a ConfigurationError
        return base


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _fail(command: str, exc: BaseException) -> int:
    print(f"seedance-async {command}: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, ConfigurationError | ValueError) else 1


# -- callbacks --------------------------------------------------------------------------------


def _callbacks(args: argparse.Namespace) -> int:
    try:
        check_callback_args(args, listen="listen", url="url")
        url = _url(args)
        stats = asyncio.run(_serve_callbacks(url, args))
    except (ConfigurationError, ValueError) as exc:
        return _fail("callbacks", exc)
    print(
        f"exit received={stats.received} relayed={stats.relayed_out}"
        f" rejected={sum(stats.rejected.values())}",
        flush=True,
    )
    return 0


async def _serve_callbacks(url: str, args: argparse.Namespace) -> CallbackStats:
    from seedance_async.distributed._callbacks import serve_front
    from seedance_async.distributed._conn import connect
    from seedance_async.distributed._keys import BatchKeys

    stop = anyio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)

    def ready(server: CallbackServer) -> None:
        print(
            f"relaying callbacks for batch {args.batch} at {server.public_url}"
            f" (listening on {args.listen})",
            flush=True,
        )

    redis = connect(url, name="seedance-callbacks")
    try:
        return await serve_front(
            redis,
            BatchKeys.of(args.batch, args.prefix),
            listen=args.listen,
            public_url=args.url,
            stop=stop,
            ready=ready,
        )
    finally:
        await redis.aclose()


# -- worker -----------------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> int:
    from seedance_async.distributed._worker import RedisWorker, WorkerSettings

    try:
        configs, order = _providers(args)
        check_callback_args(args)
        if args.time_scale <= 0 or args.concurrency < 1 or args.lease <= 0:
            raise ConfigurationError("--time-scale and --lease must be > 0, --concurrency >= 1")
        settings = WorkerSettings(
            url=_url(args),
            batch=args.batch,
            providers=configs,
            order=order,
            concurrency=args.concurrency,
            lease=args.lease,
            submit_burst=args.submit_burst,
            poll_burst=args.poll_burst,
            schedule=PollSchedule().scaled(args.time_scale),
            callback_listen=args.callback_listen,
            callback_url=args.callback_url,
            backstop=PollSchedule.backstop().scaled(args.time_scale),
            confirm_window=0.5 * args.time_scale,
            exit_when_done=not args.stay,
            progress_interval=args.progress_interval,
            prefix=args.prefix,
            worker_id=args.id,
        )
        if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
            raise ConfigurationError(
                f"--metrics-port: a TCP port is 0-65535 (got {args.metrics_port})"
            )
        metrics = PrometheusMetrics() if args.metrics_port is not None else None
        worker = RedisWorker(settings, on_event=metrics)
        server = (
            None
            if metrics is None
            else MetricsServer(metrics, args.metrics_port, args.metrics_host)
        )
        report = asyncio.run(_run_worker(worker, server))
    except (ConfigurationError, ValueError) as exc:
        return _fail("worker", exc)
    except BaseExceptionGroup as group:  # raised inside the worker's task groups
        found, _ = group.split((ConfigurationError, ValueError))
        if found is None:
            raise
        return _fail("worker", _leaf(found))
    return EXIT_LEASE_LOST if report.reason == "lease lost" else 0


async def _run_worker(worker: RedisWorker, server: MetricsServer | None) -> WorkerReport:
    async with contextlib.AsyncExitStack() as stack:
        if server is not None:
            await stack.enter_async_context(server)
            print(f"metrics at http://{server.host}:{server.port}/metrics", flush=True)
        return await _work(worker)


async def _work(worker: RedisWorker) -> WorkerReport:
    stop = anyio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            os._exit(130)  # second signal: at once; Redis holds everything committed
        print(f"stopping worker={worker.id} (again to exit at once)", flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
    return await worker.run(stop)


# -- enqueue and status -------------------------------------------------------------------------


def _enqueue(args: argparse.Namespace) -> int:
    from seedance_async.cli._batch_file import read_batch
    from seedance_async.distributed._batch import enqueue_batch
    from seedance_async.providers import create_adapter

    try:
        configs, _ = _providers(args)
        checkers = {}
        for c in configs:
            options: dict[str, object] = {**c.options}
            options.setdefault("name", c.alias)
            checkers[c.alias] = create_adapter(c.adapter, **options)
        batch = read_batch(args.tasks, checkers)
        for problem in batch.problems:
            print(problem, file=sys.stderr)
        items = [(line.key, line.task, line.line_no) for line in batch.lines]
        report = asyncio.run(
            enqueue_batch(_url(args), args.batch, items, prefix=args.prefix, force=args.force)
        )
    except _errors() as exc:
        return _fail("enqueue", exc)
    print(f"batch {args.batch}: {report.added} queued, {report.known} already known")
    return 3 if batch.errors else 0


def _status(args: argparse.Namespace) -> int:
    from seedance_async.distributed._batch import redis_results, redis_summary

    try:
        url = _url(args)
        if args.results:
            for row in asyncio.run(redis_results(url, args.batch, prefix=args.prefix)):
                print(json.dumps(row, ensure_ascii=False))
            return 0
        summary: Mapping[str, object] = asyncio.run(
            redis_summary(url, args.batch, prefix=args.prefix)
        )
    except _errors() as exc:
        return _fail("redis-status", exc)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def enqueue_from_run(url: str | None, batch: str, lines: Sequence[Any], *, prefix: str) -> int:
    """``run ... --redis URL``: queue the validated lines of a batch for workers.

    Returns:
        0, or 2 when Redis refused or could not be reached (the message is printed).
    """
    from seedance_async.distributed._batch import enqueue_batch

    try:
        items = [(line.key, line.task, line.line_no) for line in lines]
        target = url or os.environ.get("SEEDANCE_REDIS_URL") or ""
        if not target:
            raise ValueError("no Redis URL: pass --redis URL or set SEEDANCE_REDIS_URL")
        report = asyncio.run(enqueue_batch(target, batch, items, prefix=prefix))
    except _errors() as exc:
        return _fail("run", exc)
    print(
        f"batch {batch}: {report.added} queued, {report.known} already known; start workers with:\n"
        f"  seedance-async worker --redis {target} --batch {batch} --provider ..."
    )
    return 0


def summary_from_redis(url: str | None, batch: str, *, prefix: str) -> Mapping[str, Any]:
    """``status --redis URL --batch NAME``: the batch summary, same keys as a journal's.

    Raises:
        SeedanceError, ValueError, OSError or a Redis connection error.
    """
    from seedance_async.distributed._batch import redis_summary

    target = url or os.environ.get("SEEDANCE_REDIS_URL") or ""
    if not target:
        raise ValueError("no Redis URL: pass --redis URL or set SEEDANCE_REDIS_URL")
    summary: Mapping[str, Any] = asyncio.run(redis_summary(target, batch, prefix=prefix))
    return summary


def redis_errors() -> tuple[type[Exception], ...]:
    """Errors a Redis-backed command reports in one line."""
    return _errors()
