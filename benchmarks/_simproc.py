"""The simulator in its own process, so its CPU never counts as the client's.

``python -m benchmarks._simproc '<spec JSON>'`` starts a :class:`Simulator` with the given
providers, time scale, durations and limits, prints one JSON line (the provider config for
the library and each provider's root URL), and serves until its standard input closes; the
parent closes it (or dies, which closes it too). :class:`SimServer` is the parent's side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
import attrs

from benchmarks._common import REPO_ROOT
from seedance_async import ApiKey, ProviderConfig, Timeouts
from seedance_async.config import parse_provider_config
from seedance_async.simulator import DEFAULT_KEY, Callbacks, DurationModel, Limits, Simulator

__all__ = ["SimServer", "SimSpec"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclasses.dataclass(frozen=True)
class SimSpec:
    """How to start the simulator.

    Attributes:
        providers: simulated providers to run.
        time_scale: provider seconds → real seconds for queue and run times.
        queue / run: ranges of queue and run times in provider seconds (before scaling);
            the default keeps every task running for good, so each poll is a plain GET.
        limits: keyword arguments of :class:`Limits` (empty: unlimited).
        seed: seeds task ids, durations and faults.
        callbacks: keyword arguments of :class:`Callbacks` for the providers that post
            them (empty: the simulator's defaults).
    """

    providers: tuple[str, ...] = ("ark",)
    time_scale: float = 1.0
    queue: tuple[float, float] = (0.0, 0.0)
    run: tuple[float, float] = (1e7, 1e7)
    limits: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    callbacks: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        """The spec as the child's command-line argument."""
        return json.dumps(
            {
                **dataclasses.asdict(self),
                "limits": dict(self.limits),
                "callbacks": dict(self.callbacks),
            }
        )


class SimServer:
    """Runs the simulator in a child process for the duration of a ``with`` block.

    Attributes:
        provider_config: ``Simulator.provider_config()`` of the child.
        roots: each provider's root URL (where ``/_sim/*`` admin routes live).
    """

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        self.provider_config: dict[str, Any] = {}
        self.roots: dict[str, str] = {}
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks._simproc", self.spec.to_json()],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            raise RuntimeError(f"simulator process exited with {self._proc.returncode}")
        info = json.loads(line)
        self.provider_config = info["config"]
        self.roots = info["roots"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """CPU seconds the simulator process has used so far (Linux ``/proc``; NaN elsewhere)."""
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime

    def config(self, provider: str, **changes: Any) -> ProviderConfig:
        """The library's config for ``provider``, with the key set and ``changes`` applied."""
        parsed = parse_provider_config(self.provider_config, where="simulator")
        base = attrs.evolve(
            parsed[provider],
            api_key=ApiKey(DEFAULT_KEY),
            key_env=None,
            timeouts=Timeouts(connect=5.0, read=30.0, total=60.0),
        )
        return attrs.evolve(base, **changes)

    async def admin(self, provider: str, route: str) -> Any:
        """GET ``/_sim/<route>`` of ``provider`` (decoded JSON)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.roots[provider]}/_sim/{route}") as resp,
        ):
            resp.raise_for_status()
            return await resp.json()


async def _serve(spec: Mapping[str, Any]) -> None:
    limits = Limits(**spec["limits"]) if spec["limits"] else Limits.unlimited()
    sim = Simulator(
        tuple(spec["providers"]),
        seed=spec["seed"],
        time_scale=spec["time_scale"],
        durations=DurationModel(queue=tuple(spec["queue"]), run=tuple(spec["run"])),
        limits=limits,
        callbacks=Callbacks(**spec["callbacks"]) if spec.get("callbacks") else None,
    )
    async with sim:
        roots = {}
        for name in sim.providers:
            parts = urlsplit(sim.base_url(name))
            roots[name] = f"{parts.scheme}://{parts.netloc}"
        print(json.dumps({"config": sim.provider_config(), "roots": roots}), flush=True)
        # Serve until the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main(argv: list[str]) -> None:
    """Entry point of the child process."""
    asyncio.run(_serve(json.loads(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
