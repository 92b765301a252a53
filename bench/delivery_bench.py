"""Delivery benchmark: outbox, MQTT publishing and historian writes per CPU-second, beside raw clients.

    .venv/bin/python bench/delivery_bench.py --records 20000 --messages 20000 --points 100000

mosquitto and VictoriaMetrics run as separate processes, so `time.process_time()` (all threads of
this process) is the client side only. In one run:

* outbox: append records of 10 readings one transaction per record (what one engine output call
  costs), then fetch + acknowledge in batches of 500;
* MQTT: N telemetry payloads, QoS 1, window 1000, until every PUBACK, in batches of 1000 through
  `MqttConnection.publish_many` (the sink's path) and through one task per message (`publish`),
  with the longest event-loop stall each caused, beside raw paho (`publish` + `loop()` in one
  thread, same window) on the same broker;
* historian: N points queued in the broker as 10-point telemetry messages for the historian's
  persistent session (not measured), then consumed by `Historian` into VictoriaMetrics (receive,
  decode, line protocol, write, ack after store), beside raw influxdb-client writes of the same lines (joined
  bodies of 5,000, SYNCHRONOUS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from support import mosquitto, victoria_metrics  # noqa: E402

from collector.config import load_plant  # noqa: E402
from collector.historian import Historian  # noqa: E402
from collector.model import Reading  # noqa: E402
from collector.outbox import Outbox  # noqa: E402
from collector.sinks.base import telemetry_entry  # noqa: E402
from collector.sinks.influx import StoreWriter  # noqa: E402
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions  # noqa: E402
from simulators.modbus.testing import wait_until  # noqa: E402

TOPIC = "uns/v1/bench/s1/a/l/dev-{}/data"


def readings(seq0: int, n: int = 10) -> list[Reading]:
    return [Reading("dev-1", f"tag_{i}", 100.0 + i, 0, None, 1_700_000_000_000 + seq0, 1, seq0 + i, "V")
            for i in range(n)]  # fmt: skip


def payload(device: int, seq0: int, n: int = 10) -> bytes:
    points = [
        {"k": f"tag_{i}", "v": 1.5 * i, "u": "V", "st": None, "q": 0, "seq": seq0 + i} for i in range(n)
    ]
    body = {"v": 1, "device": f"dev-{device}", "session": 1, "seq": seq0, "ts": 1_700_000_000_000 + seq0,
            "hist": False, "points": points}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def cpu_rate(count: int, fn: object) -> tuple[float, float]:
    """(count per CPU-second, wall seconds) of calling fn()."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()  # type: ignore[operator]
    return count / max(time.process_time() - c0, 1e-9), time.perf_counter() - w0


def bench_outbox(tmp: Path, records: int) -> dict[str, float]:
    box = Outbox(tmp / "bench.sqlite")
    entries = [telemetry_entry("dev-1", readings(i * 10)) for i in range(records)]

    def write() -> None:
        for e in entries:
            box.append([e])

    def ack() -> None:
        while batch := box.fetch(0, 500):
            box.ack(batch, hist=False)

    w, _ = cpu_rate(records, write)
    a, _ = cpu_rate(records, ack)
    box.close()
    return {"append records/cpu-s": w, "fetch+ack records/cpu-s": a}


class LoopStall:
    """The longest time the event loop did not come back to a 1 ms ticker: what a poll task would wait."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, time.perf_counter() - t - 0.001)

    def stop(self) -> float:
        self._task.cancel()
        return self.longest


async def ours_publish(port: int, n: int, many: bool, stalls: list[float]) -> None:
    """Batches of 1000 (the sink's batch at the default window): `publish_many`, or one task per
    message through `publish` (what the sink did before)."""
    conn = MqttConnection(MqttOptions("127.0.0.1", port, "bench-ours", max_inflight=1000))
    await conn.connect()
    stall = LoopStall()
    for start in range(0, n, 1000):
        messages = (payload(1, i * 10) for i in range(start, min(n, start + 1000)))
        if many:
            await conn.publish_many(((TOPIC.format(1), m, False) for m in messages), qos=1)
        else:
            await asyncio.gather(*(conn.publish(TOPIC.format(1), m, qos=1) for m in messages))
    stalls.append(stall.stop())
    await conn.disconnect()


def raw_publish(port: int, n: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]
    client.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    client.connect("127.0.0.1", port)
    messages = [payload(1, i * 10) for i in range(n)]
    for m in messages:
        client.publish(TOPIC.format(1), m, qos=1)
        client.loop(0)
    while acked[0] < n:
        client.loop(0.1)
    client.disconnect()


def bench_mqtt(port: int, n: int) -> dict[str, float]:
    stalls: list[float] = []
    many, _ = cpu_rate(n, lambda: asyncio.run(ours_publish(port, n, True, stalls)))
    tasks, _ = cpu_rate(n, lambda: asyncio.run(ours_publish(port, n, False, stalls)))
    raw, _ = cpu_rate(n, lambda: raw_publish(port, n))
    return {
        "ours publish_many msgs/cpu-s": many,
        "ours task per message msgs/cpu-s": tasks,
        "raw paho publish msgs/cpu-s": raw,
        "longest loop stall, publish_many (ms)": stalls[0] * 1000,
        "longest loop stall, task per message (ms)": stalls[1] * 1000,
    }


async def start_historian(plant_path: Path) -> tuple[Historian, asyncio.Event, asyncio.Task[None]]:
    plant = load_plant(plant_path)
    historian = Historian(plant.config, plant.base_dir, group=None, batch_points=5000, linger=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(historian.run(stop))
    await wait_until(lambda: historian.subscribed, within_s=30)
    return historian, stop, task


async def queue_for_historian(plant_path: Path, port: int, points: int) -> None:
    """Create the historian's persistent session, then queue the messages while it is away."""
    _h, stop, task = await start_historian(plant_path)
    stop.set()
    await task
    pub = MqttConnection(MqttOptions("127.0.0.1", port, "bench-pub"))
    await pub.connect()
    await asyncio.gather(
        *(pub.publish(TOPIC.format(2), payload(2, i * 10), qos=1) for i in range(points // 10))
    )
    await pub.disconnect()


async def run_historian(plant_path: Path, points: int) -> None:
    historian, stop, task = await start_historian(plant_path)
    await wait_until(lambda: historian.stats.points_written >= points, within_s=300)
    stop.set()
    await task


def raw_influx(plant_path: Path, points: int) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    storage = load_plant(plant_path).config.storage
    lines = [
        f"telemetry,site=s1,area=a,line=l,device=dev-3,tag=tag_{i % 10} "
        f"value={1.5 * i},q=0i,seq={i}i,session=1i {1_700_000_000_000 + i // 10}"
        for i in range(points)
    ]
    with InfluxDBClient(url=str(storage.url), token="", org="x") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        for start in range(0, points, 5000):
            api.write("b", "x", "\n".join(lines[start : start + 5000]), write_precision="ms")


def bench_historian(tmp: Path, mqtt_port: int, vm_url: str, points: int) -> dict[str, float]:
    plant = tmp / "plant.yaml"
    plant.write_text(
        "version: 1\nsite: {enterprise: bench, site: s1}\ndevices: []\n"
        f"mqtt: {{mode: uns, port: {mqtt_port}}}\nstorage: {{backend: victoriametrics, url: '{vm_url}'}}\n"
    )
    StoreWriter(load_plant(plant).config.storage, tmp).close()  # warm imports outside the measurement
    asyncio.run(queue_for_historian(plant, mqtt_port, points))  # not measured
    ours, _ = cpu_rate(points, lambda: asyncio.run(run_historian(plant, points)))
    raw, _ = cpu_rate(points, lambda: raw_influx(plant, points))
    return {
        "historian points/cpu-s (MQTT receive, decode, write, ack)": ours,
        "raw influxdb-client points/cpu-s": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--points", type=int, default=100000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with mosquitto(tmp / "mosquitto") as broker, victoria_metrics(tmp / "vm") as vm:
            results = bench_outbox(tmp, args.records)
            results |= bench_mqtt(broker.port, args.messages)
            results |= bench_historian(tmp, broker.port, vm.url, args.points)
    for name, value in results.items():
        print(f"{name:55s} {value:12,.0f}")


if __name__ == "__main__":
    main()
