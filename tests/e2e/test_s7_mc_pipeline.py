"""Siemens S7 and Mitsubishi MC devices through the whole pipeline: the plant simulators (python-snap7's
server; our 3E responder) → the plant file `simulate plant --emit-config` writes → the collector
(state, counters, OEE) → mosquitto (UNS) → the historian → VictoriaMetrics → an evidence pack that
verifies, with both devices in every table that concerns them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from collector.config import load_plant
from collector.evidence.pack import build_pack
from collector.evidence.verify.csvio import read_csv
from collector.evidence.verify.verifier import verify_pack
from collector.historian import Historian
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions
from simulators.emit import plant_config
from simulators.plant import SimulatedPlant
from simulators.scenario import Scenario
from tests.support.evidence import every_reading_stored, now_ms, polls, running
from tests.support.net import async_wait_for
from tests.support.servers import Server

pytestmark = pytest.mark.e2e
DEVICES = ("s7-01", "mc-01")
SITE = "s7-mc-e2e"  # the store is shared: this test reads only its own site


def scenario(enterprise: str) -> Scenario:
    return Scenario.model_validate({
        "name": "s7-mc-e2e", "seed": 11, "time_scale": 60, "update_interval": "100ms", "control_port": None,
        "site": {"enterprise": enterprise, "enterprise_code": "E2E01", "site": SITE, "edge_id": "e1",
                 "areas": [{"id": "a1", "lines": [{"id": "l1"}]}]},
        "s7": [{"prefix": "s7", "profile": "stacklight-plc", "area": "a1", "line": "l1"}],
        "mc": [{"prefix": "mc", "profile": "injection-molding", "area": "a1", "line": "l1"}],
    })  # fmt: skip


def write_plant(plant: SimulatedPlant, folder: Path, broker: int, store: str) -> Path:
    doc = plant_config(plant)
    for device in doc["devices"]:
        device.update(poll_interval="200ms", timeout="500ms")
    doc.update(
        data_dir="data", mqtt={"mode": "uns", "host": "127.0.0.1", "port": broker, "version": "5"},
        storage={"backend": "victoriametrics", "url": store}, web={"enabled": False},
        evidence={"batch_interval": "500ms", "timesync_interval": "1h"},
    )  # fmt: skip
    path = folder / "plant.yaml"
    with path.open("w", encoding="utf-8") as fh:
        YAML().dump(doc, fh)
    return path


async def test_s7_and_mc_devices_flow_into_a_verified_pack(
    tmp_path: Path, mosquitto: Server, victoria_metrics: Server
) -> None:
    enterprise = f"plc{uuid.uuid4().hex[:8]}"  # the broker and store are shared with other tests
    seen: dict[str, list[str]] = {d: [] for d in DEVICES}

    def on_message(msg: object) -> None:
        topic: str = msg.topic  # type: ignore[attr-defined]
        parts = topic.split("/")
        if parts[6] in seen:
            seen[parts[6]].append("/".join(parts[7:]))

    listener = MqttConnection(MqttOptions("127.0.0.1", mosquitto.port, f"l-{enterprise}"), on_message)
    await listener.connect()
    await listener.subscribe(f"uns/v1/{enterprise}/#", 1)
    stop_historian = asyncio.Event()
    async with SimulatedPlant(scenario(enterprise), run_faults=False) as sims:
        plant_file = write_plant(sims, tmp_path, mosquitto.port, victoria_metrics.url)
        loaded = load_plant(plant_file)
        historian = Historian(loaded.config, loaded.base_dir, group=None, linger=0.05)
        hist_task = asyncio.create_task(historian.run(stop_historian), name="historian")
        await async_wait_for(lambda: historian.subscribed, 15, "historian subscribed")
        start = now_ms()
        async with running(plant_file) as collector:
            await polls(collector, 15)
            await async_wait_for(
                lambda: all("state" in seen[d] and "data" in seen[d] for d in DEVICES), 20, "state and data"
            )
        end = now_ms() + 1
        await every_reading_stored(collector, victoria_metrics, plant_file, start - 1000, end, SITE)
    stop_historian.set()
    await asyncio.wait_for(hist_task, 20)
    await listener.disconnect()

    result = build_pack(load_plant(plant_file), start - 1000, end, tmp_path / "packs")
    pack = result.path
    report = verify_pack(pack)
    assert report.ok, [(c.name_en, c.detail) for c in report.checks if not c.ok]
    connections = {r.text("device_id"): r for r in read_csv(pack / "01_device_register" / "接入设备清单.csv")}
    assert connections["s7-01"].text("protocol") == "Siemens S7"
    assert connections["mc-01"].text("protocol") == "Mitsubishi MC (3E)"
    register = {r.text("equipment_id") for r in read_csv(pack / "01_device_register" / "设备台账.csv")}
    assert {"s7-01", "mc-01"} <= register  # a file without an equipment: section: each device is a row
    points = read_csv(pack / "03_datapoints" / "数据采集点清单.csv")
    assert any(
        p.text("device_id") == "s7-01" and p.text("source_address").startswith("DB1.DBD2") for p in points
    )
    assert any(p.text("device_id") == "mc-01" and p.text("source_address").startswith("D0 ") for p in points)
    for device in DEVICES:
        assert (pack / "05_raw_samples" / f"{device}.csv").is_file()
        timeline = [
            r for r in read_csv(pack / "06_state" / "状态时间线.csv") if r.text("device_id") == device
        ]
        assert timeline, device
        oee = [r for r in read_csv(pack / "07_kpi" / "OEE_按日.csv") if r.text("device_id") == device]
        assert [r.text("period") for r in oee] == ["window"], device
        counters = [r for r in read_csv(pack / "07_kpi" / "计数器.csv") if r.text("device_id") == device]
        assert counters, device
    delivered = {r.text("device_id"): r for r in read_csv(pack / "04_completeness" / "入库对账.csv")}
    assert all(delivered[d].number("delivery_ratio") == 1.0 for d in DEVICES)
    summary = json.loads((pack / "summary.json").read_text(encoding="utf-8"))
    assert {d["id"] for d in summary["devices"]} == set(DEVICES)
