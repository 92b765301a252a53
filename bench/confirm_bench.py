"""The cost of store confirmation: the same readings through the MQTT sink with `confirm.mode: broker`
(the PUBACK deletes a record) and with `store` (a historian's confirmation deletes it), in one run,
against the same mosquitto, VictoriaMetrics and `shopfloor historian` process.

    .venv/bin/python bench/confirm_bench.py --records 20000 --rate 100 --seconds 60 --rounds 2

Modes alternate (broker, store, broker, store, …) so the machine's noise hits both. Per mode, two
phases, each with fresh outboxes and device names of its own:

* backlog: `--records` records of 10 readings (10 devices in turn) are appended at once, then
  delivered until the store holds every reading: the collector's CPU per reading (this process's
  `time.process_time()`: outbox, MQTT, confirmations) and the historian's (its process, /proc);
* paced: `--rate` records per second for `--seconds`, then until the store holds them all (a plant
  at steady state): the same CPU figures, data messages per second, and the confirmation messages
  per second the broker carries in addition (historian → broker → collector).

The load average is printed beside every row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support import REPO, mosquitto, victoria_metrics

from collector.config import load_plant
from collector.delivery import Delivery
from collector.model import Reading
from collector.sinks.confirm import Confirmation

TAGS = 10
DEVICES = 10
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    mode: str
    kind: str
    readings: int
    wall_s: float
    collector_cpu_s: float
    historian_cpu_s: float
    confirmations: int
    data_messages: int
    load: str


def plant_file(tmp: Path, mode: str, mqtt_port: int, vm_url: str) -> Path:
    path = tmp / f"plant-{mode}.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: bench, site: s1, edge_id: bench-edge}\ndata_dir: data\ndevices: []\n"
        f"mqtt: {{mode: uns, port: {mqtt_port}, confirm: {{mode: {mode}}}}}\n"
        f"storage: {{backend: victoriametrics, url: '{vm_url}'}}\n",
        encoding="utf-8",
    )
    return path


def readings(device: str, n: int, ts: int) -> list[Reading]:
    """One poll of a device: a reading per tag (they share the poll's timestamp)."""
    return [
        Reading(device, f"t{i}", float(n * TAGS + i), 0, None, ts, 1, n * TAGS + i + 1) for i in range(TAGS)
    ]


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def stored(vm_url: str, prefix: str) -> int:
    urllib.request.urlopen(f"{vm_url}/internal/force_flush", timeout=10).read()
    query = urllib.parse.urlencode(
        {"query": f'sum(count_over_time(telemetry_seq{{device=~"{prefix}.*"}}[1d]))'}
    )
    with urllib.request.urlopen(f"{vm_url}/api/v1/query?{query}", timeout=30) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


async def feed(delivery: Delivery, prefix: str, kind: str, records: int, rate: float) -> None:
    """All records at once (backlog), or `rate` a second (paced); 10 devices in turn."""
    base_ts = int(time.time() * 1000) - records * 10
    start = time.perf_counter()
    for n in range(records):
        if kind == "paced" and (ahead := start + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(ahead)
        device = f"{prefix}{n % DEVICES}"
        delivery(device, readings(device, n // DEVICES, base_ts + n))


async def phase(plant_path: Path, data_dir: Path, prefix: str, kind: str, records: int, rate: float,
                historian: int, vm_url: str) -> Phase:  # fmt: skip
    plant = load_plant(plant_path)
    config = plant.config.model_copy(update={"data_dir": data_dir})
    delivery = Delivery.build(config, plant.base_dir, session=1)
    runner = delivery.runners[0]
    confirmations = [0]
    if runner.awaiting is not None:
        sink = runner.sink

        def counted(c: Confirmation, forward=runner.confirmed) -> None:  # type: ignore[no-untyped-def]
            confirmations[0] += 1
            forward(c)

        sink.on_confirmation = counted  # type: ignore[attr-defined]
    stop = asyncio.Event()
    c0, h0, w0, l0 = time.process_time(), cpu_of(historian), time.perf_counter(), load()
    task = asyncio.create_task(delivery.run(stop, flush_deadline=30))
    await feed(delivery, prefix, kind, records, rate)
    total = records * TAGS
    while True:  # polled: the store is another process
        if not runner.outbox.depth and stored(vm_url, prefix) >= total:
            break
        await asyncio.sleep(0.2)
    wall = time.perf_counter() - w0
    collector_cpu, historian_cpu = time.process_time() - c0, cpu_of(historian) - h0
    stop.set()
    await task
    delivery.close()
    return Phase(plant_path.stem.split("-")[1], kind, total, wall, collector_cpu, historian_cpu,
                 confirmations[0], records, f"{l0} → {load()}")  # fmt: skip


def row(p: Phase) -> str:
    per = 1e6 / p.readings
    return (f"| {p.mode} | {p.kind} | {p.readings:,} | {p.wall_s:.1f} | {p.collector_cpu_s * per:.1f} | "
            f"{p.historian_cpu_s * per:.1f} | {p.data_messages / p.wall_s:,.0f} | "
            f"{p.confirmations / p.wall_s:,.1f} | {p.load} |")  # fmt: skip


async def run(
    tmp: Path, args: argparse.Namespace, mqtt_port: int, vm_url: str, historian: int
) -> list[Phase]:
    plants = {mode: plant_file(tmp, mode, mqtt_port, vm_url) for mode in ("broker", "store")}
    out: list[Phase] = []
    for r in range(args.rounds):
        for mode in ("broker", "store"):
            for kind, records, rate in (
                ("backlog", args.records, 0.0),
                ("paced", int(args.rate * args.seconds), args.rate),
            ):
                prefix = f"{mode[0]}{r}{kind[0]}-"
                p = await phase(
                    plants[mode], tmp / f"data-{prefix}", prefix, kind, records, rate, historian, vm_url
                )
                print(row(p), flush=True)
                out.append(p)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000, help="backlog: records of 10 readings")
    parser.add_argument("--rate", type=float, default=100.0, help="paced: records per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="paced: how long")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with mosquitto(tmp / "mosquitto") as broker, victoria_metrics(tmp / "vm") as vm:
            plant = plant_file(tmp, "store", broker.port, vm.url)
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            log = (tmp / "historian.log").open("wb")
            argv = [sys.executable, "-m", "collector", "-v", "historian", "-c", str(plant)]
            historian = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                while "historian subscribed" not in (tmp / "historian.log").read_text():
                    time.sleep(0.1)
                print("| mode | phase | readings | wall s | collector CPU µs/reading | historian CPU "
                      "µs/reading | data msgs/s | confirmations/s | load average |")  # fmt: skip
                print("|---|---|---|---|---|---|---|---|---|")
                asyncio.run(run(tmp, args, broker.port, vm.url, historian.pid))
            finally:
                historian.terminate()
                historian.wait(15)


if __name__ == "__main__":
    main()
