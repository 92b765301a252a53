"""Command-line entry: run one CNC simulator until cancelled."""

from __future__ import annotations

import asyncio
import logging

from simulators.opcua.server import CncSimulator

log = logging.getLogger(__name__)


async def run_cnc(
    name: str,
    host: str,
    port: int,
    profile: str,
    seed: int,
    time_scale: float,
    update_interval: float,
) -> None:
    """Serve until the task is cancelled (Ctrl-C in ``asyncio.run``); prints the endpoint."""
    sim = CncSimulator(
        name=name,
        host=host,
        port=port,
        profile=profile,
        seed=seed,
        time_scale=time_scale,
        update_interval=update_interval,
    )
    async with sim:
        print(f"{name}: {sim.endpoint} namespace {sim.namespace_uri} profile {profile}", flush=True)
        await asyncio.Event().wait()
