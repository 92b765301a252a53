"""Modbus driver benchmark: requests per poll and tag values per CPU-second, beside references.

    .venv/bin/python bench/modbus_bench.py --polls 1000 --rounds 3

A 50-tag device (float32, int32, uint16 in holding and input registers, with gaps) is served by the
PLC simulator in a separate process (this script with `--serve`), so this process's
`time.process_time()` is the client's CPU only. Measured in the same run, interleaved, median of rounds:

* ours: `ModbusDriver.read()` (planned merged requests, decode, quality) over N polls;
* ceiling: the same merged requests issued directly with pymodbus, no decode;
* naive: one request per tag with pymodbus, no decode (what docs/STANDARDS.md §9.5 complains about).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.config.modbus import ModbusTcpDevice  # noqa: E402
from drivers.modbus import BusRegistry, ModbusDriver  # noqa: E402
from drivers.modbus.planner import ReadRequest  # noqa: E402
from drivers.modbus.spec import Table  # noqa: E402


def layout() -> list[tuple[str, str, int, str]]:
    """(name, table, address, type) of the 50 tags: clusters with small gaps, as on real PLCs."""
    tags: list[tuple[str, str, int, str]] = []
    for i in range(20):  # meter block: float32 pairs
        tags.append((f"f{i}", "holding_register", 2 * i, "float32"))
    for i in range(15):  # status words, every other register used
        tags.append((f"w{i}", "holding_register", 100 + 2 * i, "uint16"))
    for i in range(5):  # counters
        tags.append((f"c{i}", "holding_register", 200 + 2 * i, "int32"))
    for i in range(10):
        tags.append((f"in{i}", "input_register", i, "uint16"))
    return tags


def write_profile(path: Path) -> None:
    lines = ["name: bench-50", "registers:"]
    for name, table, address, typ in layout():
        source = "{noise: {mean: 230.0, amplitude: 1.0}}" if typ == "float32" else "{constant: 1234}"
        entry = f"name: {name}, table: {table}, address: {address}, type: {typ}, source: {source}"
        lines.append(f"  - {{{entry}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def device(port: int) -> ModbusTcpDevice:
    tags = [{"name": n, "address": {"table": t, "offset": a}, "type": typ} for n, t, a, typ in layout()]
    raw: dict[str, Any] = {"id": "bench", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port}
    return ModbusTcpDevice.model_validate({**raw, "timeout": "2s", "tags": tags})


async def start_simulator(profile: Path) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(profile), stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        line = (await proc.stdout.readline()).decode()
    match = re.search(r":(\d+)\s*$", line)
    if not match:
        if proc.returncode is None:
            proc.kill()
        raise SystemExit(f"simulator did not report its port: {line!r}")
    return proc, int(match.group(1))


Poll = Callable[[], Awaitable[int]]  # one poll; returns tag values obtained


def raw_poller(client: AsyncModbusTcpClient, requests: list[ReadRequest]) -> Poll:
    calls = {
        Table.HOLDING_REGISTER: client.read_holding_registers,
        Table.INPUT_REGISTER: client.read_input_registers,
    }

    async def poll() -> int:
        n = 0
        for req in requests:
            rr = await calls[req.table](req.start, count=req.count, device_id=req.unit_id)
            assert not rr.isError()
            n += len(req.tags)
        return n

    return poll


async def measure(poll: Poll, polls: int) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, values) over `polls` polls."""
    values = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(polls):
        values += await poll()
    return time.process_time() - cpu0, time.perf_counter() - wall0, values


async def run(polls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "bench-50.yaml"
        write_profile(profile)
        proc, port = await start_simulator(profile)
        try:
            await bench(port, polls, rounds)
        finally:
            proc.terminate()
            await proc.wait()


async def bench(port: int, polls: int, rounds: int) -> None:
    dev = device(port)
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    async with ModbusDriver(dev.driver_options(), BusRegistry()) as drv:

        async def ours() -> int:
            return sum(s.status == 0 for s in await drv.read())

        singles = [ReadRequest(t.unit_id, t.table, t.address, t.count, (t,)) for t in drv.specs]
        pollers = {
            "ours": ours,
            "ceiling": raw_poller(client, drv.plan),
            "naive": raw_poller(client, singles),
        }
        await ours()
        assert drv.stats.last_poll_requests == len(drv.plan)
        results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in pollers}
        for _ in range(rounds):
            for name, poll in pollers.items():
                await poll()  # warm
                results[name].append(await measure(poll, polls))
    client.close()
    report(len(drv.specs), len(drv.plan), polls, rounds, results)


def report(tags: int, planned: int, polls: int, rounds: int, results: dict[str, Any]) -> None:
    print(f"device: {tags} tags; requests per poll: ours {planned}, one-request-per-tag {tags}")
    print(f"{polls} polls x {rounds} rounds (median); simulator in another process")
    print(f"{'client':<10} {'values/CPU-s':>14} {'CPU us/poll':>12} {'wall ms/poll':>13} {'req/poll':>9}")
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        values = runs[0][2]
        per_poll = {"ours": planned, "ceiling": planned, "naive": tags}[name]
        print(
            f"{name:<10} {values / cpu:>14,.0f} {1e6 * cpu / polls:>12,.0f} "
            f"{1e3 * wall / polls:>13.3f} {per_poll:>9}"
        )


async def serve(profile: Path) -> None:
    """The simulator side (its own process): serve the profile and print the port."""
    from simulators.modbus import PlcSimulator

    async with PlcSimulator(name="bench", profile=profile, port=0) as sim:
        print(f"bench simulator at 127.0.0.1:{sim.port}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    else:
        asyncio.run(run(args.polls, args.rounds))


if __name__ == "__main__":
    main()
