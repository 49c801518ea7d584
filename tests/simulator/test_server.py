"""The Simulator object and the ``simulate`` command."""

from __future__ import annotations

import asyncio
import socket
import time
import tomllib
from pathlib import Path

import aiohttp
import pytest

from seedance_async.cli import main
from seedance_async.simulator import KEY_ENV, ManualClock, Simulator
from tests.simulator._helpers import ARK_TASKS, ark_body, call, make_sim


async def test_every_provider_has_its_own_host_and_port(sim: Simulator) -> None:
    """Each provider and the CDN listen on distinct loopback ports."""
    urls = [sim.base_url(p) for p in sim.providers] + [sim.cdn_url]
    netlocs = {u.split("/")[2] for u in urls}
    assert len(netlocs) == len(urls) == 7
    assert all(n.startswith("127.0.0.1:") for n in netlocs)
    assert sim.base_url("ark").endswith("/api/v3")
    assert sim.base_url("gptproto").endswith("/api/v3")


async def test_starts_fast() -> None:
    """Seven servers start well within the 100 ms budget (checked loosely here)."""
    started = time.perf_counter()
    async with Simulator():
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0


async def test_provider_config_matches_the_library_format(sim: Simulator) -> None:
    """Aliases name adapter, base URL, key variable and adapter options."""
    config = sim.provider_config()["providers"]
    assert set(config) == set(sim.providers)
    assert config["ark"] == {
        "adapter": "ark",
        "base_url": sim.base_url("ark"),
        "key_env": KEY_ENV,
        "options": {"tasks_path": "/contents/generations/tasks"},
    }
    assert config["chainhub"]["options"]["tasks_path"] == "/volc/v1/contents/generations/tasks"
    assert config["gateway000"]["options"]["can_list"] is False
    assert {config[p]["adapter"] for p in ("aimlapi", "unified", "gptproto")} == {
        "aimlapi",
        "unified",
        "gptproto",
    }
    assert tomllib.loads(sim.config_toml()) == {"providers": config}


async def test_a_subset_of_providers_and_fixed_ports(clock: ManualClock) -> None:
    """Only the named providers start; fixed ports are honoured."""
    port = _free_port()
    async with make_sim(clock, providers=("aimlapi",), ports={"aimlapi": port}) as sim:
        assert sim.providers == ("aimlapi",)
        assert sim.base_url("aimlapi") == f"http://127.0.0.1:{port}"
        with pytest.raises(KeyError):
            sim.base_url("ark")


def test_bad_arguments() -> None:
    """Unknown providers and a non-positive time scale are refused at construction."""
    with pytest.raises(ValueError, match="unknown providers"):
        Simulator(("ark", "nope"))
    with pytest.raises(ValueError, match="time_scale"):
        Simulator(time_scale=0)


async def test_thousands_of_concurrent_requests(clock: ManualClock) -> None:
    """1,000 concurrent creates all succeed, each once, with unique ids."""
    async with make_sim(clock, providers=("ark",)) as sim:
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as http:
            url = sim.base_url("ark") + ARK_TASKS
            results = await asyncio.gather(
                *(call(http, "POST", url, json=ark_body(f"t{n}")) for n in range(1000))
            )
        assert {status for status, _, _ in results} == {200}
        assert len({body["id"] for _, body, _ in results}) == 1000
        assert len(sim.ledger()) == 1000
        assert sim.duplicates() == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_cli_writes_a_config_tomllib_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``simulate --write-config`` prints every base URL and writes TOML the library can load."""
    target = tmp_path / "sim.toml"
    code = main(
        [
            "simulate",
            "--provider",
            "ark",
            "--provider",
            "unified",
            "--write-config",
            str(target),
            "--exit-after-ready",
        ]
    )
    assert code == 0
    config = tomllib.loads(target.read_text(encoding="utf-8"))
    providers = config["providers"]
    assert set(providers) == {"ark", "unified"}
    assert providers["ark"]["adapter"] == "ark"
    assert providers["ark"]["options"] == {"tasks_path": "/contents/generations/tasks"}
    assert providers["unified"]["key_env"] == KEY_ENV
    out = capsys.readouterr().out
    assert providers["ark"]["base_url"] in out
    assert "cdn" in out


def test_cli_consecutive_ports(capsys: pytest.CaptureFixture[str]) -> None:
    """``--port N`` puts providers on N, N+1, ... and the CDN after them."""
    for _ in range(5):  # another process may grab a port between probing and binding
        base = _free_port()
        code = main(
            [
                "simulate",
                "--provider",
                "ark",
                "--provider",
                "aimlapi",
                "--port",
                str(base),
                "--exit-after-ready",
            ]
        )
        if code == 0:
            break
    assert code == 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{base}/api/v3" in out
    assert f"http://127.0.0.1:{base + 1}\n" in out
    assert f"http://127.0.0.1:{base + 2}\n" in out


@pytest.mark.parametrize(
    "args", [["--faults", "nope=1"], ["--faults", "rate_limit=3"], ["--time-scale", "0"]]
)
def test_cli_rejects_bad_options(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad fault specs and time scales exit with status 2 and a message."""
    assert main(["simulate", *args, "--exit-after-ready"]) == 2
    assert "simulate" in capsys.readouterr().err
