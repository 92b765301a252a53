"""The MQTT sink and delivery against a real mosquitto: payloads, birth/meta, outage replay as hist."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from collector.model import Reading
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions
from tests.support.delivery import delivering
from tests.support.net import async_wait_for, free_port
from tests.support.servers import Server, start_mosquitto

pytestmark = pytest.mark.integration


def plant_file(tmp_path: Path, port: int, version: str = "5", extra_mqtt: str = "") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1, edge_id: ipc-9}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1, line: l1,\n"
        "     tags: [{name: speed, address: 40001, unit: rpm}]}\n"
        f'mqtt:\n  mode: uns\n  host: 127.0.0.1\n  port: {port}\n  version: "{version}"\n{extra_mqtt}'
        "storage: {backend: sqlite, sqlite_path: data/hist.sqlite}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int, session: int = 1, device: str = "plc-01") -> list[Reading]:
    return [
        Reading(device, "speed", float(i), 0, None, 1_000_000 + i, session, i, "rpm")
        for i in range(seq0, seq0 + n)
    ]


class Listener:
    """A persistent-session subscriber, so it misses nothing across a broker restart."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.opts = MqttOptions("127.0.0.1", port, "test-listener", clean_start=False, session_expiry=3600)
        self.messages: list[tuple[str, dict[str, object], bool]] = []
        self.conn: MqttConnection | None = None

    def on_message(self, msg: object) -> None:
        self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))  # type: ignore[attr-defined]

    async def connect(self) -> None:
        self.conn = MqttConnection(self.opts, self.on_message)
        await self.conn.connect()
        await self.conn.subscribe("uns/#", 1)

    def data(self) -> list[dict[str, object]]:
        return [m for t, m, _r in self.messages if t.endswith("/data")]

    def seqs(self) -> list[int]:
        return sorted(p["seq"] for m in self.data() for p in m["points"])  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_publish_birth_meta_and_data(tmp_path: Path, mosquitto: Server, version: str) -> None:
    listener = Listener(mosquitto.port, tmp_path)
    listener.opts = MqttOptions("127.0.0.1", mosquitto.port, f"listener-{version}")
    await listener.connect()
    async with delivering(plant_file(tmp_path, mosquitto.port, version)) as delivery:
        for i in range(5):
            delivery("plc-01", readings(1 + 3 * i, 3))
        await async_wait_for(lambda: len(listener.seqs()) == 15, 15, "15 points")
    assert listener.seqs() == list(range(1, 16))
    first = listener.data()[0]
    assert first["hist"] is False and first["device"] == "plc-01" and first["seq"] == 1
    assert first["points"][0] == {"k": "speed", "v": 1.0, "u": "rpm", "st": None, "q": 0, "seq": 1}  # type: ignore[index]
    topics = [t for t, _m, _r in listener.messages]
    assert "uns/v1/acme/s1/a1/l1/plc-01/data" in topics
    status = [m for t, m, r in listener.messages if t == "uns/v1/acme/s1/_edge/ipc-9/status" and not r]
    assert status[0]["online"] is True and status[0]["session"] == 1
    assert status[-1] == {"online": False, "session": 1}  # said on a clean stop
    # live (not retained) meta only: the session broker may hold a retained one from another test
    meta = [m for t, m, r in listener.messages if t.endswith("/plc-01/meta") and not r]
    assert meta[0]["tags"][0]["name"] == "speed" and meta[0]["tags"][0]["unit"] == "rpm"  # type: ignore[index]
    assert listener.conn is not None
    await listener.conn.disconnect()
    box = delivery.runners[0].outbox
    assert box.depth == 0


async def test_broker_outage_replays_backlog_as_hist(tmp_path: Path) -> None:
    port = free_port()
    # outside pytest's 0700 tree: mosquitto drops root privileges before saving its database
    broker_dir = Path(tempfile.mkdtemp(prefix="shopfloor-broker-"))
    os.chmod(broker_dir, 0o777)
    conf = f"persistence true\npersistence_location {broker_dir}/\n"
    broker = start_mosquitto(broker_dir, conf, port=port)
    listener = Listener(port, tmp_path)
    try:
        await listener.connect()
        async with delivering(plant_file(tmp_path, port)) as delivery:
            delivery("plc-01", readings(1, 5))
            await async_wait_for(lambda: len(listener.seqs()) == 5, 15, "live points")
            broker.stop()
            runner = delivery.runners[0]
            for i in range(10):
                delivery("plc-01", readings(6 + 5 * i, 5))
            mqtt_box = runner.outbox
            await async_wait_for(lambda: runner.outage, 10, "the sink to notice the outage")
            assert mqtt_box.depth == 10
            broker = start_mosquitto(broker_dir, conf, port=port)
            await listener.connect()
            await async_wait_for(lambda: len(listener.seqs()) >= 55, 30, "replayed points")
            delivery("plc-01", readings(56, 5))
            await async_wait_for(lambda: len(set(listener.seqs())) == 60, 15, "live after replay")
            await async_wait_for(lambda: mqtt_box.depth == 0, 10, "an empty outbox")
            counters = mqtt_box.counters()
        hist = sorted(p["seq"] for m in listener.data() if m["hist"] for p in m["points"])  # type: ignore[attr-defined]
        assert set(range(6, 56)) <= set(hist)
        assert set(listener.seqs()) == set(range(1, 61))
        assert counters[("plc-01", "accepted")] == 60
        assert counters[("plc-01", "acked")] == 60 and counters[("plc-01", "replayed")] >= 50
    finally:
        broker.stop()
        shutil.rmtree(broker_dir, ignore_errors=True)
