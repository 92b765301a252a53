"""The MQTT side of the peers bench: a private mosquitto, an outage switch in front of it, and a counter.

The tool under test talks to the broker through `OutageProxy`; cutting the proxy resets the tool's
connection and refuses new ones (what a broker restart or a dead uplink looks like to the tool) while
the counting subscriber stays connected to the broker itself, so nothing is lost on the counting side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TAG = re.compile(r"^r\d+$")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nlog_type error\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError as exc:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"mosquitto exited: {err!r}") from exc
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start listening")


class OutageProxy:
    """TCP relay tool -> broker. `cut()` drops every connection and stops listening; `restore()` reopens."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        with contextlib.suppress(asyncio.CancelledError):  # the bench is ending
            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._writers.discard(writer)
        self._writers.discard(up_w)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            transport = w.transport
            if transport is not None:
                transport.abort()  # RST-like: nothing more gets through
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()


# (device, value timestamp ms, number of tag values) found in one message
Parsed = list[tuple[str, int, int]]


def parse_ours(topic: str, obj: Any) -> Parsed:
    if not topic.endswith("/data") or not isinstance(obj, dict):
        return []
    return [(str(obj.get("device")), int(obj.get("ts", 0)), len(obj.get("points", [])))]


def parse_tbg(topic: str, obj: Any) -> Parsed:
    if topic != "v1/gateway/telemetry" or not isinstance(obj, dict):
        return []
    out: Parsed = []
    for device, entries in obj.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            values = entry.get("values", {}) if isinstance(entry, dict) else {}
            n = sum(1 for k in values if TAG.match(k))
            if n:
                out.append((device, int(entry.get("ts", 0)), n))
    return out


def parse_nodered(topic: str, obj: Any) -> Parsed:
    if not topic.startswith("nr/") or not isinstance(obj, dict):
        return []
    return [(str(obj.get("device")), int(obj.get("ts", 0)), len(obj.get("values", {})))]


@dataclass
class Counter:
    """Subscribes to '#' at QoS 1 on the broker itself; records (arrival s, device, value ts ms, n)."""

    port: int
    parse: Callable[[str, Any], Parsed]
    rows: list[tuple[float, str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-counter-{self.port}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("counter could not subscribe")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe("#", qos=1)
        self._ready.set()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            obj = json.loads(msg.payload)
        except ValueError:
            return
        found = self.parse(msg.topic, obj)
        if found:
            with self.lock:
                self.rows.extend((now, dev, ts, n) for dev, ts, n in found)

    def snapshot(self) -> list[tuple[float, str, int, int]]:
        with self.lock:
            return list(self.rows)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class TbPlatformStub:
    """Answers the one RPC a ThingsBoard gateway waits for before it sends data ('getSessionLimits').

    ThingsBoard itself is not in this bench; the stub plays its part of the MQTT API: no rate limits,
    1,000 messages in flight (the same window as ours), 64 KiB payloads.
    """

    REQ = "v1/devices/me/rpc/request/+"
    LIMITS: ClassVar[dict[str, Any]] = {
        "rateLimits": {"messages": "0:0,", "telemetryMessages": "0:0,", "telemetryDataPoints": "0:0,"},
        "maxInflightMessages": 1000,
        "maxPayloadSize": 65536,
    }

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-tb-stub-{port}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self.REQ, qos=1)

    def _on_message(self, client: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(body, dict) and body.get("method") == "getSessionLimits":
            req_id = msg.topic.rsplit("/", 1)[1]
            client.publish(f"v1/devices/me/rpc/response/{req_id}", json.dumps(self.LIMITS), qos=1)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
