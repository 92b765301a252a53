"""Command-line entry: run one CNC simulator until cancelled."""

from __future__ import annotations

import logging

from simulators.opcua.server import CncSimulator
from simulators.serve import serve_until_cancelled

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
    await serve_until_cancelled(
        sim, lambda: f"{name}: {sim.endpoint} namespace {sim.namespace_uri} profile {profile}"
    )
