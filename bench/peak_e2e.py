"""End to end, peak: tag values per collector CPU-second through the whole pipeline, beside raw clients.

    .venv/bin/python bench/peak_e2e.py [--devices 8] [--tags 500] [--polls 1,0.5,0.25,0.1] [--seconds 15]

--devices Modbus TCP PLC simulators (one process) each serve --tags tags (half float32, half uint16,
contiguous: 125-register reads). For each poll interval in --polls, the collector (`shopfloor run -c`,
MQTT UNS QoS 1 to a private mosquitto, no store sink) is started afresh and measured over a window
after a warm-up: its CPU from /proc, and from its /metrics the points the MQTT sink had acknowledged
by the broker (poll -> normalise -> outbox -> PUBACK), the outbox depth and poll overruns. A step is
"sustained" when the acked values fall short of the offered ones by at most 3 % plus one poll of every
device (a window holds a whole number of polls) and the outbox did not grow by more than one poll's
worth of records. In the same run, in this process (`time.process_time()`):

* raw pymodbus: the same 125-register reads of the same simulators, back to back, decoded with struct;
* raw paho: the collector's UNS telemetry payloads (same points per message) built with json and
  published QoS 1 (window 1000) until every PUBACK, driven from asyncio by paho's socket callbacks;
* raw read + publish: the two costs added per value (no normalisation, no outbox, no evidence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_raw import RawPaho, blocks, decode
from e2e_support import (
    metric_sum,
    modbus_device,
    profile_registers,
    progress,
    spawn,
    start_collector,
    stop,
)
from support import mosquitto


def write_profile(path: Path, tags: int) -> None:
    """Half float32 (two registers each), then half uint16, all contiguous from register 0."""
    floats = tags // 2
    lines = [f"name: bench-peak-{tags}", "registers:"]
    for i in range(floats):
        lines.append(
            f"  - {{name: f{i}, table: holding_register, address: {2 * i}, type: float32, "
            f"source: {{noise: {{mean: 230.0, amplitude: 1.0}}}}}}"
        )
    for i in range(tags - floats):
        lines.append(
            f"  - {{name: w{i}, table: holding_register, address: {2 * floats + i}, type: uint16, "
            f"source: {{noise: {{mean: 1000, amplitude: 50}}}}}}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def step(tmp: Path, broker_port: int, ports: list[int], regs: Any, poll: float, args: Any) -> dict[str, Any]:
    devices = [modbus_device(f"plc-{i + 1:02d}", p, regs, poll) for i, p in enumerate(ports)]
    collector = start_collector(tmp, broker_port, devices)
    try:
        time.sleep(args.warmup)
        m0 = collector.metrics()
        load = os.getloadavg()[0]
        collector.usage.start()
        time.sleep(args.seconds)
        collector.usage.stop()
        m1 = collector.metrics()
    finally:
        collector.stop()

    def delta(name: str, *labels: str) -> float:
        return metric_sum(m1, name, *labels) - metric_sum(m0, name, *labels)

    u = collector.usage
    offered = len(ports) * len(regs) / poll
    acked = delta("shopfloor_sink_points_total", 'sink="mqtt"', 'result="acked"') / u.wall
    depth0 = metric_sum(m0, "shopfloor_outbox_depth", 'sink="mqtt"')
    depth1 = metric_sum(m1, "shopfloor_outbox_depth", 'sink="mqtt"')
    # a window holds a whole number of polls: allow one poll of every device short, plus 3 %
    shortfall = (offered - acked) * u.wall
    sustained = shortfall <= 0.03 * offered * u.wall + len(ports) * len(regs) and depth1 - depth0 <= len(
        ports
    )
    return {
        "poll": poll,
        "offered": offered,
        "acked": acked,
        "cpu": u.share,
        "per_cpu": acked * u.wall / u.cpu,
        "depth0": depth0,
        "depth1": depth1,
        "overruns": delta("shopfloor_device_overruns_total"),
        "sustained": sustained,
        "rss": u.rss1,
        "load": load,
    }


async def raw_reads(ports: list[int], regs: Any, seconds: float) -> tuple[float, float, list[list[Any]]]:
    """(values per CPU-second, values per wall-second, one poll's values per device)."""
    from pymodbus.client import AsyncModbusTcpClient

    plan = blocks(regs)
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=2, retries=0) for p in ports]
    for c in clients:
        await c.connect()
    sample: list[list[Any]] = []
    values = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        sample = []
        for c in clients:
            points: list[Any] = []
            for b in plan:
                rr = await c.read_holding_registers(b.start, count=b.count, device_id=1)
                points += decode(b, rr.registers)
            values += len(points)
            sample.append(points)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    for c in clients:
        c.close()
    return values / cpu, values / wall, sample


def uns_payload(device: str, seq: int, points: list[tuple[str, Any]]) -> bytes:
    """The shape of the collector's UNS telemetry message (collector/sinks/uns.py)."""
    now = int(time.time() * 1000)
    body = {
        "v": 1,
        "device": device,
        "session": 1,
        "seq": seq,
        "ts": now,
        "hist": False,
        "points": [
            {"k": k, "v": v, "u": None, "st": None, "q": 0, "seq": seq + i} for i, (k, v) in enumerate(points)
        ],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def raw_publish(port: int, sample: list[list[Any]], seconds: float) -> tuple[float, float]:
    """(values per CPU-second, per wall-second): build and publish payloads until all are acked."""
    mqtt = RawPaho(port, "bench-peak-raw")
    while not mqtt.client.is_connected():  # noqa: ASYNC110 - paho reports it by polling
        await asyncio.sleep(0.01)
    topic = "uns/v1/bench/s1/bench/plc/{}/data"
    sent = values = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        for i, points in enumerate(sample):
            mqtt.publish(topic.format(f"plc-{i + 1:02d}"), uns_payload(f"plc-{i + 1:02d}", sent, points))
            sent += 1
            values += len(points)
        while sent - mqtt.acked > 500:  # noqa: ASYNC110 - stay within the in-flight window
            await asyncio.sleep(0)
    while mqtt.acked < sent:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    mqtt.close()
    return values / cpu, values / wall


def report(args: argparse.Namespace, steps: list[dict[str, Any]], reads: Any, pubs: Any) -> None:
    print(
        f"peak: {args.devices} Modbus TCP PLCs x {args.tags} tags (half float32, half uint16), "
        f"window {args.seconds:g} s after {args.warmup:g} s warm-up per step"
    )
    print(
        "poll | offered values/s | acked values/s | collector CPU % | values per CPU-s | "
        "outbox depth start/end | overruns | RSS MiB | load avg | sustained"
    )
    for s in steps:
        print(
            f"{s['poll'] * 1000:.0f} ms | {s['offered']:,.0f} | {s['acked']:,.0f} | {100 * s['cpu']:.0f} | "
            f"{s['per_cpu']:,.0f} | {s['depth0']:.0f}/{s['depth1']:.0f} | {s['overruns']:.0f} | "
            f"{s['rss'] / 2**20:.0f} | {s['load']:.1f} | {'yes' if s['sustained'] else 'NO'}"
        )
    combined = 1 / (1 / reads[0] + 1 / pubs[0])
    print(
        f"reference, raw pymodbus reads (same blocks, back to back): {reads[0]:,.0f} values per CPU-s "
        f"({reads[1]:,.0f} values/s wall)"
    )
    print(
        f"reference, raw paho QoS 1 publishing of the same payloads: {pubs[0]:,.0f} values per CPU-s "
        f"({pubs[1]:,.0f} values/s wall)"
    )
    print(f"reference, raw read + raw publish per value: {combined:,.0f} values per CPU-s")
    held = [s for s in steps if s["sustained"]]
    if held:
        best = max(held, key=lambda s: s["acked"])
        print(
            f"highest sustained: {best['acked']:,.0f} values/s at {best['poll'] * 1000:.0f} ms, "
            f"{best['per_cpu']:,.0f} values per collector CPU-s = {best['per_cpu'] / combined:.2f}x "
            f"the raw read + publish"
        )
    else:
        print("no step was sustained")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--tags", type=int, default=500)
    ap.add_argument("--polls", default="1,0.5,0.25,0.1", help="poll intervals in seconds, one step each")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--raw-seconds", type=float, default=8.0)
    args = ap.parse_args()
    print(" ".join([".venv/bin/python bench/peak_e2e.py", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory() as d, mosquitto(Path(d) / "mosquitto") as broker:
        tmp = Path(d)
        profile = tmp / "peak.yaml"
        write_profile(profile, args.tags)
        regs = profile_registers(profile)
        sims, line = spawn("serve-modbus", str(profile), "--count", str(args.devices))
        ports = [int(p) for p in line.split()[1:]]
        try:
            steps = []
            for n, poll in enumerate(float(p) for p in args.polls.split(",")):
                progress(f"step {n + 1}: collector polling every {poll:g} s")
                steps.append(step(tmp / f"step{n}", broker.port, ports, regs, poll, args))
            progress("references: raw pymodbus reads, raw paho publishing")
            reads = asyncio.run(raw_reads(ports, regs, args.raw_seconds))
            pubs = asyncio.run(raw_publish(broker.port, reads[2], args.raw_seconds))
        finally:
            stop(sims)
    report(args, steps, reads[:2], pubs)


if __name__ == "__main__":
    main()
