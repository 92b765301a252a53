"""The reference client of the end-to-end benchmarks: the same job done with the bare libraries.

    python bench/e2e_raw.py --mqtt-port P --profile bench/profiles/plc-50.yaml \
        --plc PORT ... --cnc INDEX@opc.tcp://HOST:PORT/ ... [--tags 100] [--poll 1]

Each PLC: raw pymodbus, one read per contiguous register block per poll (the blocks a planner merges
with gaps up to 10 registers and at most 125 registers), values decoded with `struct`. Each CNC: a raw
asyncua subscription (1 s publishing interval) to the same variables, the handler keeps the last value.
Once per poll and device, one JSON message {"device","ts","points":[{"k","v"}]} is published with raw
paho (QoS 1), driven from the asyncio loop by its socket callbacks (no second thread). Prints READY
once every device has answered, and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import cnc_namespace, profile_registers

FORMATS = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f", "float64": ">d"}


@dataclass(frozen=True)
class Block:
    table: str
    start: int
    count: int
    tags: tuple[tuple[str, int, str], ...]  # (name, offset in bytes within the block, struct format)


def blocks(regs: list[tuple[str, str, int, str]], max_gap: int = 10, max_regs: int = 125) -> list[Block]:
    """Contiguous reads covering every register, merged across gaps of at most `max_gap`."""
    out: list[Block] = []
    for table in sorted({t for _n, t, _a, _ty in regs}):
        items = sorted((a, n, ty) for n, t, a, ty in regs if t == table)
        group: list[tuple[int, str, str]] = []
        for item in items:
            end = item[0] + struct.calcsize(FORMATS[item[2]]) // 2
            if group and (item[0] - _end(group) > max_gap or end - group[0][0] > max_regs):
                out.append(_block(table, group))
                group = []
            group.append(item)
        if group:
            out.append(_block(table, group))
    return out


def _end(group: list[tuple[int, str, str]]) -> int:
    return max(a + struct.calcsize(FORMATS[ty]) // 2 for a, _n, ty in group)


def _block(table: str, group: list[tuple[int, str, str]]) -> Block:
    start = group[0][0]
    tags = tuple((n, 2 * (a - start), FORMATS[ty]) for a, n, ty in group)
    return Block(table, start, _end(group) - start, tags)


def decode(block: Block, registers: list[int]) -> list[tuple[str, Any]]:
    raw = struct.pack(f">{len(registers)}H", *registers)
    return [(name, struct.unpack_from(fmt, raw, at)[0]) for name, at, fmt in block.tags]


class RawPaho:
    """paho driven by the asyncio loop through its socket callbacks (paho's documented asyncio recipe)."""

    def __init__(self, port: int, client_id: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.acked = 0
        self.client.on_publish = self._acked
        self.client.on_socket_open = lambda c, _u, s: self.loop.add_reader(s, c.loop_read)
        self.client.on_socket_close = lambda _c, _u, s: self.loop.remove_reader(s)
        self.client.on_socket_register_write = lambda c, _u, s: self.loop.add_writer(s, c.loop_write)
        self.client.on_socket_unregister_write = lambda _c, _u, s: self.loop.remove_writer(s)
        self.client.connect("127.0.0.1", port)
        self._misc = self.loop.create_task(self._housekeeping())

    def _acked(self, *_args: Any) -> None:
        self.acked += 1

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.client.loop_misc()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self._misc.cancel()
        self.client.disconnect()


def message(device: str, points: list[tuple[str, Any]]) -> bytes:
    body = {"device": device, "ts": int(time.time() * 1000), "points": [{"k": k, "v": v} for k, v in points]}
    return json.dumps(body, separators=(",", ":")).encode()


async def ticking(period: float, stop: asyncio.Event) -> Any:
    """Yields at a fixed rate (skipping missed ticks), like a poll scheduler."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not stop.is_set():
        yield
        next_at += period
        now = loop.time()
        if next_at < now:
            next_at = now + period - (now - next_at) % period
        await asyncio.sleep(next_at - now)


async def plc(
    name: str, port: int, plan: list[Block], mqtt: RawPaho, poll: float, ready: Any, stop: Any
) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    calls = {"holding_register": client.read_holding_registers, "input_register": client.read_input_registers}
    first = True
    async for _ in ticking(poll, stop):
        points: list[tuple[str, Any]] = []
        for b in plan:
            rr = await calls[b.table](b.start, count=b.count, device_id=1)
            points += decode(b, rr.registers)
        mqtt.publish(f"ref/{name}/data", message(name, points))
        if first:
            first = False
            ready()
    client.close()


class LastValue:
    def __init__(self, names: dict[Any, str]) -> None:
        self.names = names
        self.values: dict[str, Any] = {}

    def datachange_notification(self, node: Any, val: Any, _data: Any) -> None:
        self.values[self.names[node]] = val


async def cnc(name: str, index: int, endpoint: str, tags: int, mqtt: RawPaho, ready: Any, stop: Any) -> None:
    from asyncua import ua
    from asyncua.client.client import Client

    client = Client(endpoint, timeout=10, watchdog_intervall=5.0)
    await client.connect()
    idx = await client.get_namespace_index(cnc_namespace(index))
    nodes = [client.get_node(ua.NodeId(f"v{i}", idx)) for i in range(tags)]
    handler = LastValue({n: f"v{i}" for i, n in enumerate(nodes)})
    sub = await client.create_subscription(1000, handler)
    await sub.subscribe_data_change(nodes, queuesize=1)
    first = True
    async for _ in ticking(1.0, stop):
        if len(handler.values) < tags:
            continue  # initial values still arriving
        mqtt.publish(f"ref/{name}/data", message(name, list(handler.values.items())))
        if first:
            first = False
            ready()
    await client.disconnect()


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    mqtt = RawPaho(args.mqtt_port, "bench-raw-reference")
    plan = blocks(profile_registers(args.profile)) if args.plc else []
    total = len(args.plc) + len(args.cnc)
    answered = [0]

    def ready() -> None:
        answered[0] += 1
        if answered[0] == total:
            print(f"READY {sum(len(b.tags) for b in plan)} tags in {len(plan)} reads per PLC", flush=True)

    tasks = [
        plc(f"plc-{i + 1:02d}", port, plan, mqtt, args.poll, ready, stop) for i, port in enumerate(args.plc)
    ]
    for spec in args.cnc:
        index, endpoint = spec.split("@", 1)
        tasks.append(cnc(f"cnc-{int(index):02d}", int(index), endpoint, args.tags, mqtt, ready, stop))
    await asyncio.gather(*tasks)
    mqtt.close()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mqtt-port", type=int, required=True)
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--plc", type=int, nargs="*", default=[])
    ap.add_argument("--cnc", nargs="*", default=[], help="INDEX@ENDPOINT")
    ap.add_argument("--tags", type=int, default=100, help="variables per CNC")
    ap.add_argument("--poll", type=float, default=1.0)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
