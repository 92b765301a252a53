"""A Sparkplug host application for tests: listens to a group, reads every message as a host would
(tests/support/sparkplug_decode.py: names and datatypes of data metrics from the births), and can send
a rebirth request or publish a primary host's STATE. It keeps the raw bytes too, so third-party
decoders (tests/support/interop_hosts.py) can read exactly what it received."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from collector.sinks.mqtt_loop import MqttConnection, MqttOptions
from tests.support.sparkplug_decode import HostView, by_name, encode_ncmd_rebirth


@dataclass(frozen=True)
class Received:
    topic: str
    kind: str  # NBIRTH, DBIRTH, DDATA, DDEATH, NDEATH
    device: str  # "" for node messages
    payload: dict[str, Any]  # decoded by the host's view
    raw: bytes
    qos: int
    retain: bool


class SparkplugHost:
    def __init__(self, port: int, client_id: str, group: str) -> None:
        self.opts = MqttOptions("127.0.0.1", port, client_id)
        self.group = group
        self.got: list[Received] = []
        self.view = HostView()
        self.conn: MqttConnection | None = None

    def on_message(self, msg: Any) -> None:
        parts = msg.topic.split("/")
        if parts[1] == "STATE" or parts[2] in ("NCMD", "DCMD"):
            return  # a host's own traffic, not the edge node's output
        kind, raw = parts[2], bytes(msg.payload)
        payload = self.view.decode(kind, raw)
        device = parts[4] if len(parts) > 4 else ""
        self.got.append(Received(msg.topic, kind, device, payload, raw, msg.qos, bool(msg.retain)))

    async def connect(self) -> None:
        self.conn = MqttConnection(self.opts, self.on_message)
        await self.conn.connect()
        await self.conn.subscribe(f"spBv1.0/{self.group}/#", 1)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.disconnect()

    async def rebirth(self, edge_node: str) -> None:
        assert self.conn is not None
        ncmd = f"spBv1.0/{self.group}/NCMD/{edge_node}"
        await self.conn.publish(ncmd, encode_ncmd_rebirth(int(time.time() * 1000)), qos=0)

    async def state(self, host_id: str, online: bool, timestamp: int) -> None:
        """Publish a primary host's STATE (retained, QoS 1), as that host's birth or death would."""
        assert self.conn is not None
        payload = json.dumps({"online": online, "timestamp": timestamp}).encode()
        await self.conn.publish(f"spBv1.0/STATE/{host_id}", payload, qos=1, retain=True)

    def kinds(self) -> list[str]:
        return [r.kind for r in self.got]

    def of(self, kind: str, device: str | None = None) -> list[Received]:
        return [r for r in self.got if r.kind == kind and (device is None or r.device == device)]

    def metrics(self, kind: str = "DDATA") -> list[dict[str, Any]]:
        """Every metric of every `kind` message, with its name (from the births for data messages)."""
        out = []
        for r in self.of(kind):
            for m in r.payload["metrics"]:
                out.append({"name": m.get("name") or m.get("name_from_birth"), "device": r.device, **m})
        return out


def bd_seq(payload: dict[str, Any]) -> int:
    return int(by_name(payload)["bdSeq"]["value"])


def check_sequences(got: list[Received]) -> None:
    """From each NBIRTH (seq 0) every node message has the previous seq + 1; NDEATH has none; and no
    DBIRTH is empty or comes while its device is still born."""
    expected: int | None = None
    born: set[str] = set()
    for r in got:
        if r.kind == "NDEATH":
            assert "seq" not in r.payload
            expected, born = None, set()
            continue
        seq = r.payload["seq"]
        if r.kind == "NBIRTH":
            assert seq == 0
            born = set()
        else:
            assert expected is not None and seq == expected, (r.kind, seq, expected)
        expected = (seq + 1) % 256
        if r.kind == "DBIRTH":
            assert r.payload["metrics"], f"an empty DBIRTH for {r.device}"
            assert r.device not in born, f"a DBIRTH for {r.device} while it was born: no DDEATH first"
            born.add(r.device)
        elif r.kind == "DDEATH":
            born.discard(r.device)
        elif r.kind == "DDATA":
            assert r.device in born, f"DDATA for {r.device} before its DBIRTH"
