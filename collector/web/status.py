"""What the page and the API say about the plant: device views and plant indicators as JSON objects.

One builder serves both: the page document (`/live.json`, no token) carries the first few key values
and no error details; the API (`/api/v1/status`, token) carries every value and the device health.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from collector.config.equipment import rows as register_rows
from collector.config.plant import Device, PlantConfig
from collector.model import DeviceHealthSnapshot, Reading, Value
from collector.normalise.records import State
from collector.web.live import DeviceLive, LiveView
from drivers.status import severity

QUALITY_RANK = {"good": 0, "uncertain": 1, "bad": 2}
PAGE_VALUES = 8  # key values per device on the page; the API has them all


def quality(status: int) -> str:
    """'good' | 'uncertain' | 'bad' from the StatusCode severity bits (docs/STANDARDS.md §1.1)."""
    return severity(status)


def json_value(value: Value) -> Value:
    """JSON has no NaN or infinity (a browser's JSON.parse rejects them): such floats become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [str(v) if isinstance(v, float) and not math.isfinite(v) else v for v in value]
    return value


def _value(reading: Reading, names_zh: Mapping[str, str | None], now: int) -> dict[str, Any]:
    return {
        "tag": reading.tag,
        "name_zh": names_zh.get(reading.tag),
        "value": json_value(reading.value),
        "unit": reading.unit,
        "quality": quality(reading.status),
        "status": f"0x{reading.status:08X}",
        "ts": reading.collected_ts,
        "source_ts": reading.source_ts,
        "age_ms": max(0, now - reading.collected_ts),
    }


def device_state(
    device: Device, live: DeviceLive | None, health: DeviceHealthSnapshot | None
) -> dict[str, Any]:
    """The state from the device's rule; without a rule (or before its first decision) a device
    that cannot be read is OFFLINE by its connection, and otherwise has no state to show."""
    change = live.state if live is not None else None
    if change is not None:
        return {
            "state": change.state.name, "state_zh": change.state_zh, "sub": change.sub,
            "since": change.since, "state_source": "rule",
        }  # fmt: skip
    if health is not None and not health.connected and health.consecutive_errors > 0:
        return {
            "state": State.OFFLINE.name, "state_zh": State.OFFLINE.zh, "sub": "COMM_LOSS",
            "since": None, "state_source": "connection",
        }  # fmt: skip
    return {"state": None, "state_zh": None, "sub": None, "since": None,
            "state_source": "rule" if device.state is not None else "none"}  # fmt: skip


def device_view(
    device: Device,
    live: DeviceLive | None,
    health: DeviceHealthSnapshot | None,
    now: int,
    *,
    detail: bool,
) -> dict[str, Any]:
    names_zh = {t.name: t.name_zh for t in device.tags}
    readings = list(live.latest.values()) if live is not None else []
    worst = max((quality(r.status) for r in readings), key=QUALITY_RANK.__getitem__, default=None)
    last_good = live.last_good_ts if live is not None else None
    shown = readings if detail else readings[:PAGE_VALUES]
    view: dict[str, Any] = {
        "id": device.id,
        "name": device.name,
        "name_zh": device.name_zh,
        "protocol": device.protocol,
        "area": device.area,
        "line": device.line,
        **device_state(device, live, health),
        "connected": bool(health is not None and health.connected),
        "quality": worst,
        "age_ms": None if last_good is None else max(0, now - last_good),
        "last_good_ts": last_good,
        "values": [_value(r, names_zh, now) for r in shown],
        "more_values": len(readings) - len(shown),
    }
    if detail:
        view["asset"] = {
            "is_networked": device.asset.is_networked, "is_digital": device.asset.is_digital,
            "is_key_process": device.asset.is_key_process, "type": device.asset.type,
        }  # fmt: skip
        view["health"] = health_view(health, live)
    return view


def health_view(health: DeviceHealthSnapshot | None, live: DeviceLive | None) -> dict[str, Any] | None:
    if health is None:
        return None
    hist = live.latency if live is not None else None
    return {
        "connected": health.connected,
        "reads": health.reads,
        "overruns": health.overruns,
        "consecutive_errors": health.consecutive_errors,
        "errors": dict(health.errors),
        "last_error": health.last_error,
        "last_good_ts": health.last_good_ts,
        "latency_ms": {
            "last": health.last_latency_ms,
            "mean": (hist.total / hist.count * 1000) if hist is not None and hist.count else None,
            "samples": hist.count if hist is not None else 0,
        },
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def indicators(plant: PlantConfig, health: Mapping[str, DeviceHealthSnapshot]) -> dict[str, Any]:
    """Plant indicators from the equipment register (docs/STANDARDS.md §7.2): the official 设备联网率 has
    all production equipment of the register as denominator, connected or not; the share of digital
    equipment is a secondary figure. "online now" counts production rows whose connection is up."""
    rows = [r for r in register_rows(plant) if r.production]
    total = len(rows)
    networked = sum(r.declared_networked for r in rows)
    digital = sum(r.is_digital is True for r in rows)
    up = {d.id for d in plant.devices if (h := health.get(d.id)) is not None and h.connected}
    online = sum(1 for r in rows if r.networked_via in up)
    return {
        "devices_total": total,
        "declared_networked": networked,
        "digital": digital,
        "online_now": online,
        "networked_rate_declared": _rate(networked, total),
        "networked_rate_of_digital": _rate(networked, digital),
        "digital_rate": _rate(digital, total),
        "online_rate_now": _rate(online, total),
    }


def site_view(plant: PlantConfig, session: int) -> dict[str, Any]:
    site = plant.site
    return {
        "enterprise": site.enterprise, "enterprise_name_zh": site.enterprise_name_zh,
        "site": site.site, "name": site.name, "name_zh": site.name_zh, "edge_id": site.edge_id,
        "timezone": site.timezone, "session": session,
    }  # fmt: skip


def plant_document(
    plant: PlantConfig,
    live: LiveView,
    health: list[DeviceHealthSnapshot],
    session: int,
    now: int,
    *,
    detail: bool,
) -> dict[str, Any]:
    """The page document (detail=False) or the API status (detail=True)."""
    by_id = {h.device: h for h in health}
    return {
        "generated_ms": now,
        "site": site_view(plant, session),
        "indicators": indicators(plant, by_id),
        "devices": [
            device_view(d, live.devices.get(d.id), by_id.get(d.id), now, detail=detail) for d in plant.devices
        ],
    }
