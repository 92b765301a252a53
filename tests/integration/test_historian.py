"""Historian: MQTT → store with ack-after-write; VictoriaMetrics dedup; 429/503 retried, 400 rejected."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from collector.config import load_plant
from collector.config.sinks import Storage, StoreBackend
from collector.delivery import Delivery
from collector.historian import Historian
from collector.model import Reading
from collector.sinks.influx import StoreWriter
from tests.support.net import async_wait_for
from tests.support.servers import Server, start_victoria_metrics
from tests.support.store import export

pytestmark = pytest.mark.integration


def vm_storage(url: str) -> Storage:
    return Storage(backend=StoreBackend.VICTORIAMETRICS, url=url)


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[Server]:
    server = start_victoria_metrics(tmp_path / "vm")
    yield server
    server.stop()


async def test_victoriametrics_needs_dedup_for_identical_points(tmp_path: Path, vm: Server) -> None:
    victoria_metrics = start_victoria_metrics(tmp_path / "plain", dedup=False)
    lines = ["telemetry,site=s,area=a,line=l,device=dup,tag=t value=1.5,q=0i,seq=1i,session=1i 1764000000000"]
    for server in (vm, victoria_metrics):
        writer = StoreWriter(vm_storage(server.url), tmp_path)
        await writer.write(lines)
        await writer.write(lines)
        writer.close()
    deduped = export(vm.url, '{__name__="telemetry_seq",device="dup"}')
    assert deduped[0]["timestamps"] == [1764000000000]
    plain = export(victoria_metrics.url, '{__name__="telemetry_seq",device="dup"}')
    victoria_metrics.stop()
    assert plain[0]["timestamps"] == [1764000000000, 1764000000000]  # without the flag: kept twice


class Stub(BaseHTTPRequestHandler):
    """Answers writes from a script of status codes, then 204; keeps the accepted bodies."""

    script: ClassVar[list[int]] = []
    bodies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        status = self.script.pop(0) if self.script else 204
        if status == 204:
            self.bodies.append(body)
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def plant_file(tmp_path: Path, mqtt_port: int, store_url: str, version: str = "5") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1, line: l1,\n"
        "     tags: [{name: speed, address: 40001}]}\n"
        f'mqtt: {{mode: uns, host: 127.0.0.1, port: {mqtt_port}, version: "{version}"}}\n'
        f"storage: {{backend: victoriametrics, url: '{store_url}'}}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int) -> list[Reading]:
    return [Reading("plc-01", "speed", float(i), 0, None, 2_000_000 + i, 1, i) for i in range(seq0, seq0 + n)]


async def test_historian_retries_429_503_and_rejects_400(tmp_path: Path, mosquitto: Server) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Stub.script, Stub.bodies = [429, 503, 503], []
    plant = load_plant(plant_file(tmp_path, mosquitto.port, f"http://127.0.0.1:{httpd.server_port}"))
    historian = Historian(plant.config, plant.base_dir, group="stub", batch_points=1000, linger=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(historian.run(stop))
    delivery = Delivery.build(plant.config, plant.base_dir, 1)
    dstop = asyncio.Event()
    dtask = asyncio.create_task(delivery.run(dstop))
    try:
        await async_wait_for(lambda: historian.subscribed, 10, "historian subscribed")
        for i in range(4):
            delivery("plc-01", readings(1 + 5 * i, 5))
        await async_wait_for(lambda: historian.stats.acked == 4, 20, "4 messages acked")
        stored = sorted(int(x.split("seq=")[1].split("i")[0]) for b in Stub.bodies for x in b.splitlines())
        assert stored == list(range(1, 21))
        assert historian.stats.retries == 3
        Stub.script = [400]
        delivery("plc-01", readings(21, 5))
        await async_wait_for(lambda: sum(historian.stats.rejected.values()) == 1, 20, "a rejected batch")
        assert next(iter(historian.stats.rejected)).startswith("HTTP 400")
        # the store confirmed the first 20 and refused the last 5 for good: the collector is told both
        box = delivery.runners[0].outbox
        await async_wait_for(lambda: box.depth == 0, 20, "every record confirmed or refused")
        (drop,) = box.drops()
        assert drop.reason.startswith("rejected: HTTP 400") and (drop.seq_first, drop.points) == (21, 5)
        assert box.counters()[("plc-01", "confirmed")] == 20
    finally:
        dstop.set()
        stop.set()
        await asyncio.wait_for(dtask, 20)
        await asyncio.wait_for(task, 20)
        delivery.close()
        httpd.shutdown()
