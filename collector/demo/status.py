"""What the terminal view shows, from sources that exist whatever else is running:

- the collector's outboxes (read-only SQLite): points accepted per device, depth and drops per sink;
- its ledger (JSON lines, read as they grow): device connects and disconnects, outages, replays;
- an MQTT subscriber on the demo's broker: the latest state and a key value per device, as any
  consumer of the unified namespace would see them (nothing arrives while the broker is down);
- the collector's status API when it serves one: per-device state, connection, values, read counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)

KEY_TAGS = (
    "spindle_actual_speed",
    "spindle_speed",
    "power",
    "last_cycle_time",
    "parts_total",
    "shot_counter",
)


@dataclass
class DeviceView:
    id: str
    online: bool | None = None
    state: str | None = None
    value: str | None = None
    rate: float | None = None  # points per second, accepted by the outbox
    reads_rate: float | None = None  # device reads per second (status API)
    accepted: int = 0


@dataclass
class Snapshot:
    devices: dict[str, DeviceView] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)  # sink -> records waiting
    dropped: dict[str, int] = field(default_factory=dict)  # sink -> points dropped
    sources: list[str] = field(default_factory=list)


class OutboxProbe:
    """Reads every outbox under data/outbox read-only; rates from the accepted counters' growth."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "outbox"
        self._last: tuple[float, dict[str, int]] | None = None

    def read(self, snap: Snapshot) -> None:
        accepted: dict[str, int] = {}
        for path in sorted(self.dir.glob("*.sqlite")):
            try:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
            except sqlite3.Error:
                continue
            try:
                sink = path.stem
                snap.depth[sink] = int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
                dropped = 0
                for device, name, value in db.execute("SELECT device, name, value FROM counters"):
                    if name == "accepted":
                        accepted[device] = max(accepted.get(device, 0), int(value))
                    elif name == "dropped":
                        dropped += int(value)
                snap.dropped[sink] = dropped
            except sqlite3.Error:
                continue
            finally:
                db.close()
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            span, before = now - self._last[0], self._last[1]
            for device, n in accepted.items():
                snap.devices.setdefault(device, DeviceView(device)).rate = (n - before.get(device, n)) / span
        for device, n in accepted.items():
            snap.devices.setdefault(device, DeviceView(device)).accepted = n
        self._last = (now, accepted)
        if accepted:
            snap.sources.append("outbox")


class LedgerTail:
    """Follows the ledger's JSON lines; keeps per-device connectivity and hands out new entries."""

    def __init__(self, ledger_dir: Path) -> None:
        self.dir = ledger_dir
        self._offsets: dict[Path, int] = {}
        self.online: dict[str, bool] = {}
        self.state: dict[str, str] = {}

    def new_entries(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.dir.glob("audit-*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1  # a line still being written waits for the next read
            self._offsets[path] = offset + complete
            for raw in data[:complete].splitlines():
                with contextlib.suppress(ValueError):
                    entry = json.loads(raw)
                    if isinstance(entry, dict):
                        out.append(entry)
        for entry in out:
            payload = entry.get("payload") or {}
            kind, device = entry.get("type"), payload.get("device")
            if kind == "DEVICE_CONNECT" and device:
                self.online[device] = True
            elif kind == "DEVICE_DISCONNECT" and device:
                self.online[device] = False
        return out

    def read(self, snap: Snapshot) -> None:
        for device, online in self.online.items():
            snap.devices.setdefault(device, DeviceView(device)).online = online
        if self.online:
            snap.sources.append("ledger")


class MqttWatch:
    """A plain subscriber to the plant's data and state topics; reconnects by itself."""

    def __init__(self, port: int, base: str) -> None:
        self.base = base
        self.values: dict[str, dict[str, Any]] = {}
        self.state: dict[str, str] = {}
        self.connected = False
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"shopfloor-demo-view-{port}")
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect_async("127.0.0.1", port, keepalive=10)
        self._client.loop_start()

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: Any, _p: object = None) -> None:
        if not rc.is_failure:
            self.connected = True
            client.subscribe([(f"{self.base}/+/+/+/data", 0), (f"{self.base}/+/+/+/state", 0)])

    def _on_disconnect(self, *_args: object) -> None:
        self.connected = False

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        device, suffix = parts[-2], parts[-1]
        try:
            obj = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            if suffix == "state" and isinstance(obj, dict):
                self.state[device] = str(obj.get("state"))
            elif suffix == "data" and isinstance(obj, dict):
                latest = self.values.setdefault(device, {})
                for point in obj.get("points", []):
                    if isinstance(point, dict) and "k" in point:
                        latest[str(point["k"])] = point.get("v")

    def read(self, snap: Snapshot) -> None:
        with self._lock:
            for device, state in self.state.items():
                snap.devices.setdefault(device, DeviceView(device)).state = state
            for device, values in self.values.items():
                key = next((k for k in KEY_TAGS if k in values), None)
                if key is not None:
                    snap.devices.setdefault(device, DeviceView(device)).value = f"{key}={_fmt(values[key])}"
        if self.connected:
            snap.sources.append("mqtt")

    def close(self) -> None:
        self._client.loop_stop()
        with contextlib.suppress(Exception):
            self._client.disconnect()


class LiveApi:
    """The collector's status API (/api/v1/status with the web token; /live.json without one):
    state, connection, latest values and read counts per device, when the status page is up."""

    def __init__(self, port: int, token_file: Path | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token_file = token_file
        self._reads: tuple[float, dict[str, int]] | None = None

    def _get(self) -> Any:
        token = None
        if self.token_file is not None:
            with contextlib.suppress(OSError):
                token = self.token_file.read_text(encoding="utf-8").strip()
        url = f"{self.base}/api/v1/status" if token else f"{self.base}/live.json"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        with urllib.request.urlopen(req, timeout=0.5) as resp:
            return json.loads(resp.read())

    def read(self, snap: Snapshot) -> None:
        try:
            doc = self._get()
        except (OSError, ValueError):
            return
        devices = doc.get("devices") if isinstance(doc, dict) else None
        if not isinstance(devices, list):
            return
        reads: dict[str, int] = {}
        for item in devices:
            if isinstance(item, dict) and "id" in item:
                self._device(snap, item, reads)
        now = time.monotonic()
        if self._reads is not None and now > self._reads[0]:
            span, before = now - self._reads[0], self._reads[1]
            for device, n in reads.items():
                if device in before:
                    snap.devices[device].reads_rate = (n - before[device]) / span
        self._reads = (now, reads)
        snap.sources.append("status API")

    @staticmethod
    def _device(snap: Snapshot, item: dict[str, Any], reads: dict[str, int]) -> None:
        row = snap.devices.setdefault(str(item["id"]), DeviceView(str(item["id"])))
        if item.get("state"):
            row.state = str(item["state"])
        if isinstance(item.get("connected"), bool):
            row.online = bool(item["connected"])
        values = {v.get("tag"): v.get("value") for v in item.get("values") or [] if isinstance(v, dict)}
        key = next((k for k in KEY_TAGS if k in values), None)
        if key is not None:
            row.value = f"{key}={_fmt(values[key])}"
        health = item.get("health")
        if isinstance(health, dict) and isinstance(health.get("reads"), int):
            reads[row.id] = int(health["reads"])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)
