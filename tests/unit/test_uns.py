"""UNS topics and payloads (docs/STANDARDS.md §5)."""

from __future__ import annotations

import json

import pytest

from collector.model import Reading
from collector.outbox import OutboxRecord
from collector.sinks.base import telemetry_entry
from collector.sinks.uns import Topics, birth_payload, decode_telemetry, device_place, render, will_payload

pytestmark = pytest.mark.unit

TOPICS = Topics("uns", "acme", "sz-1", "ipc-01", {"cnc-01": ("machining", "line-1")})


def record_of(entry_kind: str, body: bytes, device: str = "cnc-01") -> OutboxRecord:
    return OutboxRecord(1, entry_kind, device, 3, 10, 11, 2, 123, body)


def test_topics() -> None:
    assert TOPICS.device("cnc-01", "data") == "uns/v1/acme/sz-1/machining/line-1/cnc-01/data"
    assert TOPICS.device("other", "state") == "uns/v1/acme/sz-1/_/_/other/state"
    assert TOPICS.status() == "uns/v1/acme/sz-1/_edge/ipc-01/status"
    assert device_place("uns/v1/acme/sz-1/machining/line-1/cnc-01/data") == ("machining", "line-1", "cnc-01")


def test_telemetry_payload_keeps_per_point_seq() -> None:
    readings = [
        Reading("cnc-01", "speed", 1200.0, 0, 999, 5000, 3, 10, "r/min"),
        Reading("cnc-01", "mode", "AUTO", 0, None, 5000, 3, 11),
    ]
    e = telemetry_entry("cnc-01", readings)
    assert (e.seq_first, e.seq_last, e.count, e.session) == (10, 11, 2, 3)
    rendered = render(TOPICS, record_of(e.kind, e.body), hist=True, confirm=True)
    assert rendered is not None
    topic, payload, retain = rendered
    assert topic.endswith("/cnc-01/data") and retain is False
    obj = decode_telemetry(payload)
    assert obj == {
        "v": 1, "device": "cnc-01", "session": 3, "seq": 10, "ts": 5000, "hist": True, "edge": "ipc-01",
        "points": [
            {"k": "speed", "v": 1200.0, "u": "r/min", "st": 999, "q": 0, "seq": 10},
            {"k": "mode", "v": "AUTO", "u": None, "st": None, "q": 0, "seq": 11},
        ],
    }  # fmt: skip
    unconfirmed = render(TOPICS, record_of(e.kind, e.body), hist=True)  # mqtt.confirm.mode: broker
    assert unconfirmed is not None and "edge" not in decode_telemetry(unconfirmed[1])


def test_other_kinds_are_retained_or_not_and_get_hist() -> None:
    state = render(TOPICS, record_of("state", b'{"v":1,"state":"RUNNING"}'), hist=False)
    assert state is not None and state[0].endswith("/cnc-01/state") and state[2] is True
    assert json.loads(state[1]) == {"v": 1, "state": "RUNNING", "hist": False}
    event = render(TOPICS, record_of("event/alarm", b"{}"), hist=True)
    assert event is not None and event[0].endswith("/cnc-01/event/alarm") and event[2] is False
    assert render(TOPICS, record_of("sparkplug", b"{}"), hist=False) is None


def test_birth_and_will() -> None:
    assert json.loads(birth_payload(4, 77, "0.1.0")) == {
        "online": True,
        "ts": 77,
        "session": 4,
        "sw": "0.1.0",
    }
    assert json.loads(will_payload(4)) == {"online": False, "session": 4}
