"""The Sparkplug sink and delivery against a real mosquitto (`mqtt.mode: sparkplug`).

A host-side listener reads every message as a host would (tests/support/sparkplug_host.py): births
from data, report by exception, QoS per delivery mode, the clean stop's NDEATH (and on MQTT 5 the Will
as well, from DISCONNECT reason 0x04), NCMD rebirth, bdSeq across restarts, a restart's backlog, a lost
device, and a reload. Primary host gating and third-party decoders: test_sparkplug_conformance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.model import Reading
from collector.sinks.sparkplug.sink import BDSEQ_FILE, SparkplugSink
from drivers.status import BAD_NO_COMMUNICATION
from tests.support.delivery import delivering
from tests.support.net import async_wait_for
from tests.support.servers import Server
from tests.support.sparkplug_decode import by_name
from tests.support.sparkplug_host import SparkplugHost, bd_seq, check_sequences

pytestmark = pytest.mark.integration

GROUP = "acme-s1"
NODE = "ipc-sp"
TAGS = (
    "     tags: [{name: speed, address: 40001, type: float32, unit: rpm, deadband: 2},\n"
    "            {name: count, address: 40003, type: uint32}]}\n"
)


def plant_file(
    tmp_path: Path, port: int, version: str = "5", sparkplug: str = "{}", tags: str = TAGS
) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        f"version: 1\nsite: {{enterprise: acme, site: s1, edge_id: {NODE}}}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1, line: l1,\n"
        f"{tags}"
        f'mqtt:\n  mode: sparkplug\n  host: 127.0.0.1\n  port: {port}\n  version: "{version}"\n'
        f"  client_id: sp-{version}-{tmp_path.name[-12:]}\n  sparkplug: {sparkplug}\n"
        "storage: {backend: sqlite, sqlite_path: data/hist.sqlite}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int, session: int = 1, *, speed: float | None = None) -> list[Reading]:
    """n polls of plc-01; speed moves 10 rpm a poll (past the deadband) unless given."""
    out = []
    for i in range(seq0, seq0 + n):
        value = float(10 * i) if speed is None else speed
        out.append(Reading("plc-01", "speed", value, 0, None, 1_000_000 + i, session, 2 * i, "rpm"))
        out.append(Reading("plc-01", "count", i, 0, None, 1_000_000 + i, session, 2 * i + 1, None))
    return out


async def host_for(port: int, name: str) -> SparkplugHost:
    host = SparkplugHost(port, name, GROUP)
    await host.connect()
    return host


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_births_data_by_exception_and_clean_stop(
    tmp_path: Path, mosquitto: Server, version: str
) -> None:
    host = await host_for(mosquitto.port, f"host-{version}")
    path = plant_file(tmp_path, mosquitto.port, version)
    async with delivering(path) as delivery:
        assert isinstance(delivery.runners[0].sink, SparkplugSink)
        delivery("plc-01", readings(1, 1))  # the device's first data: its DBIRTH
        await async_wait_for(lambda: host.of("DBIRTH"), 15, "the DBIRTH")
        delivery("plc-01", readings(1, 1))  # the same values again: nothing to report
        delivery("plc-01", readings(2, 1, speed=11.0))  # speed within its 2 rpm deadband; count moved
        delivery("plc-01", readings(3, 2))  # two polls in one output call: one DDATA
        box = delivery.runners[0].outbox
        await async_wait_for(lambda: box.depth == 0 and len(host.of("DDATA")) == 2, 15, "two DDATA")
    await async_wait_for(lambda: host.of("NDEATH"), 10, "the NDEATH of a clean stop")
    await host.close()

    assert host.kinds()[:2] == ["NBIRTH", "DBIRTH"] and host.kinds()[-1] == "NDEATH"
    check_sequences(host.got)
    nbirth, dbirth = host.of("NBIRTH")[0].payload, by_name(host.of("DBIRTH")[0].payload)
    assert by_name(nbirth)["Node Control/Rebirth"]["value"] is False
    assert {n: (m["datatype"], m["value"]) for n, m in dbirth.items()} == {
        "Telemetry/speed": (9, 10.0),  # Float (float32), the first poll's value
        "Telemetry/count": (7, 1),  # UInt32
    }
    assert dbirth["Telemetry/speed"]["properties"]["engUnit"]["value"] == "rpm"
    data = [(m["name"], m["value"]) for m in host.metrics()]
    assert data == [("Telemetry/count", 2), ("Telemetry/speed", 30.0), ("Telemetry/count", 3),
                    ("Telemetry/speed", 40.0), ("Telemetry/count", 4)]  # fmt: skip
    assert all(
        "datatype" not in m and "name" not in m for r in host.of("DDATA") for m in r.payload["metrics"]
    )
    assert {(r.qos, r.retain) for r in host.got} == {(1, False)}  # acknowledged delivery: QoS 1
    deaths = host.of("NDEATH")
    assert {bd_seq(d.payload) for d in deaths} == {bd_seq(nbirth)}
    # the clean stop publishes the NDEATH; on MQTT 5 its DISCONNECT (reason 0x04) has the broker send
    # the Will too, so a host sees the death twice there, once on MQTT 3.1.1
    assert len(deaths) == (2 if version == "5" else 1)


async def test_conformant_delivery_publishes_with_qos_0(tmp_path: Path, mosquitto: Server) -> None:
    host = await host_for(mosquitto.port, "host-qos0")
    path = plant_file(tmp_path, mosquitto.port, sparkplug="{delivery: conformant}")
    async with delivering(path) as delivery:
        delivery("plc-01", readings(1, 1))
        delivery("plc-01", readings(2, 1))
        box = delivery.runners[0].outbox
        await async_wait_for(lambda: box.depth == 0 and host.of("DDATA"), 15, "the DDATA")
    await async_wait_for(lambda: host.of("NDEATH"), 10, "the NDEATH")
    await host.close()
    assert {(r.kind, r.qos) for r in host.got} == {("NBIRTH", 0), ("DBIRTH", 0), ("DDATA", 0), ("NDEATH", 1)}


async def test_rebirth_on_ncmd_and_bdseq_across_restarts(tmp_path: Path, mosquitto: Server) -> None:
    host = await host_for(mosquitto.port, "host-rebirth")
    path = plant_file(tmp_path, mosquitto.port)
    bd_file = tmp_path / "data" / BDSEQ_FILE
    bd_file.parent.mkdir(parents=True)
    bd_file.write_text("255\n")  # the previous run ended at 254: this one starts at 255, then wraps
    async with delivering(path) as delivery:
        delivery("plc-01", readings(1, 2))
        await async_wait_for(lambda: host.of("DDATA"), 15, "the first DDATA")
        await host.rebirth(NODE)
        await async_wait_for(lambda: len(host.of("DBIRTH")) == 2, 10, "the rebirth's DBIRTH")
        delivery("plc-01", readings(3, 1))
        await async_wait_for(lambda: len(host.of("DDATA")) == 2, 15, "DDATA after the rebirth")
    await async_wait_for(lambda: host.of("NDEATH"), 10, "the first run's NDEATH")
    first_run = len(host.got)
    assert [bd_seq(r.payload) for r in host.of("NBIRTH")] == [255, 255]
    assert host.kinds() == ["NBIRTH", "DBIRTH", "DDATA", "NBIRTH", "DBIRTH", "DDATA", "NDEATH", "NDEATH"]
    first, reborn = (by_name(r.payload) for r in host.of("DBIRTH"))
    assert {n: m["alias"] for n, m in reborn.items()} == {n: m["alias"] for n, m in first.items()}
    assert reborn["Telemetry/count"]["value"] == 2 and "properties" not in reborn["Telemetry/count"]
    check_sequences(host.got)
    assert bd_file.read_text().strip() == "0"

    async with delivering(path, session=2) as delivery:  # a restart: bdSeq continues (255 → 0)
        delivery("plc-01", readings(5, 1, session=2))
        await async_wait_for(lambda: len(host.of("DBIRTH")) == 3, 15, "the second run's DBIRTH")
    await async_wait_for(lambda: len(host.of("NDEATH")) == 4, 10, "the second run's NDEATH")
    await host.close()
    assert bd_seq(host.of("NBIRTH")[2].payload) == 0 and bd_seq(host.of("NDEATH")[2].payload) == 0
    assert bd_file.read_text().strip() == "1"
    check_sequences(host.got[first_run:])


async def test_a_restarts_backlog_is_historical_and_its_birth_stale(
    tmp_path: Path, mosquitto: Server
) -> None:
    host = await host_for(mosquitto.port, "host-replay")
    path = plant_file(tmp_path, mosquitto.port)
    plant = load_plant(path)
    offline = Delivery.build(plant.config, plant.base_dir, 1)  # stored, never sent: a backlog
    offline("plc-01", readings(1, 2))
    offline.close()
    async with delivering(path, session=2) as delivery:
        await async_wait_for(lambda: host.of("DDATA"), 15, "the backlog")
        delivery("plc-01", readings(3, 1, session=2))
        await async_wait_for(lambda: len(host.metrics()) == 6, 15, "backlog and live DDATA")
    await host.close()
    [dbirth] = host.of("DBIRTH")  # born for the backlog: last known values, not vouched for
    assert all(m["properties"]["Quality"]["value"] == 500 for m in dbirth.payload["metrics"])
    flags = sorted((m["timestamp"], m["name"], bool(m.get("is_historical"))) for m in host.metrics())
    assert [f[2] for f in flags] == [True, True, True, True, False, False]
    assert [f[0] for f in flags] == [1_000_001, 1_000_001, 1_000_002, 1_000_002, 1_000_003, 1_000_003]


async def test_a_lost_device_dies_and_is_born_again_with_fresh_values(
    tmp_path: Path, mosquitto: Server
) -> None:
    host = await host_for(mosquitto.port, "host-ddeath")
    lost = [Reading("plc-01", t, None, BAD_NO_COMMUNICATION, None, 1_000_100, 1, 100 + i, None)
            for i, t in enumerate(("speed", "count"))]  # fmt: skip
    async with delivering(plant_file(tmp_path, mosquitto.port)) as delivery:
        delivery("plc-01", readings(1, 2))
        await async_wait_for(lambda: host.of("DDATA"), 15, "first data")
        delivery("plc-01", lost)  # what the engine sends once when the device stops answering
        await async_wait_for(lambda: host.of("DDEATH"), 15, "DDEATH")
        delivery("plc-01", [r for r in readings(200, 1) if r.tag == "speed"])
        await async_wait_for(lambda: len(host.of("DBIRTH")) == 2, 15, "the device born again")
    await host.close()
    assert [k for k in host.kinds() if k != "NDEATH"] == ["NBIRTH", "DBIRTH", "DDATA", "DDEATH", "DBIRTH"]
    back = by_name(host.of("DBIRTH")[1].payload)
    assert back["Telemetry/speed"]["value"] == 2000.0  # read after the device came back
    assert "Quality" not in back["Telemetry/speed"].get("properties", {})
    count = back["Telemetry/count"]  # not read since the loss: the last value, marked stale
    assert count["value"] == 2 and count["properties"]["Quality"]["value"] == 500
    check_sequences([r for r in host.got if r.kind != "NDEATH"])


async def test_a_reload_ends_the_device_session_before_it_is_born_again(
    tmp_path: Path, mosquitto: Server
) -> None:
    host = await host_for(mosquitto.port, "host-reload")
    path = plant_file(tmp_path, mosquitto.port)
    async with delivering(path) as delivery:
        delivery("plc-01", readings(1, 1))
        await async_wait_for(lambda: host.of("DBIRTH"), 15, "the DBIRTH")
        added = TAGS.replace(
            "type: uint32}", "type: uint32},\n            {name: temp, address: 40005, type: int16, unit: °C}"
        )
        delivery.reconfigure(load_plant(plant_file(tmp_path, mosquitto.port, tags=added)).config)
        temp = Reading("plc-01", "temp", 21, 0, None, 1_000_050, 1, 50, "°C")
        delivery("plc-01", [*readings(2, 1), temp])
        await async_wait_for(lambda: len(host.of("DBIRTH")) == 2, 15, "the DBIRTH with the new tag")
    await host.close()
    assert [k for k in host.kinds() if k != "NDEATH"] == ["NBIRTH", "DBIRTH", "DDEATH", "DBIRTH"]
    reborn = by_name(host.of("DBIRTH")[1].payload)
    assert (reborn["Telemetry/temp"]["datatype"], reborn["Telemetry/temp"]["value"]) == (2, 21)  # Int16
    assert reborn["Telemetry/temp"]["properties"]["engUnit"]["value"] == "°C"
    check_sequences([r for r in host.got if r.kind != "NDEATH"])
