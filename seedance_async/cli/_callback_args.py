"""``--callback-listen`` and ``--callback-url``, shared by ``run`` and ``worker``."""

from __future__ import annotations

import argparse

from seedance_async.callbacks._receiver import check_public_url
from seedance_async.callbacks._server import parse_listen
from seedance_async.core._errors import ConfigurationError

__all__ = ["add_callback_args", "check_callback_args"]

_EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (recognised, not bound)


def check_callback_args(args: argparse.Namespace) -> None:
    """``--callback-listen`` / ``--callback-url`` make sense together (shared with ``worker``).

    Raises:
        ConfigurationError: a malformed address or URL, a URL without an address, or an
            address on every interface without the URL the provider posts to.
    """
    if args.callback_url is not None:
        if args.callback_listen is None:
            raise ConfigurationError(
                "--callback-url needs --callback-listen HOST:PORT: the address the server"
                " that receives the callbacks binds"
            )
        check_public_url(args.callback_url)
    if args.callback_listen is not None:
        host, _ = parse_listen(args.callback_listen)
        if host in _EVERY_INTERFACE and args.callback_url is None:
            raise ConfigurationError(
                f"--callback-listen {args.callback_listen} listens on every interface: give"
                " --callback-url, the public URL the provider posts callbacks to"
            )


def add_callback_args(p: argparse.ArgumentParser) -> None:
    """The callback options of ``run`` and ``worker``."""
    p.add_argument(
        "--callback-listen",
        metavar="HOST:PORT",
        help="receive provider callbacks on this address (Ark and pass-through gateways post"
        " each task's status changes): a task's end is noticed within about a second with"
        " about one request per task; polls remain as the backstop. Keep it fixed to resume",
    )
    p.add_argument(
        "--callback-url",
        metavar="URL",
        help="the public URL the provider reaches --callback-listen at, without the token"
        " (default http://HOST:PORT; required with 0.0.0.0)",
    )
