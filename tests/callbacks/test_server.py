"""The standalone server: it binds before anything is submitted, or says why it cannot."""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from seedance_async import ConfigurationError
from seedance_async.callbacks import (
    CallbackReceiver,
    CallbackServer,
    CallbackServerError,
    parse_listen,
)
from seedance_async.providers.ark import ArkAdapter
from tests.callbacks._helpers import JSON, ark_body, encode

ARK = ArkAdapter()


async def test_binds_a_free_port_and_derives_its_public_url() -> None:
    async with CallbackServer(listen="127.0.0.1:0") as server, aiohttp.ClientSession() as http:
        assert server.port > 0
        assert server.public_url == f"http://127.0.0.1:{server.port}"
        token = server.receiver.register("k1", provider="ark", adapter=ARK, remote_id="cgt-1")
        url = server.receiver.url_for(token)
        async with http.post(url, data=encode(ark_body()), headers=JSON) as response:
            assert response.status == 200
        assert [h.key for h in server.receiver.drain()] == ["k1"]
        assert server.stats.acknowledged == 1
        assert "running" in repr(server)
    assert server.receiver.closed  # it created the receiver, so it closed it


async def test_a_port_in_use_is_a_clear_startup_error() -> None:
    """Raised on entry, naming the address; nothing was served."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = CallbackServer(listen=f"127.0.0.1:{port}")
        with pytest.raises(CallbackServerError, match=f"127.0.0.1:{port}") as info:
            async with server:
                pytest.fail("entered a server that could not bind")
    assert isinstance(info.value, ConfigurationError)
    assert "stopped" in repr(server)


async def test_the_route_follows_the_public_urls_path() -> None:
    """Behind a proxy at https://hooks.example.com/sd the server routes /sd/{token}; a proxy
    that strips the prefix asks for path=""."""
    public = "https://hooks.example.com/sd/"
    async with aiohttp.ClientSession() as http:
        for path, route in ((None, "/sd"), ("", "")):
            async with CallbackServer(listen="127.0.0.1:0", public_url=public, path=path) as server:
                token = server.receiver.register("k", provider="ark", adapter=ARK)
                assert server.receiver.url_for(token) == f"{public}{token.reveal()}"
                local = f"http://127.0.0.1:{server.port}{route}/{token.reveal()}"
                async with http.post(local, data=b"{}", headers=JSON) as response:
                    assert response.status == 200


async def test_a_given_receiver_is_served_and_left_open() -> None:
    receiver = CallbackReceiver(public_url="https://hooks.example.com")
    async with CallbackServer(listen=("127.0.0.1", 0), receiver=receiver) as server:
        assert server.receiver is receiver
    assert not receiver.closed
    receiver.close()


async def test_starting_twice_is_an_error() -> None:
    async with CallbackServer(listen="127.0.0.1:0") as server:
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()


async def test_the_access_log_never_has_a_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with CallbackServer(listen="127.0.0.1:0") as server, aiohttp.ClientSession() as http:
        token = server.receiver.register("k1", provider="ark", adapter=ARK)
        for content_type in ("application/json", "text/plain"):
            url = server.receiver.url_for(token)
            async with http.post(url, data=b"{}", headers={"Content-Type": content_type}):
                pass
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) == 2
    assert all("/***" in line for line in access)
    assert not [r for r in caplog.records if token.reveal() in r.getMessage()]


def test_every_interface_needs_a_public_url() -> None:
    for listen in ("0.0.0.0:8080", "[::]:8080", ":8080"):
        with pytest.raises(ConfigurationError, match="public_url"):
            CallbackServer(listen=listen)
    assert CallbackServer(listen="0.0.0.0:8080", public_url="https://h.example").path == ""


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:0", ("::1", 0)),
        (":9000", ("", 9000)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_parse_listen(text: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(text) == parsed


@pytest.mark.parametrize(
    "text", ["8080", "host:", "host:port", "host:70000", "[::1:80", "127.0.0.1:-1"]
)
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ConfigurationError, match="listen"):
        parse_listen(text)


@pytest.mark.parametrize(
    "url", ["ftp://h.example", "/relative", "https://h.example/x?a=1", "https://", "nonsense"]
)
def test_bad_public_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="public URL"):
        CallbackReceiver(public_url=url)


def test_no_public_url_yet() -> None:
    receiver = CallbackReceiver()
    token = receiver.register("k", provider="ark")
    with pytest.raises(ConfigurationError, match="no public URL"):
        receiver.url_for(token)
