"""The ``seedance-async`` command line: subcommands registered by the modules that own them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

__all__ = ["main"]

# Each entry: module path of a ``register(subparsers)`` function. A subcommand's module
# sets ``func`` on its parser; main() calls it with the parsed arguments.
_SUBCOMMAND_MODULES = (
    "seedance_async.cli._run",
    "seedance_async.cli._finalize_cmd",
    "seedance_async.simulator._cli",
    "seedance_async.cli._redis_cmds",
)


def _version() -> str:
    try:
        return version("seedance-async")
    except PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0.0.0"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="seedance-async",
        description="Drive Seedance video generation across providers; simulate providers offline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _SUBCOMMAND_MODULES:
        module = importlib.import_module(module_name)
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = (
            module.register
        )
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return func(args)
