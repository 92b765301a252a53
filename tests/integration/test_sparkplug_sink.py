"""The Sparkplug sink and delivery against a real mosquitto (`mqtt.mode: sparkplug`).

A host-side listener decodes every message with the independent decoder
(tests/support/sparkplug_decode.py): births, DDATA values and aliases, seq continuity, the NDEATH
on a clean stop, bdSeq across restarts, and an NCMD rebirth.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.model import Reading
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions
from collector.sinks.sparkplug.sink import BDSEQ_FILE, SparkplugSink
from drivers.status import BAD_NO_COMMUNICATION
from tests.support.delivery import delivering
from tests.support.net import async_wait_for, free_port
from tests.support.servers import Server, start_mosquitto
from tests.support.sparkplug_decode import by_name, decode_payload, encode_ncmd_rebirth

pytestmark = pytest.mark.integration

GROUP = "acme-s1"
NODE = "ipc-sp"
BASE = f"spBv1.0/{GROUP}"

Received = tuple[str, str, dict[str, Any]]  # (message type, device or "", decoded payload)


def plant_file(tmp_path: Path, port: int, version: str = "5") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        f"version: 1\nsite: {{enterprise: acme, site: s1, edge_id: {NODE}}}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1, line: l1,\n"
        "     tags: [{name: speed, address: 40001, type: float32, unit: rpm},\n"
        "            {name: count, address: 40003, type: uint16}]}\n"
        f'mqtt:\n  mode: sparkplug\n  host: 127.0.0.1\n  port: {port}\n  version: "{version}"\n'
        f"  client_id: sp-{version}\n"
        "storage: {backend: sqlite, sqlite_path: data/hist.sqlite}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int, session: int = 1) -> list[Reading]:
    out = []
    for i in range(seq0, seq0 + n):
        out.append(Reading("plc-01", "speed", float(i), 0, None, 1_000_000 + i, session, 2 * i, "rpm"))
        out.append(Reading("plc-01", "count", i, 0, None, 1_000_000 + i, session, 2 * i + 1, None))
    return out


class Host:
    """A Sparkplug host application: listens to the group, can send NCMD."""

    def __init__(self, port: int, client_id: str) -> None:
        self.opts = MqttOptions("127.0.0.1", port, client_id)
        self.got: list[Received] = []
        self.conn: MqttConnection | None = None

    def on_message(self, msg: Any) -> None:
        parts = msg.topic.split("/")
        if parts[2] in ("NCMD", "DCMD"):
            return
        self.got.append((parts[2], parts[4] if len(parts) > 4 else "", decode_payload(bytes(msg.payload))))

    async def connect(self) -> None:
        self.conn = MqttConnection(self.opts, self.on_message)
        await self.conn.connect()
        await self.conn.subscribe(f"{BASE}/#", 1)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.disconnect()

    def kinds(self) -> list[str]:
        return [k for k, _d, _p in self.got]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [p for k, _d, p in self.got if k == kind]

    def points(self) -> int:
        return sum(len(p["metrics"]) for p in self.of("DDATA"))


def bd_seq(payload: dict[str, Any]) -> int:
    return int(by_name(payload)["bdSeq"]["value"])


def seqs_continue(got: list[Received]) -> None:
    """From each NBIRTH (seq 0) every node message has the previous seq + 1; NDEATH has none."""
    expected: int | None = None
    for kind, _d, payload in got:
        if kind == "NDEATH":
            assert "seq" not in payload
            expected = None
            continue
        if kind == "NBIRTH":
            assert payload["seq"] == 0
        else:
            assert expected is not None and payload["seq"] == expected, (kind, payload.get("seq"), expected)
        expected = (payload["seq"] + 1) % 256


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_births_data_and_death(tmp_path: Path, mosquitto: Server, version: str) -> None:
    host = Host(mosquitto.port, f"host-{version}")
    await host.connect()
    path = plant_file(tmp_path, mosquitto.port, version)
    async with delivering(path) as delivery:
        assert isinstance(delivery.runners[0].sink, SparkplugSink)
        for i in range(4):
            delivery("plc-01", readings(1 + 3 * i, 3))
        await async_wait_for(lambda: host.points() == 24, 15, "24 DDATA metrics")
        box = delivery.runners[0].outbox
        await async_wait_for(lambda: box.depth == 0, 10, "an acknowledged outbox")
    await async_wait_for(lambda: "NDEATH" in host.kinds(), 10, "the NDEATH of a clean stop")
    await host.close()

    assert host.kinds()[:2] == ["NBIRTH", "DBIRTH"] and host.kinds()[-1] == "NDEATH"
    assert set(host.kinds()) == {"NBIRTH", "DBIRTH", "DDATA", "NDEATH"}
    seqs_continue(host.got)
    nbirth = host.of("NBIRTH")[0]
    assert by_name(nbirth)["Node Control/Rebirth"]["value"] is False
    assert bd_seq(host.of("NDEATH")[0]) == bd_seq(nbirth)

    dbirth = by_name(host.of("DBIRTH")[0])
    assert set(dbirth) == {"Telemetry/speed", "Telemetry/count"}
    assert dbirth["Telemetry/speed"]["datatype"] == 9  # Float (float32)
    assert dbirth["Telemetry/count"]["datatype"] == 6  # UInt16
    assert dbirth["Telemetry/speed"]["properties"]["engUnit"]["value"] == "rpm"
    aliases = {name: m["alias"] for name, m in dbirth.items()}
    assert len(set(aliases.values())) == 2

    speed, count = [], []
    for payload in host.of("DDATA"):
        for m in payload["metrics"]:
            assert "name" not in m and not m.get("is_historical", False)
            if m["alias"] == aliases["Telemetry/speed"]:
                speed.append((m["value"], m["timestamp"]))
            else:
                assert m["alias"] == aliases["Telemetry/count"]
                count.append(m["value"])
    assert speed == [(float(i), 1_000_000 + i) for i in range(1, 13)]
    assert count == list(range(1, 13))


async def test_rebirth_on_ncmd_and_bdseq_across_restarts(tmp_path: Path, mosquitto: Server) -> None:
    host = Host(mosquitto.port, "host-rebirth")
    await host.connect()
    path = plant_file(tmp_path, mosquitto.port)
    bd_file = tmp_path / "data" / BDSEQ_FILE
    bd_file.parent.mkdir(parents=True)
    bd_file.write_text("255\n")  # the previous run ended at 254: this one starts at 255, then wraps
    async with delivering(path) as delivery:
        delivery("plc-01", readings(1, 2))
        await async_wait_for(lambda: host.points() == 4, 15, "the first DDATA")
        assert host.conn is not None
        await host.conn.publish(f"{BASE}/NCMD/{NODE}", encode_ncmd_rebirth(1_000), qos=1)
        await async_wait_for(lambda: len(host.of("NBIRTH")) == 2, 10, "a second NBIRTH")
        await async_wait_for(lambda: len(host.of("DBIRTH")) == 2, 10, "a second DBIRTH")
        delivery("plc-01", readings(3, 2))
        await async_wait_for(lambda: host.points() == 8, 15, "DDATA after the rebirth")
    await async_wait_for(lambda: "NDEATH" in host.kinds(), 10, "the first run's NDEATH")
    first_run = len(host.got)
    assert bd_seq(host.of("NBIRTH")[0]) == bd_seq(host.of("NBIRTH")[1]) == 255
    assert bd_seq(host.of("NDEATH")[0]) == 255
    assert host.kinds()[:first_run] == [
        "NBIRTH", "DBIRTH", "DDATA", "NBIRTH", "DBIRTH", "DDATA", "NDEATH"
    ]  # fmt: skip
    # the rebirth's DBIRTH carries the last values and the same aliases
    reborn = by_name(host.of("DBIRTH")[1])
    assert reborn["Telemetry/speed"]["value"] == 2.0 and reborn["Telemetry/count"]["value"] == 2
    first = by_name(host.of("DBIRTH")[0])
    assert {n: m["alias"] for n, m in reborn.items()} == {n: m["alias"] for n, m in first.items()}
    seqs_continue(host.got)
    assert bd_file.read_text().strip() == "0"

    async with delivering(path, session=2) as delivery:  # a restart: bdSeq continues (255 → 0)
        delivery("plc-01", readings(5, 1, session=2))
        await async_wait_for(lambda: host.points() == 10, 15, "DDATA of the second run")
    await async_wait_for(lambda: host.kinds().count("NDEATH") == 2, 10, "the second run's NDEATH")
    await host.close()
    assert bd_seq(host.of("NBIRTH")[2]) == 0 and bd_seq(host.of("NDEATH")[1]) == 0
    assert bd_file.read_text().strip() == "1"
    seqs_continue(host.got[first_run:])


async def test_stored_backlog_is_sent_as_historical(tmp_path: Path, mosquitto: Server) -> None:
    host = Host(mosquitto.port, "host-replay")
    await host.connect()
    path = plant_file(tmp_path, mosquitto.port)
    plant = load_plant(path)
    offline = Delivery.build(plant.config, plant.base_dir, 1)  # stored, never sent: a backlog
    offline("plc-01", readings(1, 2))
    offline.close()
    async with delivering(path, session=2) as delivery:
        delivery("plc-01", readings(3, 1, session=2))
        await async_wait_for(lambda: host.points() == 6, 15, "backlog and live DDATA")
    await host.close()
    flags = sorted(
        (m["timestamp"], bool(m.get("is_historical", False))) for p in host.of("DDATA") for m in p["metrics"]
    )
    assert flags == [
        (1_000_001, True), (1_000_001, True), (1_000_002, True), (1_000_002, True),
        (1_000_003, False), (1_000_003, False),
    ]  # fmt: skip
    # the births come first, before any value: declared metrics are null
    assert by_name(host.of("DBIRTH")[0])["Telemetry/speed"].get("is_null") is True


async def test_broker_restart_rebirths_with_next_bdseq(tmp_path: Path) -> None:
    port = free_port()
    broker_dir = Path(tempfile.mkdtemp(prefix="shopfloor-sp-broker-"))
    os.chmod(broker_dir, 0o777)
    broker = start_mosquitto(broker_dir, port=port)
    host = Host(port, "host-restart")
    try:
        await host.connect()
        async with delivering(plant_file(tmp_path, port)) as delivery:
            delivery("plc-01", readings(1, 1))
            await async_wait_for(lambda: host.points() == 2, 15, "live DDATA")
            broker.stop()
            runner = delivery.runners[0]
            delivery("plc-01", readings(2, 2))
            await async_wait_for(lambda: runner.outage, 10, "the sink to notice the outage")
            broker = start_mosquitto(broker_dir, port=port)
            host.got.clear()
            await host.connect()
            await async_wait_for(lambda: host.points() == 4, 30, "the replayed DDATA")
        nbirths = host.of("NBIRTH")
        assert nbirths and bd_seq(nbirths[0]) >= 1  # a new CONNECT: a new bdSeq
        replayed = [m for p in host.of("DDATA") for m in p["metrics"]]
        assert all(m.get("is_historical") for m in replayed)
        assert sorted(m["timestamp"] for m in replayed) == [1_000_002, 1_000_002, 1_000_003, 1_000_003]
        seqs_continue([g for g in host.got if g[0] != "NDEATH"])
        await host.close()
    finally:
        broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)


async def test_a_lost_device_gets_ddeath_then_a_new_dbirth(tmp_path: Path, mosquitto: Server) -> None:
    host = Host(mosquitto.port, "host-ddeath")
    await host.connect()
    lost = [Reading("plc-01", t, None, BAD_NO_COMMUNICATION, None, 1_000_100, 1, 100 + i, None)
            for i, t in enumerate(("speed", "count"))]  # fmt: skip
    async with delivering(plant_file(tmp_path, mosquitto.port)) as delivery:
        delivery("plc-01", readings(1, 2))
        await async_wait_for(lambda: host.points() == 4, 15, "first data")
        delivery("plc-01", lost)  # what the engine sends once when the device stops answering
        await async_wait_for(lambda: "DDEATH" in host.kinds(), 15, "DDEATH")
        delivery("plc-01", readings(3, 1))
        await async_wait_for(lambda: host.points() == 6, 15, "data after the device came back")
    await host.close()
    kinds = [k for k in host.kinds() if k != "NDEATH"]
    assert kinds == ["NBIRTH", "DBIRTH", "DDATA", "DDEATH", "DBIRTH", "DDATA"]
    seqs_continue(host.got)
