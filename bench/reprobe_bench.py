"""How soon a device that comes back is read again: the TCP watch against the backoff alone.

    .venv/bin/python bench/reprobe_bench.py [--rounds 3] [--down 20]

Four device workers run as the engine runs them (DeviceWorker with the real driver factory), each
against its own simulator in this process: a stack-light PLC over Modbus TCP and a CNC over OPC UA,
each once with the worker as shipped and once with its TCP watch switched off (the reference: the
reconnect waits out its backoff step, as before). Device settings are the defaults (1 s polls,
1 s publishing interval). Each round the four simulators go away together (listener closed,
connections reset), stay away `--down` seconds, so the backoff has grown, and come back; a round
measures, per worker, the time from the simulator listening again to the worker's first Good
reading. The load average is printed before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.config.modbus import ModbusTcpDevice  # noqa: E402
from collector.config.opcua import OpcUaDevice  # noqa: E402
from collector.driver_factory import Drivers  # noqa: E402
from collector.model import Reading  # noqa: E402
from collector.worker import DeviceWorker  # noqa: E402
from drivers.status import is_good  # noqa: E402
from simulators.modbus import PlcSimulator  # noqa: E402
from simulators.opcua import CncSimulator  # noqa: E402


@dataclass
class Pipeline:
    name: str
    port: int
    watch: bool
    device: Any = None
    sim: Any = None
    worker: DeviceWorker | None = None
    back_at: float = 0.0  # monotonic time the simulator listens again
    armed: bool = False
    seen: asyncio.Event = field(default_factory=asyncio.Event)  # the first Good reading since armed
    delays: list[float] = field(default_factory=list)

    def output(self, _device: str, readings: list[Reading]) -> None:
        if self.armed and any(is_good(r.status) for r in readings):
            self.armed = False
            self.delays.append(time.monotonic() - self.back_at)
            self.seen.set()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_sim(p: Pipeline) -> Any:
    if p.name.startswith("modbus"):
        return PlcSimulator(name=p.name, profile="energy-meter", port=p.port, update_interval=0.5)
    return CncSimulator(name="cnc-01", port=p.port, update_interval=0.5)  # a rebooted controller: new server


def make_device(p: Pipeline, sim: Any) -> Any:
    if p.name.startswith("modbus"):
        return ModbusTcpDevice.model_validate({
            "id": p.name, "protocol": "modbus_tcp", "host": "127.0.0.1", "port": p.port,
            "tags": [{"name": "voltage", "address": 400001, "type": "float32"}],
        })  # fmt: skip
    return OpcUaDevice.model_validate({
        "id": p.name, "protocol": "opcua", "endpoint": sim.endpoint, "namespaces": {"m": sim.namespace_uri},
        "tags": [{"name": "speed", "node": "m:Machines/cnc-01/Monitoring/Spindle/ActualSpeed"}],
    })  # fmt: skip


async def round_trip(pipes: list[Pipeline], down: float) -> None:
    for p in pipes:
        await p.sim.stop()
    await asyncio.sleep(down)
    for p in pipes:
        p.seen.clear()
        p.sim = make_sim(p)
        await p.sim.start()
        p.back_at, p.armed = time.monotonic(), True
    async with asyncio.timeout(120):  # a worker that never reads again ends the bench
        await asyncio.gather(*(p.seen.wait() for p in pipes))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--down", type=float, default=20.0, help="seconds each outage lasts")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    load_before = os.getloadavg()
    pipes = [
        Pipeline(f"{proto}-{'watch' if watch else 'backoff'}", free_port(), watch)
        for proto in ("modbus", "opcua")
        for watch in (True, False)
    ]
    tasks = []
    for p in pipes:
        p.sim = make_sim(p)
        await p.sim.start()
        p.worker = DeviceWorker(make_device(p, p.sim), Drivers(), p.output, 1)
        if not p.watch:
            p.worker._tcp = None  # the reference: no TCP watch, the backoff step alone
        tasks.append(asyncio.create_task(p.worker.run()))
    await asyncio.sleep(5)  # every worker reading
    for n in range(args.rounds):
        await round_trip(pipes, args.down)
        print(f"round {n + 1}: " + ", ".join(f"{p.name} {p.delays[-1]:.2f} s" for p in pipes), flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for p in pipes:
        await p.sim.stop()
    load_after = os.getloadavg()
    print(f"\noutage {args.down:g} s, {args.rounds} rounds: from listening again to the first Good reading")
    print(f"{'worker':<16} {'median':>8} {'max':>8}   every round")
    for p in pipes:
        print(
            f"{p.name:<16} {statistics.median(p.delays):>7.2f}s {max(p.delays):>7.2f}s   "
            + " ".join(f"{d:.2f}" for d in p.delays)
        )
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")


if __name__ == "__main__":
    asyncio.run(main())
