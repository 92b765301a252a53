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


@dataclass(frozen=True)
class ShiftWindow:
    """One shift of the demo calendar, in UTC ms; written as local times of day."""

    start_ms: int
    end_ms: int
    name: str = "D"


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
    plant["data_dir"] = "data"
    plant["calendar"] = {
        "shifts": [
            {"name": s.name, "start": _local(s.start_ms, tz), "end": _local(s.end_ms, tz)} for s in shifts
        ]
    }
    if sinks.broker_port is not None:
        plant["mqtt"] = {"mode": "uns", "host": "127.0.0.1", "port": sinks.broker_port, "version": "5"}
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
