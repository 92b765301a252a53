"""The host side of the Sparkplug soak: a listener that records every spBv1.0 message as it arrives
(through broker restarts), and a primary host application that goes online, dies and comes back.

Both use the collector's paho-on-asyncio connection (collector/sinks/mqtt_loop.py), nothing else of
the collector: what they record is exactly what the broker delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

from collector.aio import first_of
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions, MqttUnavailable, Will

RETRY = 0.5  # seconds between connection attempts while the broker restarts


def now_ms() -> int:
    return int(time.time() * 1000)


class Listener:
    """Subscribes to spBv1.0/# and keeps (arrival ms, topic, payload) for every message."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[tuple[int, str, bytes]] = []
        self.conn: MqttConnection | None = None

    def _on_message(self, msg: object) -> None:
        self.got.append((now_ms(), msg.topic, bytes(msg.payload)))  # type: ignore[attr-defined]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            conn = MqttConnection(MqttOptions("127.0.0.1", self.port, "soak-listener"), self._on_message)
            try:
                await conn.connect()
                await conn.subscribe("spBv1.0/#", 1)
            except (MqttUnavailable, TimeoutError):
                await asyncio.sleep(RETRY)
                continue
            self.conn = conn
            await first_of(conn.lost, stop)
            self.conn = None
        with contextlib.suppress(MqttUnavailable):
            if self.conn is not None:
                await self.conn.disconnect()

    async def rebirth(self, group: str, node: str) -> bool:
        """An NCMD `Node Control/Rebirth`, as a host sends when it needs the births again."""
        from collector.sinks.sparkplug import sparkplug_b_pb2 as pb

        if self.conn is None:
            return False
        payload = pb.Payload(timestamp=now_ms())
        payload.metrics.add(name="Node Control/Rebirth", timestamp=now_ms(), datatype=11, boolean_value=True)
        await self.conn.publish(f"spBv1.0/{group}/NCMD/{node}", payload.SerializeToString(), qos=0)
        return True


class PrimaryHost:
    """STATE sessions of a primary host: each registers its Will (offline, the session's timestamp),
    then says online. While it should be online it comes back by itself after a broker restart."""

    def __init__(self, port: int, host_id: str) -> None:
        self.port = port
        self.topic = f"spBv1.0/STATE/{host_id}"
        self.want_online = False
        self.conn: MqttConnection | None = None
        self.ts = 0
        self.sessions = 0
        self._changed = asyncio.Event()

    def _state(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": self.ts}).encode()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._changed.clear()
            conn = self.conn
            needed = self.want_online and (conn is None or conn.lost.is_set())
            if needed and not await self._session():
                await asyncio.sleep(RETRY)
                continue
            waits = [self._changed, stop] + ([self.conn.lost] if self.conn is not None else [])
            await first_of(*waits)

    async def _session(self) -> bool:
        self.sessions += 1
        self.ts = max(now_ms(), self.ts + 1)
        will = Will(self.topic, self._state(False), retain=True)
        conn = MqttConnection(MqttOptions("127.0.0.1", self.port, f"soak-scada-{self.sessions}", will=will))
        try:
            await conn.connect()
            await conn.publish(self.topic, self._state(True), qos=1, retain=True)
        except (MqttUnavailable, TimeoutError):
            return False
        self.conn = conn
        return True

    def online(self) -> None:
        self.want_online = True
        self._changed.set()

    def die(self) -> None:
        """The host process is gone: its socket closes without DISCONNECT, the broker sends the Will."""
        self.want_online = False
        conn, self.conn = self.conn, None
        if conn is not None and not conn.lost.is_set():
            sock = conn.client.socket()
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        self._changed.set()

    async def stop(self) -> None:
        """A clean stop: the host says offline itself, then disconnects."""
        self.want_online = False
        conn, self.conn = self.conn, None
        if conn is not None and not conn.lost.is_set():
            with contextlib.suppress(MqttUnavailable, TimeoutError):
                await conn.publish(self.topic, self._state(False), qos=1, retain=True)
                await conn.disconnect()
        self._changed.set()
