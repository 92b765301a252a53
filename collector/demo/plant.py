"""The demo's collector plant file: what the simulators emitted (devices, endpoints, tags), plus state
rules, part counters, OEE inputs and register rows per kind of machine, a short shift calendar, and
the broker, store and status page of this run."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ruamel.yaml import YAML

from simulators.overlay import device_overlay, profile_kind


@dataclass(frozen=True)
class Sinks:
    broker_port: int | None  # None: no broker, store-only delivery
    store_url: str | None  # VictoriaMetrics; None: the embedded SQLite historian
    web_port: int
    failover_ports: tuple[int, ...] = ()  # mqtt.failover: standby brokers on this host
    mqtt_version: str = "5"


@dataclass(frozen=True)
class ShiftWindow:
    """One shift of the demo calendar, in UTC ms; written as local times of day."""

    start_ms: int
    end_ms: int
    name: str = "D"


# Equipment of the demo works that no simulator stands for: machines not connected yet (one with its
# flags undeclared) and a facility outside the production equipment, so the pack's 设备台账 and the
# indicators on it show a denominator larger than the connections.
UNCONNECTED: tuple[dict[str, Any], ...] = (
    {"id": "CK-11", "name_zh": "普通车床", "category": "production", "process": "车削", "is_digital": False,
     "is_nc": False, "is_key_process": False},
    {"id": "ZC-12", "name_zh": "摇臂钻床", "category": "production", "process": "钻孔", "is_digital": False,
     "is_key_process": False},
    {"id": "MZ-13", "name_zh": "平面磨床", "category": "production", "process": "磨削"},
    {"id": "KY-01", "name_zh": "螺杆空压机", "category": "facility", "is_digital": True},
)  # fmt: skip


def register_rows(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo's 设备台账: one row per connected device (its overlay's asset fields move here, since a
    plant with an equipment: section keeps no asset: on devices), then the unconnected equipment."""
    rows = []
    for device in devices:
        asset = device.pop("asset", {})
        code = str(device["id"]).upper()
        category = asset.pop("category", "production")
        row = {"id": code, "name_zh": device.get("name_zh"), "category": category, **asset}
        rows.append({**row, "networked_via": device["id"]})
    return rows + [dict(r) for r in UNCONNECTED]


def split_shifts(span: ShiftWindow, count: int) -> list[ShiftWindow]:
    """`count` back-to-back shifts S1..Sn in whole seconds over `span` (one keeps the span's name)."""
    if count <= 1:
        return [span]
    step = (span.end_ms - span.start_ms) // count // 1000 * 1000
    return [
        ShiftWindow(span.start_ms + i * step, span.start_ms + (i + 1) * step, f"S{i + 1}")
        for i in range(count)
    ]


def _local(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M:%S")


def demo_plant(
    emitted: dict[str, Any], run_dir: Path, sinks: Sinks, shifts: list[ShiftWindow], ideal_cycle_s: float
) -> dict[str, Any]:
    """The plant document (a dict ready for YAML); writes the status page's token file on the way."""
    plant = dict(emitted)
    tz = ZoneInfo(plant["site"].get("timezone") or "Asia/Shanghai")
    devices = []
    for device in plant["devices"]:
        merged = {**device, **device_overlay(profile_kind(device), ideal_cycle_s)}
        merged.setdefault("timeout", "500ms")
        devices.append(merged)
    plant["devices"] = devices
    plant["equipment"] = {"rows": register_rows(devices)}
    plant["data_dir"] = "data"
    plant["calendar"] = {
        "shifts": [
            {"name": s.name, "start": _local(s.start_ms, tz), "end": _local(s.end_ms, tz)} for s in shifts
        ]
    }
    if sinks.broker_port is not None:
        plant["mqtt"] = {
            "mode": "uns",
            "host": "127.0.0.1",
            "port": sinks.broker_port,
            "version": sinks.mqtt_version,
        }
        if sinks.failover_ports:  # a standby broker that takes over when the first one dies
            plant["mqtt"]["failover"] = [f"127.0.0.1:{port}" for port in sinks.failover_ports]
    else:
        plant["mqtt"] = {"mode": "off"}
    if sinks.store_url is not None:
        plant["storage"] = {"backend": "victoriametrics", "url": sinks.store_url}
    else:
        plant["storage"] = {"backend": "sqlite", "sqlite_path": "data/historian.sqlite"}
    plant["evidence"] = {"dir": "evidence"}
    token = run_dir / "web.token"
    if not token.exists():
        token.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        token.chmod(0o600)
    plant["web"] = {"host": "127.0.0.1", "port": sinks.web_port, "token_file": "web.token"}
    return plant


def load_yaml(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    return data


def write_yaml(doc: dict[str, Any], path: Path, header: str) -> None:
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 200
    buf = io.StringIO()
    buf.write(header)
    yaml.dump(doc, buf)
    path.write_text(buf.getvalue(), encoding="utf-8")
