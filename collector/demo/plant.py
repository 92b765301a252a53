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

_DEBOUNCE = {"default": "1s", "ALARM": "0s", "OFFLINE": "0s"}
CNC_CYCLE_S = 60.0  # simulated seconds per part of the scenario's CNCs (demo.yaml): the ideal is set from it


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


def _kind(device: dict[str, Any]) -> str:
    """Which simulator profile emitted the device, told by its tags (the emitted file does not say)."""
    names = {t["name"] for t in device.get("tags", [])}
    if "channel1_channel_state" in names:
        return "machinetool"
    if "channel_state" in names:
        return "legacy-cnc"
    if "shot_counter" in names:
        return "injection-molding"
    if "lamp_red" in names:
        return "stacklight-plc"
    if "voltage" in names:
        return "energy-meter"
    return "other"


def _oee(ideal_s: float, coarse_state: bool = False) -> dict[str, Any]:
    """PRI = the simulators' cycle. Where the state inputs flip faster than the collector samples them
    while the counter keeps counting (stack-light lamps at 60x simulated time), part of the running
    time is seen as idle, so the ideal is set to 75 % of the cycle to keep E below 1."""
    return {"ideal_cycle_time": f"{round(ideal_s * (750 if coarse_state else 1000))}ms"}


def _own_cycle(ideal_s: float, profile: str) -> float:
    """The ideal scaled from the CNCs' cycle to the profile's own (the moulding machine shoots every
    32 simulated seconds): judged against another machine's cycle, E would exceed 1."""
    from simulators.modbus.profiles import load_profile

    cycle = float(load_profile(profile).machine.get("cycle_time_s", CNC_CYCLE_S))
    return ideal_s * cycle / CNC_CYCLE_S


def _overlay(kind: str, ideal_s: float) -> dict[str, Any]:
    """State, counters, OEE and 设备台账 fields per profile: what an integrator adds to a plant file."""
    oee = _oee(ideal_s)
    if kind == "machinetool":
        return {
            "name_zh": "立式加工中心",
            "asset": {
                "type": "立式加工中心",
                "vendor": "示范机床",
                "model": "VMC-850",
                "controller": "OPC 40501",
                "process": "精铣",
                "is_key_process": True,
            },
            "state": {
                "template": "machinetool",
                "inputs": {"channel_state": "channel1_channel_state"},
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "statistics_parts_produced_in_lifetime", "max_rate": 5},
                {
                    "name": "scrap",
                    "tag": "statistics_parts_scrap_in_lifetime",
                    "role": "scrap",
                    "max_rate": 5,
                },
            ],
            "oee": oee,
        }
    if kind == "legacy-cnc":
        return {
            "name_zh": "数控车床",
            "asset": {
                "type": "数控车床",
                "vendor": "示范机床",
                "model": "CK6150",
                "process": "车削",
                "is_key_process": True,
                "access": "gateway",
            },
            "state": {
                "template": "machinetool",
                "inputs": {"channel_state": "channel_state"},
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "counter_total", "max_rate": 5},
                {"name": "scrap", "tag": "counter_scrap", "role": "scrap", "max_rate": 5},
            ],
            "oee": oee,
        }
    if kind == "stacklight-plc":
        return {
            "name_zh": "加工单元三色灯PLC",
            "asset": {"type": "加工单元", "vendor": "示范自动化", "model": "S7-1200", "process": "装配"},
            "state": {
                "template": "stacklight",
                "inputs": {
                    "red": "lamp_red",
                    "yellow": "lamp_yellow",
                    "green": "lamp_green",
                    "power": "powered",
                },
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
            },
            "counters": [
                {"name": "parts", "tag": "parts_total", "max_rate": 5},
                {"name": "scrap", "tag": "parts_scrap", "role": "scrap", "width": 16, "max_rate": 5},
            ],
            "oee": _oee(ideal_s, coarse_state=True),
        }
    if kind == "injection-molding":
        return {
            "name_zh": "注塑机",
            "asset": {
                "type": "注塑机",
                "vendor": "示范注塑",
                "model": "HX-160",
                "process": "注塑",
                "is_key_process": True,
            },
            "state": {
                "template": "conditions",
                "debounce": _DEBOUNCE,
                "micro_stop": "2s",
                "conditions": [
                    {"state": "STOPPED", "when": "not powered"},
                    {"state": "ALARM", "sub": "FAULT", "when": "alarm_bit"},
                    {"state": "RUNNING", "when": "run_bit"},
                ],
            },
            "counters": [
                {"name": "parts", "tag": "shot_counter", "max_rate": 5},
                {"name": "scrap", "tag": "scrap_counter", "role": "scrap", "width": 16, "max_rate": 5},
            ],
            "oee": _oee(_own_cycle(ideal_s, "injection-molding")),
        }
    if kind == "energy-meter":
        return {
            "name_zh": "电能表",
            "asset": {"type": "电能表", "vendor": "示范电气", "model": "DTSU666"},
            # a meter has no machine state; drawing power or not still gives it an online timeline
            "state": {
                "template": "conditions",
                "debounce": _DEBOUNCE,
                "conditions": [{"state": "RUNNING", "when": "power > 0.5"}],
            },
        }
    return {}


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
        merged = {**device, **_overlay(_kind(device), ideal_cycle_s)}
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
