"""Sparkplug session over a real mosquitto: births, data, the Will as NDEATH, NCMD rebirth.

The paho glue here is deliberately thin and test-only; the production MQTT sink owns the real one.
Payloads are read with the independent decoder (tests/support/sparkplug_decode.py).
"""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.model import Reading
from collector.sinks.sparkplug import Message, SparkplugSession
from tests.support.net import wait_for
from tests.support.servers import Server, start_mosquitto
from tests.support.sparkplug_decode import by_name, decode_payload, encode_ncmd_rebirth

pytestmark = pytest.mark.integration

_ids = itertools.count()
DEVICES: dict[str, list[tuple[str, str | int, str | None]]] = {
    "cnc-07": [("spindle_speed", "float64", "r/min"), ("part_count", "uint32", None)],
}

Received = tuple[str, dict[str, Any]]  # (message type, decoded payload)


class Subscriber:
    """A host-side listener on one group's Sparkplug topics."""

    def __init__(self, server: Server, group: str) -> None:
        self.got: list[Received] = []
        self.subscriptions = 0  # SUBACKs: one per (re)connection
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"host-{group}")
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_a: c.subscribe(f"spBv1.0/{group}/#", qos=1)
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(server.host, server.port)
        self.client.loop_start()
        wait_for(lambda: self.subscriptions > 0, timeout=5, what="the host's subscription")

    def _on_subscribe(self, *_a: object) -> None:
        with self._lock:
            self.subscriptions += 1

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        kind = msg.topic.split("/")[2]
        if kind in ("NCMD", "DCMD"):  # commands are the host's own traffic, not the node's output
            return
        with self._lock:
            self.got.append((kind, decode_payload(bytes(msg.payload))))

    def wait(self, kinds: list[str], start: int = 0) -> list[Received]:
        """The messages from index `start` once their types are exactly `kinds`, in order."""

        def arrived() -> bool:
            with self._lock:
                return len(self.got) - start >= len(kinds)

        wait_for(arrived, timeout=10, what=f"{kinds}")
        with self._lock:
            got = self.got[start:]
        assert [k for k, _ in got] == kinds
        return got

    def find(self, kind: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Waits for a message of type `kind` whose payload satisfies `match`."""
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            with self._lock:
                found[:] = [p for k, p in self.got if k == kind and match(p)]
            return bool(found)

        wait_for(arrived, timeout=10, what=f"a matching {kind}")
        return found[0]

    def close(self) -> None:
        self.client.disconnect()  # first: it wakes the network loop, so loop_stop returns at once
        self.client.loop_stop()


class EdgeNode:
    """One MQTT connection of the edge node: the Will is the session's NDEATH."""

    def __init__(self, server: Server, session: SparkplugSession) -> None:
        self.session = session
        self.lock = threading.Lock()  # the session is single-threaded; paho calls back on its own thread
        ready = threading.Event()
        will = session.connect()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{next(_ids)}")
        self.client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.connect(server.host, server.port, keepalive=30)
        self.client.subscribe(session.command_subscriptions())
        self.client.loop_start()
        assert ready.wait(5), "command subscription not acknowledged"

    def publish(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain).wait_for_publish(5)

    def call(self, fn: Callable[[], list[Message]]) -> None:
        with self.lock:
            self.publish(fn())

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            out = self.session.handle_command(msg.topic, msg.payload)
        for m in out:  # publishing from the callback must not wait: the loop thread delivers it
            self.client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)

    def kill_socket(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a crash or a cable pull would."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        self.session.disconnected()

    def close(self) -> None:
        with self.lock:
            death = self.session.death()
        self.publish([death])
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def group() -> str:
    return f"acme-it{next(_ids)}"


@pytest.fixture
def host(mosquitto: Server, group: str) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto, group)
    yield sub
    sub.close()


def reading(tag: str, value: float | int) -> Reading:
    return Reading("cnc-07", tag, value, 0, 1_700_000_000_000, 1_700_000_000_100, 1, 1)


def test_births_data_and_will_on_socket_loss(mosquitto: Server, group: str, host: Subscriber) -> None:
    session = SparkplugSession(group, "edge-1", first_bd_seq=255)
    edge = EdgeNode(mosquitto, session)
    edge.call(lambda: session.birth(DEVICES))
    edge.call(
        lambda: session.data("cnc-07", [reading("spindle_speed", 1200.5), reading("part_count", 48211)])
    )

    # the device's first data births it: the DBIRTH carries the values, no DDATA repeats them
    (_, nbirth), (_, dbirth) = host.wait(["NBIRTH", "DBIRTH"])
    assert [p["seq"] for p in (nbirth, dbirth)] == [0, 1]
    assert by_name(nbirth)["bdSeq"]["value"] == 255
    aliases = {n: m["alias"] for n, m in by_name(dbirth).items()}
    assert {n: m["value"] for n, m in by_name(dbirth).items()} == {
        "Telemetry/spindle_speed": 1200.5,
        "Telemetry/part_count": 48211,
    }

    edge.kill_socket()
    [(_, ndeath)] = host.wait(["NDEATH"], start=2)
    assert "seq" not in ndeath
    assert by_name(ndeath)["bdSeq"]["value"] == 255, "the broker's NDEATH matches the NBIRTH"

    # The next connection takes the next bdSeq (255 wraps to 0) and births again.
    edge = EdgeNode(mosquitto, session)
    edge.call(session.birth)
    (_, nbirth), (_, dbirth) = host.wait(["NBIRTH", "DBIRTH"], start=3)
    assert nbirth["seq"] == 0 and by_name(nbirth)["bdSeq"]["value"] == 0
    assert {n: m["alias"] for n, m in by_name(dbirth).items()} == aliases
    count = by_name(dbirth)["Telemetry/part_count"]
    assert count["value"] == 48211 and count["properties"]["Quality"]["value"] == 500  # not vouched for
    edge.close()
    [(_, ndeath)] = host.wait(["NDEATH"], start=5)
    assert by_name(ndeath)["bdSeq"]["value"] == 0


def test_ncmd_rebirth_gives_new_nbirth_and_dbirth(mosquitto: Server, group: str, host: Subscriber) -> None:
    session = SparkplugSession(group, "edge-1")
    edge = EdgeNode(mosquitto, session)
    edge.call(lambda: session.birth(DEVICES))
    edge.call(lambda: session.data("cnc-07", [reading("part_count", 7)]))
    (_, first), _ = host.wait(["NBIRTH", "DBIRTH"])

    cmd = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cmd-{group}")
    cmd.connect(mosquitto.host, mosquitto.port)
    cmd.loop_start()
    try:
        ncmd = session.topic("NCMD")
        cmd.publish(ncmd, encode_ncmd_rebirth(1_700_000_000_000, True), qos=0).wait_for_publish(5)
        (_, nbirth), (_, dbirth) = host.wait(["NBIRTH", "DBIRTH"], start=2)
    finally:
        cmd.disconnect()
        cmd.loop_stop()
    assert (nbirth["seq"], dbirth["seq"]) == (0, 1)
    assert by_name(nbirth)["bdSeq"]["value"] == by_name(first)["bdSeq"]["value"] == 0
    assert by_name(dbirth)["Telemetry/part_count"]["value"] == 7
    edge.call(lambda: session.data("cnc-07", [reading("part_count", 8)]))
    [(_, ddata)] = host.wait(["DDATA"], start=4)
    assert ddata["seq"] == 2
    edge.close()
    host.wait(["NDEATH"], start=5)


class ReconnectingEdgeNode(EdgeNode):
    """The pattern the MQTT sink needs with paho's automatic reconnect: births in on_connect, and in
    on_disconnect the next bdSeq's NDEATH re-armed as the Will for the reconnect's CONNECT."""

    def __init__(self, server: Server, session: SparkplugSession, devices: dict[str, Any]) -> None:
        self.session, self.devices = session, devices
        self.lock = threading.Lock()
        will = session.connect()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{next(_ids)}")
        self.client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message  # same NCMD handling as EdgeNode
        self.client.connect(server.host, server.port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if rc.is_failure:
            return
        c.subscribe(self.session.command_subscriptions())
        with self.lock:
            msgs = self.session.birth(self.devices)
        for m in msgs:
            c.publish(m.topic, m.payload, qos=m.qos, retain=m.retain)

    def _on_disconnect(self, c: mqtt.Client, *_a: object) -> None:
        with self.lock:
            self.session.disconnected()
            will = self.session.connect()
        c.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)


def test_reconnect_after_broker_restart_rearms_the_will(tmp_path: Path, group: str) -> None:
    broker = start_mosquitto(tmp_path / "first")
    host = Subscriber(broker, group)
    try:
        session = SparkplugSession(group, "edge-1")
        edge = ReconnectingEdgeNode(broker, session, DEVICES)
        host.find("NBIRTH", lambda p: by_name(p)["bdSeq"]["value"] == 0)  # no device known yet: no DBIRTH
        port = broker.port
        broker.stop()
        broker = start_mosquitto(tmp_path / "second", port=port)
        wait_for(lambda: host.subscriptions >= 2, timeout=10, what="the host to resubscribe")
        wait_for(
            lambda: session.node_born and session.bd_seq == 1,
            timeout=10,
            what="the node to reconnect and birth",
        )
        # The host may have resubscribed after the node's NBIRTH: ask for a rebirth, as a host would.
        cmd = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cmd-{group}")
        cmd.connect(broker.host, broker.port)
        cmd.loop_start()
        cmd.publish(session.topic("NCMD"), encode_ncmd_rebirth(1, True)).wait_for_publish(5)
        cmd.disconnect()
        cmd.loop_stop()
        host.find("NBIRTH", lambda p: by_name(p)["bdSeq"]["value"] == 1)
        edge.kill_socket()
        # Waiting for bdSeq 1 in particular: mosquitto also sends the first connection's Will
        # (bdSeq 0) when it shuts down, which is a correct death for that session.
        host.find("NDEATH", lambda p: by_name(p)["bdSeq"]["value"] == 1)
        deaths = [by_name(p)["bdSeq"]["value"] for k, p in host.got if k == "NDEATH"]
        assert set(deaths) <= {0, 1}, "the reconnect's Will carried the new bdSeq, never a stale one"
    finally:
        host.close()
        broker.stop()
