"""Entry function for ``shopfloor simulate plc`` (wired into the CLI by collector.cli)."""

from __future__ import annotations

import logging

from simulators.modbus.simulator import PlcSimulator
from simulators.serve import serve_until_cancelled

log = logging.getLogger(__name__)


async def run_plc(
    name: str,
    host: str,
    port: int,
    profile: str,
    seed: int,
    time_scale: float,
    update_interval: float,
    transport: str,
    serial_port: str | None = None,
    byte_order: str = "ABCD",
    unit_id: int = 1,
) -> None:
    """Serve one simulated PLC until cancelled; prints the endpoint once listening."""
    sim = PlcSimulator(
        name=name,
        profile=profile,
        seed=seed,
        transport=transport,
        host=host,
        port=port,
        unit_ids=(unit_id,),
        time_scale=time_scale,
        update_interval=update_interval,
        byte_order=byte_order,
        serial_port=serial_port,
    )
    await serve_until_cancelled(sim, lambda: f"{name}: {profile} unit {unit_id} at {sim.endpoint}")
