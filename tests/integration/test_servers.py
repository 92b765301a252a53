"""The real servers the suite relies on start, answer, and round-trip data."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.support.net import wait_for
from tests.support.servers import Server

pytestmark = pytest.mark.integration


def test_mosquitto_round_trips_a_qos1_message(mosquitto: Server) -> None:
    got: list[bytes] = []
    arrived = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        arrived.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("t/#", qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-pub")
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        info = pub.publish("t/x", b"hello", qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
        assert arrived.wait(5)
        assert got == [b"hello"]
        pub.loop_stop()
        pub.disconnect()
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_victoria_metrics_stores_line_protocol(victoria_metrics: Server) -> None:
    ts_ms = int(time.time() * 1000)
    body = f"telemetry,device=t1 spindle_speed=1200.5 {ts_ms}".encode()
    req = urllib.request.Request(
        f"{victoria_metrics.url}/api/v2/write?precision=ms", data=body, method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 204
    query = f"{victoria_metrics.url}/api/v1/export?match[]=telemetry_spindle_speed"
    rows: list[dict[str, Any]] = []

    def landed() -> bool:
        # The store acknowledges before the point is searchable: flush and look again until it is.
        urllib.request.urlopen(f"{victoria_metrics.url}/internal/force_flush", timeout=5).close()
        with urllib.request.urlopen(query, timeout=5) as resp:
            rows[:] = [json.loads(line) for line in resp.read().decode().splitlines() if line]
        return bool(rows)

    wait_for(landed, timeout=10, what="the point to be searchable")
    assert len(rows) == 1
    assert rows[0]["metric"]["device"] == "t1"
    assert rows[0]["values"] == [1200.5]
    assert rows[0]["timestamps"] == [ts_ms]
