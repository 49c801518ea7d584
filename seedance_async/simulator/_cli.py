"""``seedance-async simulate``: run the simulated providers until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from seedance_async.simulator._cdn import CdnFaults
from seedance_async.simulator._faults import Faults, parse_faults, parse_spec
from seedance_async.simulator._limits import Limits
from seedance_async.simulator._quirks import SHAPES, Quirks
from seedance_async.simulator._server import ALL_PROVIDERS, DEFAULT_KEY, KEY_ENV, Simulator

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` subcommand to the CLI."""
    parser = subparsers.add_parser(
        "simulate",
        help="run simulated Seedance providers on loopback",
        description=(
            "Start simulated providers (each on its own port) and a result CDN, print their "
            "base URLs, and serve until interrupted."
        ),
    )
    parser.add_argument(
        "--provider",
        action="append",
        choices=ALL_PROVIDERS,
        metavar="NAME",
        help=f"a provider to run (repeatable; default all: {', '.join(ALL_PROVIDERS)})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="first port: providers get N, N+1, ... and the CDN the next one (default: ephemeral)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help='faults for every provider, e.g. "rate_limit=0.2,retry_after=1,drop_after_create=0.01"',
    )
    parser.add_argument(
        "--cdn-faults",
        default="",
        metavar="SPEC",
        help='result-download faults, e.g. "unavailable=0.1,truncated=0.05,truncate_mode=chunked"',
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        help=(
            "real seconds per simulated provider second: bigger is slower and closer to real"
            " time, 1 is real time (default 0.01: a 60 s generation takes 0.6 s)"
        ),
    )
    parser.add_argument(
        "--key", default=DEFAULT_KEY, help=f"the API key to accept (default {DEFAULT_KEY})"
    )
    parser.add_argument(
        "--unlimited",
        action="store_true",
        help="no per-key rate, running or queue limits (default: each provider's documented ones)",
    )
    parser.add_argument(
        "--unified-wrapped",
        action="store_true",
        help="unified: wrap get answers in {code, message, data}",
    )
    parser.add_argument(
        "--unified-shape",
        choices=SHAPES,
        default="default",
        help="unified: the answer envelope (wrapped: {code, message, data}; new_api: "
        "new-api's task API)",
    )
    parser.add_argument(
        "--write-config", metavar="FILE", help="write a TOML provider config for the library"
    )
    parser.add_argument("--exit-after-ready", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the simulator; returns the exit code (2 for bad arguments)."""
    try:
        faults = parse_faults(args.faults) if args.faults else Faults()
    except ValueError as exc:
        print(f"seedance-async simulate: --faults: {exc}", file=sys.stderr)
        return 2
    try:
        cdn_faults = parse_spec(CdnFaults, args.cdn_faults, CdnFaults())
    except ValueError as exc:
        print(f"seedance-async simulate: --cdn-faults: {exc}", file=sys.stderr)
        return 2
    if args.time_scale <= 0:
        print("seedance-async simulate: --time-scale must be > 0", file=sys.stderr)
        return 2
    providers = tuple(dict.fromkeys(args.provider or ALL_PROVIDERS))
    ports: dict[str, int] = {}
    if args.port:
        for offset, name in enumerate((*providers, "cdn")):
            ports[name] = args.port + offset
    sim = Simulator(
        providers,
        api_key=args.key,
        seed=args.seed,
        time_scale=args.time_scale,
        faults=faults,
        host=args.host,
        ports=ports,
        limits=Limits.unlimited() if args.unlimited else None,
        unified_wrapped=args.unified_wrapped,
        quirks={"unified": Quirks(shape=args.unified_shape)},
        cdn_faults=cdn_faults,
    )
    try:
        asyncio.run(_serve(sim, args))
    except OSError as exc:
        print(f"seedance-async simulate: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(sim: Simulator, args: Any) -> None:
    async with sim:
        width = max(len(name) for name in sim.providers)
        for name in sim.providers:
            print(f"{name:<{width}}  {sim.base_url(name)}")
        print(f"{'cdn':<{width}}  {sim.cdn_url}")
        print(
            f"API key: set {KEY_ENV}={args.key}"
            if args.key == DEFAULT_KEY
            else f"API key: {KEY_ENV} (as given)"
        )
        if args.write_config:
            text = sim.config_toml()
            await asyncio.to_thread(Path(args.write_config).write_text, text, encoding="utf-8")
            print(f"wrote {args.write_config}")
        sys.stdout.flush()
        if args.exit_after_ready:
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        print("serving; press Ctrl-C to stop", flush=True)
        await stop.wait()
