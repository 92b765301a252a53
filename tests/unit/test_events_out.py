"""Normalised events as UNS outbox entries: kinds, seq numbering and payload fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.events_out import EventsOut
from collector.normalise.device import DeviceEvents
from collector.normalise.records import (
    E10,
    Bucket,
    CounterEvent,
    CounterEventKind,
    KpiRecord,
    Period,
    Quantities,
    State,
    StateChange,
    StateInterval,
    TimeElements,
)
from collector.outbox import Entry, OutboxRecord
from collector.sinks.mqtt import MqttSink
from collector.sinks.uns import Topics, render

pytestmark = pytest.mark.unit

TOPICS = Topics("uns", "acme", "sz-1", "ipc-01", {"sl-01": ("machining", "line-1")})
INPUTS = (("green", True), ("power", True), ("red", False), ("yellow", False))


def change() -> StateChange:
    closed = StateInterval("sl-01", 1000, 5000, State.IDLE, None, Bucket.ADOT, E10.SBY, (), "stack3@abc")
    return StateChange(
        "sl-01", 5000, 5050, State.RUNNING, "AUTO", State.IDLE, Bucket.APT, E10.PRD, 0, INPUTS,
        "stack3@abc", closed,
    )  # fmt: skip


def kpi() -> KpiRecord:
    times = TimeElements(3600.0, 0.0, 3600.0, 1800.0, 1700.0, 0.0, 100.0, 0.0, 0.0)
    return KpiRecord(
        "sl-01", Period.HOUR, "2026-11-25T08", 0, 3_600_000, times, Quantities(100, 98, 2), 10.0,
        1000.0, 0.5, 0.5555, 0.98, 0.2722, None, None, ("partial",), 3, "cal@1",
    )  # fmt: skip


def record(kind: str, body: bytes) -> OutboxRecord:
    return OutboxRecord(1, kind, "sl-01", 7, 1, 1, 1, 0, body)


def test_entries_kinds_and_seq() -> None:
    out = EventsOut(session=7)
    counter = CounterEvent(6000, "sl-01", "parts16", CounterEventKind.ROLLOVER, 65535, 3, 4, "wrap")
    events = DeviceEvents("sl-01", states=(change(),), counter_events=(counter,), kpis=(kpi(),))
    entries = out.entries(events)
    assert [e.kind for e in entries] == ["state", "event/state_change", "event/counter", "kpi/hour"]
    assert [(e.device, e.session, e.seq_first, e.seq_last, e.count) for e in entries] == [
        ("sl-01", 7, s, s, 1) for s in (1, 2, 3, 4)
    ]
    assert out.entries(DeviceEvents("sl-01", states=(change(),)))[0].seq_first == 5
    assert out.entries(DeviceEvents("other", states=(change(),)))[0].seq_first == 1
    assert out.entries(DeviceEvents("sl-01")) == []


def test_state_payload_and_topic() -> None:
    state = EventsOut(3).entries(DeviceEvents("sl-01", states=(change(),)))[0]
    rendered = render(TOPICS, record(state.kind, state.body), hist=False)
    assert rendered is not None
    topic, payload, retain = rendered
    assert topic == "uns/v1/acme/sz-1/machining/line-1/sl-01/state" and retain is True
    assert json.loads(payload) == {
        "v": 1, "device": "sl-01", "state": "RUNNING", "state_zh": "运行", "sub": "AUTO",
        "since": 5000, "ts": 5050, "q": 0, "iso22400": "APT", "e10": "PRD",
        "inputs": {"green": True, "power": True, "red": False, "yellow": False},
        "rule": "stack3@abc", "session": 3, "seq": 1, "hist": False,
    }  # fmt: skip


def test_state_change_counter_and_kpi_payloads() -> None:
    counter = CounterEvent(6000, "sl-01", "parts16", CounterEventKind.RESET, 500, 0, 0, None)
    entries = EventsOut(1).entries(
        DeviceEvents("sl-01", states=(change(),), counter_events=(counter,), kpis=(kpi(),))
    )
    rendered = [render(TOPICS, record(e.kind, e.body), hist=True) for e in entries[1:]]
    assert all(r is not None and r[2] is False for r in rendered)
    (t1, p1, _), (t2, p2, _), (t3, p3, _) = rendered  # type: ignore[misc]
    assert t1.endswith("/sl-01/event/state_change")
    sc = json.loads(p1)
    assert sc["previous"] == "IDLE" and sc["state"] == "RUNNING" and sc["hist"] is True
    assert sc["closed"] == {
        "start": 1000, "end": 5000, "duration_s": 4.0, "state": "IDLE", "state_zh": "待机",
        "sub": None, "iso22400": "ADOT", "e10": "SBY", "inputs": {}, "rule": "stack3@abc",
    }  # fmt: skip
    assert t2.endswith("/sl-01/event/counter")
    assert {k: v for k, v in json.loads(p2).items() if k not in ("session", "seq", "hist")} == {
        "v": 1, "device": "sl-01", "ts": 6000, "counter": "parts16", "event": "RESET",
        "before": 500, "after": 0, "delta_applied": 0, "reason": None,
    }  # fmt: skip
    assert t3 == "uns/v1/acme/sz-1/machining/line-1/sl-01/kpi/hour"
    k = json.loads(p3)
    assert k["label"] == "2026-11-25T08" and k["period"] == "hour"
    assert (k["start"], k["end"]) == (0, 3_600_000)
    assert k["times"]["apt"] == 1800.0
    assert k["qty"] == {"pq": 100, "gq": 98, "sq": 2, "rq": 0, "quarantined": 0}
    assert (k["a"], k["e"], k["qr"], k["oee"]) == (0.5, 0.5555, 0.98, 0.2722)
    assert k["flags"] == ["partial"] and k["nee"] is None


def test_an_older_state_replayed_after_a_newer_one_is_not_retained(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\n"
        "devices:\n  - {id: sl-01, protocol: modbus_tcp, host: 127.0.0.1,\n"
        "     tags: [{name: x, address: 40001}]}\n"
        "mqtt: {mode: uns, host: 127.0.0.1}\n",
        encoding="utf-8",
    )
    plant = load_plant(path)
    sink = MqttSink(plant.config, plant.base_dir, session=2)
    out = EventsOut(session=2)
    older, newer = (out.entries(DeviceEvents("sl-01", states=(change(),)))[0] for _ in range(2))

    def retained(entry: Entry) -> bool:
        rec = OutboxRecord(
            1, entry.kind, entry.device, entry.session, entry.seq_first, entry.seq_last, 1, 0, entry.body
        )
        message = sink._retain_newest(rec, render(sink.topics, rec, hist=False))
        assert message is not None
        return message[2]

    assert retained(newer) is True  # live first
    assert retained(older) is False  # then the backlog: must not replace the newer retained state
    assert retained(newer) is True  # a resend of the newest keeps it retained
