"""The simulator as its own process for the Redis tests: Ark only, no server-side limits.

``python -m tests.distributed._sim_proc CONFIG_FILE TIME_SCALE`` writes a provider config whose
``submit_rpm`` / ``poll_rps`` / ``max_running`` are the budgets the workers share, prints
``ready <root url>`` and serves until SIGTERM. The simulator's own limits are off, so its
request log shows what the clients sent rather than what it let through.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from seedance_async.simulator import Limits, Simulator
from seedance_async.simulator._server import config_toml

SUBMIT_RPS = 50  # creates per second, shared by every worker
POLL_RPS = 100
MAX_RUNNING = 400


async def main(config: Path, time_scale: float) -> None:
    """Serve until SIGTERM."""
    async with Simulator(("ark",), time_scale=time_scale, limits=Limits.unlimited(), seed=5) as sim:
        table = sim.provider_config()
        table["providers"]["ark"] |= {
            "submit_rpm": SUBMIT_RPS * 60.0,
            "poll_rps": float(POLL_RPS),
            "max_running": MAX_RUNNING,
            "reconcile_settle": 0.2,
        }
        await asyncio.to_thread(config.write_text, config_toml(table), encoding="utf-8")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"ready {sim.base_url('ark').split('/api/')[0]}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2])))
