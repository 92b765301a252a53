"""CPU of the shipped plant scenario (30+ simulated devices at 1 s updates) while a client polls it.

    .venv/bin/python bench/sim_plant.py [--seconds 60] [--scenario configs/sim/plant.yaml]

The scenario runs in its own process (`shopfloor simulate plant`, ports rewritten to free ones) so its
CPU is measured alone from /proc; this process polls every device once per second, as a collector
would (every OPC UA variable read once a second; 8 holding registers per Modbus device). Printed beside
it, measured in the same run: the same scenario with its machines frozen (time scale ~0), which leaves
the protocol servers and the update loop — so the figure separates the cost of the machine behaviour
from the cost of serving the protocols.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncua import Client, Node, ua
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_ports_scenario(src: Path, dst: Path, freeze: bool) -> None:
    yaml = YAML()
    data = yaml.load(src.read_text(encoding="utf-8"))
    for group in [*data.get("cnc", []), *data.get("plc", [])]:
        group["base_port"] = 0
    for bus in data.get("buses", []):
        bus["port"] = 0
    data["control_port"] = 0
    data["faults"] = []
    if freeze:
        data["time_scale"] = 0.0001  # machines barely move: protocol-stack cost only
    with dst.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def start(scenario: Path, emit: Path) -> tuple[subprocess.Popen[str], list[str]]:
    cmd = [sys.executable, "-m", "collector", "simulate", "plant", "-c", str(scenario)]
    cmd += ["--emit-config", str(emit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.strip() == "ready":
            return proc, lines
    raise RuntimeError("simulator exited before ready:\n" + "\n".join(lines))


async def collect_variables(root: Node, depth: int = 0) -> list[Node]:
    out: list[Node] = []
    for child in await root.get_children():
        if child.nodeid.NamespaceIndex == 0:
            continue  # the server's own nodes
        if await child.read_node_class() == ua.NodeClass.Variable:
            out.append(child)
        elif depth < 6:
            out.extend(await collect_variables(child, depth + 1))
    return out


async def poll_forever(endpoints: list[str], stop: asyncio.Event) -> int:
    reads = 0

    async def poll_cnc(url: str) -> None:
        nonlocal reads
        async with Client(url, timeout=5) as client:
            variables = await collect_variables(client.nodes.objects)
            while not stop.is_set():
                await client.read_values(variables)  # every variable of the machine, once a second
                reads += 1
                await asyncio.sleep(1.0)

    async def poll_plc(url: str, unit: int) -> None:
        nonlocal reads
        host, port = re.sub(r"^[a-z-]+://", "", url).split(":")
        framer = FramerType.RTU if url.startswith("rtu-over-tcp") else FramerType.SOCKET
        client = AsyncModbusTcpClient(host, port=int(port), framer=framer, timeout=1, retries=0)
        await client.connect()
        while not stop.is_set():
            try:
                await client.read_holding_registers(0, count=8, device_id=unit)
                reads += 1
            except Exception:
                pass
            await asyncio.sleep(1.0)
        client.close()

    tasks = []
    for line in endpoints:
        parts = line.split()
        if parts[1] == "cnc":
            tasks.append(poll_cnc(parts[3]))
        else:
            tasks.append(poll_plc(parts[3], int(parts[5])))
    await asyncio.gather(*tasks, return_exceptions=True)
    return reads


async def measure(scenario: Path, seconds: float) -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, lines = start(scenario, Path(tmp) / "plant.yaml")
        try:
            endpoints = [ln.strip() for ln in lines if ln.startswith("  ") and "://" in ln]
            stop = asyncio.Event()
            poller = asyncio.create_task(poll_forever(endpoints, stop))
            await asyncio.sleep(5)  # connections established, steady state
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(seconds)
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
            stop.set()
            reads = await poller
            return len(endpoints), (c1 - c0) / (t1 - t0), reads
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def main() -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the dead bus unit times out by design
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--scenario", default=str(REPO / "configs" / "sim" / "plant.yaml"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        live, frozen = Path(tmp) / "live.yaml", Path(tmp) / "frozen.yaml"
        free_ports_scenario(Path(args.scenario), live, freeze=False)
        free_ports_scenario(Path(args.scenario), frozen, freeze=True)
        n, cpu_live, reads = await measure(live, args.seconds)
        _, cpu_ref, _ = await measure(frozen, args.seconds)
    print(f"devices: {n}, window {args.seconds:.0f}s, client reads {reads}")
    print(f"simulated plant (time scale as shipped): {cpu_live * 100:.1f}% of one core")
    print(
        f"reference, same devices with machines frozen (protocol stacks + 1 s updates): {cpu_ref * 100:.1f}%"
    )
    print(f"machine behaviour costs {max(cpu_live - cpu_ref, 0) * 100:.1f} points on top")


if __name__ == "__main__":
    asyncio.run(main())
