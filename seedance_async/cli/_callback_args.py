"""``--callback-listen`` and ``--callback-url``, shared by ``run`` and ``worker``."""

from __future__ import annotations

import argparse

from seedance_async.callbacks._receiver import check_public_url
from seedance_async.callbacks._server import parse_listen
from seedance_async.core._errors import ConfigurationError

__all__ = ["add_callback_args", "check_callback_args"]

_EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (recognised, not bound)


def check_callback_args(
    args: argparse.Namespace,
    *,
    listen: str = "callback_listen",
    url: str = "callback_url",
) -> None:
    """``--callback-listen`` / ``--callback-url`` make sense together (shared with ``worker``;
    ``callbacks`` names them ``--listen`` / ``--url``: ``listen`` and ``url`` are the
    attribute names).

    Raises:
        ConfigurationError: a malformed address or URL, a URL without an address, or an
            address on every interface without the URL the provider posts to.
    """
    listen_value, url_value = getattr(args, listen), getattr(args, url)
    listen_flag, url_flag = _flag(listen), _flag(url)
    if url_value is not None:
        if listen_value is None:
            raise ConfigurationError(
                f"{url_flag} needs {listen_flag} HOST:PORT: the address the server that"
                " receives the callbacks binds"
            )
        check_public_url(url_value)
    if listen_value is not None:
        host, _ = parse_listen(listen_value)
        if host in _EVERY_INTERFACE and url_value is None:
            raise ConfigurationError(
                f"{listen_flag} {listen_value} listens on every interface: give"
                f" {url_flag}, the public URL the provider posts callbacks to"
            )


def _flag(attribute: str) -> str:
    return "--" + attribute.replace("_", "-")


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
