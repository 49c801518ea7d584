"""The receiver on a port of its own: bind first, and fail before any task names the URL."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web
from yarl import URL

from seedance_async.callbacks._aiohttp import RedactingAccessLogger, callback_routes
from seedance_async.callbacks._receiver import CallbackReceiver, ReceiverLimits
from seedance_async.callbacks._registry import CallbackStats
from seedance_async.core._errors import ConfigurationError

__all__ = ["CallbackServer", "CallbackServerError", "parse_listen"]

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (recognised, not bound)


class CallbackServerError(ConfigurationError):
    """The callback server could not start: its address cannot be bound (in use, not
    allowed, no such interface). Raised before anything was submitted with its URL."""


def parse_listen(listen: str | tuple[str, int]) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"[::1]:PORT"``, ``":PORT"`` (every interface) or ``(host, port)``.

    Raises:
        ConfigurationError: not of that form, or the port is outside 0-65535.
    """
    if isinstance(listen, tuple):
        host, port = listen
    else:
        text = listen.strip()
        head, sep, tail = text.rpartition(":")
        if not sep or not tail.isdigit():
            raise ConfigurationError(f"callback listen address must be HOST:PORT, got {listen!r}")
        host, port = head, int(tail)
        if host.startswith("["):
            if not host.endswith("]"):
                raise ConfigurationError(f"callback listen address: unclosed '[' in {listen!r}")
            host = host[1:-1]
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"callback listen port must be within 0-65535, got {port!r}")
    return host, port


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class CallbackServer:
    """A :class:`CallbackReceiver` on its own aiohttp server, as an async context manager.

    ``async with CallbackServer(listen="0.0.0.0:8080", public_url="https://hooks.example.com/sd")
    as server:`` binds the port on entry (or raises :class:`CallbackServerError`), serves
    ``POST {path}/{token}``, and stops on exit. Give it to ``Tracker(callbacks=...)``, or
    use ``server.receiver`` directly.

    Args:
        listen: address to bind, ``"HOST:PORT"`` or ``(host, port)``; port 0 picks a free
            port (see :attr:`port`).
        public_url: how the provider reaches this server, without the token. Optional
            when listening on one concrete address: then ``http://HOST:PORT`` (loopback
            tests, a simulator); required on every interface (``0.0.0.0``, ``::``).
        path: the path the server routes tokens under; default: the path of
            ``public_url`` (a reverse proxy that strips a prefix needs ``path=""``).
        receiver: a receiver to serve (default: a new one with ``limits``).
        limits: the limits of a new receiver.

    Raises:
        ConfigurationError: ``listen`` or ``public_url`` is malformed, or ``public_url`` is
            missing while listening on every interface.
    """

    def __init__(
        self,
        *,
        listen: str | tuple[str, int],
        public_url: str | None = None,
        path: str | None = None,
        receiver: CallbackReceiver | None = None,
        limits: ReceiverLimits | None = None,
    ) -> None:
        self.host, self._port = parse_listen(listen)
        self.receiver = receiver or CallbackReceiver(limits=limits)
        self._owns_receiver = receiver is None
        if public_url is not None:
            self.receiver.set_public_url(public_url)
        if self.receiver.public_url is None and self.host in _WILDCARDS:
            raise ConfigurationError(
                "a callback server listening on every interface needs public_url: the "
                "address the provider posts to"
            )
        if path is None:
            base = self.receiver.public_url
            path = URL(base).path if base is not None else ""
        self.path = "/" + path.strip("/") if path.strip("/") else ""
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        state = "running" if self._runner is not None else "stopped"
        return f"CallbackServer({_url_host(self.host)}:{self._port}, {state})"

    @property
    def port(self) -> int:
        """The bound port (the chosen one when ``listen`` asked for port 0)."""
        return self._port

    @property
    def running(self) -> bool:
        """Whether the server is bound and serving."""
        return self._runner is not None

    @property
    def public_url(self) -> str | None:
        """The base of every callback URL."""
        return self.receiver.public_url

    @property
    def stats(self) -> CallbackStats:
        """The receiver's counters."""
        return self.receiver.stats

    async def start(self) -> None:
        """Bind and serve.

        Raises:
            CallbackServerError: the address cannot be bound.
            RuntimeError: already started.
        """
        if self._runner is not None:
            raise RuntimeError("the callback server is already running")
        app = web.Application(client_max_size=self.receiver.limits.max_body + 1)
        app.add_routes(callback_routes(self.receiver, path=self.path))
        runner = web.AppRunner(
            app, access_log_class=RedactingAccessLogger, handle_signals=False, shutdown_timeout=1
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host or None, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            where = f"{_url_host(self.host) or '*'}:{self._port}"
            raise CallbackServerError(
                f"cannot listen for callbacks on {where}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        if self.receiver.public_url is None:
            self.receiver.set_public_url(f"http://{_url_host(self.host)}:{self._port}{self.path}")

    async def close(self) -> None:
        """Stop serving (and close the receiver when this server created it)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._owns_receiver:
            self.receiver.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
