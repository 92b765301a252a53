"""The recorder over a real ledger, outbox and sink runner: outage, replay, drops and batch deltas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collector.config import load_plant
from collector.delivery import Delivery, SinkRunner
from collector.engine import ReloadResult
from collector.evidence.verify import kpis
from collector.ledger import Ledger, chain, iter_entries, keys
from collector.model import Reading
from collector.outbox import Entry, Outbox
from collector.recorder import EvidenceRecorder
from collector.sinks.base import DATA, RejectedBatchError, RetryableSinkError
from tests.support.delivery import ScriptedSink, drain

pytestmark = pytest.mark.unit


def add(box: Outbox, first: int, n: int, device: str = "d") -> None:
    box.append([Entry(DATA, device, 1, s, s, 1, b"[]") for s in range(first, first + n)])


def setup(tmp_path: Path) -> tuple[Ledger, EvidenceRecorder, SinkRunner, ScriptedSink]:
    path = tmp_path / "plant.yaml"
    path.write_text("version: 1\nsite: {enterprise: t, site: s}\n", encoding="utf-8")
    plant = load_plant(path)
    sink = ScriptedSink()
    runner = SinkRunner(sink, Outbox(tmp_path / "o.sqlite"), batch_records=2)
    delivery = Delivery([runner])
    ledger = Ledger(tmp_path / "ledger", keys.load_or_create(tmp_path / "k.pem"), "collector@edge-01")
    recorder = EvidenceRecorder(ledger, plant, 1, delivery)
    delivery.observe(recorder)
    recorder.start()
    return ledger, recorder, runner, sink


def payloads(tmp_path: Path, type_: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in iter_entries(tmp_path / "ledger") if e["type"] == type_]


async def test_outage_replay_and_sink_deltas_are_recorded(tmp_path: Path) -> None:
    ledger, recorder, runner, sink = setup(tmp_path)
    add(runner.outbox, 1, 2)
    await drain(runner)
    add(runner.outbox, 3, 5)
    sink.script = [RetryableSinkError("broker down", retry_after=0.0)] * 2
    assert await runner.step() and await runner.step()  # two failures: one outage
    assert await runner.step()  # back: [3, 4] is sent as replay
    add(runner.outbox, 100, 3)  # live, after the sink came back
    await drain(runner)
    recorder.flush()
    recorder.stop("stopped")
    ledger.close()

    types = [e["type"] for e in iter_entries(tmp_path / "ledger")]
    assert [t for t in types if t.startswith("BROKER_") or t == "REPLAY"] == [
        "BROKER_DISCONNECT", "BROKER_CONNECT", "REPLAY",
    ]  # fmt: skip
    assert payloads(tmp_path, "BROKER_DISCONNECT") == [{"sink": "scripted", "message": "broker down"}]
    (replay,) = payloads(tmp_path, "REPLAY")
    assert replay["sink"] == "scripted" and replay["records"] == 5 and replay["by_device"] == {"d": 5}
    assert replay["ended"] >= replay["started"]
    assert runner.outbox.counters()[("d", "replayed")] == replay["records"]
    (batch,) = payloads(tmp_path, "SINK_BATCH")
    assert batch["devices"] == {
        "d": {"accepted": 10, "acked": 10, "confirmed": 0, "replayed": 5, "resent": 0, "dropped": 0}
    }
    assert chain.check_links(list(iter_entries(tmp_path / "ledger"))) == []


async def test_drops_and_only_new_counter_deltas_are_recorded(tmp_path: Path) -> None:
    ledger, recorder, runner, sink = setup(tmp_path)
    add(runner.outbox, 1, 3, device="plc-01")
    ids = tuple(r.id for r in runner.outbox.fetch(0, 10))
    sink.script = [RejectedBatchError("HTTP 400: bad field", ids[:2])]
    await drain(runner)
    recorder.flush()
    recorder.flush()  # nothing new: no entries
    ledger.close()

    (drop,) = payloads(tmp_path, "DROP")
    assert drop["sink"] == "scripted" and drop["device"] == "plc-01"
    assert drop["reason"] == "rejected: HTTP 400: bad field" and drop["count"] == 2
    assert (drop["seq_first"], drop["seq_last"]) == (1, 2) and drop["last_ts"] >= drop["first_ts"]
    (batch,) = payloads(tmp_path, "SINK_BATCH")
    assert batch["devices"] == {
        "plc-01": {"accepted": 3, "acked": 1, "confirmed": 0, "replayed": 0, "resent": 0, "dropped": 2}
    }


def test_raw_batches_count_what_the_output_took(tmp_path: Path) -> None:
    ledger, recorder, _runner, _sink = setup(tmp_path)
    taken: list[Reading] = []

    def output(device: str, readings: list[Reading]) -> None:
        taken.extend(readings)

    tee = recorder.tee_output(output)

    def readings(first: int, n: int, bad: int = 0) -> list[Reading]:
        return [
            Reading("plc-01", "t", 1.0, 0x80310000 if i < bad else 0, None, 1_000, 1, first + i)
            for i in range(n)
        ]

    tee("plc-01", readings(1, 4, bad=1))
    tee("plc-01", readings(5, 3))
    recorder.flush(5_000)
    tee("plc-01", readings(10, 2))  # seq 8 and 9 never reached the output
    recorder.flush(6_000)
    ledger.close()

    first, second = (p["devices"]["plc-01"] for p in payloads(tmp_path, "RAW_BATCH"))
    assert first == {"seq_first": 1, "seq_last": 7, "count": 7, "good": 6, "errors": {}}
    assert second == {"seq_first": 10, "seq_last": 11, "count": 2, "good": 2, "holes": [[8, 9]], "errors": {}}
    assert first["count"] + second["count"] == len(taken)


def plant_text(rule_green: str, shift_start: str) -> str:
    return f"""version: 1
site: {{enterprise: t, site: s, timezone: Asia/Shanghai}}
calendar:
  shifts: [{{name: A, start: "{shift_start}", end: "16:00"}}]
devices:
  - id: sl-01
    protocol: modbus_tcp
    host: 127.0.0.1
    port: 1502
    tags:
      - {{name: {rule_green}, address: "00001", type: bool}}
      - {{name: red, address: "00002", type: bool}}
    state:
      template: stacklight
      inputs: {{green: {rule_green}, red: red}}
"""


def test_a_reload_records_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(plant_text("lamp_green", "08:00"), encoding="utf-8")
    old = load_plant(path)
    ledger = Ledger(tmp_path / "ledger", keys.load_or_create(tmp_path / "k.pem"), "collector@edge-01")
    recorder = EvidenceRecorder(ledger, old, 1, None)
    recorder.start()
    recorder.device_connected("sl-01")
    path.write_text(plant_text("green_lamp", "07:30"), encoding="utf-8")
    new = load_plant(path)
    recorder.reloaded(old, new, ReloadResult(True, changed=("sl-01",)))
    recorder.reloaded(new, new, ReloadResult(True))  # nothing differs: only CONFIG_CHANGE
    ledger.close()

    types = [e["type"] for e in iter_entries(tmp_path / "ledger")]
    assert types == [
        "COLLECTOR_START", "RULE_CHANGE", "MASTERDATA_CHANGE", "CALENDAR_CHANGE", "DEVICE_CONNECT",
        "DEVICE_DISCONNECT", "CONFIG_CHANGE", "RULE_CHANGE", "CALENDAR_CHANGE", "CONFIG_CHANGE",
    ]  # fmt: skip
    rules = payloads(tmp_path, "RULE_CHANGE")
    assert rules[0]["rule"] != rules[1]["rule"] and rules[1]["definition"]["inputs"]["green"] == "green_lamp"
    change = payloads(tmp_path, "CONFIG_CHANGE")[0]
    assert change["changed"] == ["sl-01"] and change["config_hash"].startswith("sha256:")
    assert payloads(tmp_path, "DEVICE_DISCONNECT")[0]["kind"] == "reload"
    calendars = payloads(tmp_path, "CALENDAR_CHANGE")
    assert calendars[1]["calendar"]["shifts"][0]["start"] != calendars[0]["calendar"]["shifts"][0]["start"]


def test_a_hole_inside_a_batch_is_written_as_a_range_the_reader_skips(tmp_path: Path) -> None:
    ledger, recorder, _runner, _sink = setup(tmp_path)
    tee = recorder.tee_output(lambda _device, _readings: None)
    tee("plc-01", [Reading("plc-01", "t", 1.0, 0, None, 1_000, 1, s) for s in (1, 2, 3)])
    tee("plc-01", [Reading("plc-01", "t", 1.0, 0, None, 1_000, 1, s) for s in (6, 7)])  # 4, 5 never sent
    recorder.flush(5_000)
    ledger.close()

    (payload,) = payloads(tmp_path, "RAW_BATCH")
    assert payload["devices"]["plc-01"]["holes"] == [[4, 5]]
    (batch,) = kpis.raw_batches(payload)
    assert batch.ranges() == [(1, 3), (6, 7)]
    result = kpis.reconcile([batch], [("plc-01", 1, s) for s in (1, 2, 3, 6, 7)])
    assert (result["plc-01"].published, result["plc-01"].landed, result["plc-01"].ratio) == (5, 5, 1.0)
