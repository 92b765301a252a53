"""The inputs of the pack's recomputation, read once: window, summary.json, registers, raw samples,
state timeline, calendar, and what each device's online time is judged on.

STDLIB ONLY; part of the in-pack verifier (``verify/packinputs.py``); recompute.py re-exports it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import connectivity, csvio, indicators
from . import formulas as f

SUMMARY = "summary.json"
RAW_DIR = "05_raw_samples"
DATAPOINTS = "03_datapoints/数据采集点清单.csv"
TIMELINE = "06_state/状态时间线.csv"
CALENDAR = "07_kpi/计划日历.csv"
REGISTER = "01_device_register/设备台账.csv"
CONNECTIONS = "01_device_register/接入设备清单.csv"


@dataclass
class Inputs:
    start: int
    end: int
    tz: Any
    summary: dict[str, Any]
    register: list[indicators.RegisterEntry]
    devices: list[str]  # the connections (接入设备清单), in the pack's order
    specs: dict[str, list[f.TagSpec]]
    samples: list[f.Sample]  # every raw row, in the window or not (delivery uses them all)
    states: dict[str, list[f.StateSpan]]  # 状态时间线 rows
    segments: list[f.PlanSegment]
    entries: list[dict[str, Any]]
    online: dict[str, list[f.StateSpan]] = field(default_factory=dict)  # what online time is judged on
    basis: dict[str, str] = field(default_factory=dict)  # online_basis of each device (接入设备清单)


def rows(root: Path, rel: str) -> list[csvio.Row]:
    return csvio.read_csv(root / rel, rel)


def load_inputs(root: Path, manifest: Mapping[str, Any], entries: list[dict[str, Any]]) -> Inputs:
    window = manifest.get("window") or {}
    summary = json.loads((root / SUMMARY).read_bytes().decode("utf-8"))
    tz_text = str(window.get("tz") or summary.get("tz") or "UTC")
    specs: dict[str, list[f.TagSpec]] = defaultdict(list)
    for r in rows(root, DATAPOINTS):
        spec = f.TagSpec(
            r.text("device_id"),
            r.text("tag_id"),
            r.text("method"),
            r.opt_integer("period_ms"),
            r.opt_integer("heartbeat_ms"),
            r.flag("required"),
        )
        specs[spec.device].append(spec)
    states: dict[str, list[f.StateSpan]] = defaultdict(list)
    for r in rows(root, TIMELINE):
        span = f.StateSpan(
            r.text("device_id"),
            r.integer("start_ms"),
            r.integer("end_ms"),
            r.text("state"),
            r.text("iso22400_bucket"),
            r.text("sub_state") if r.has("sub_state") else "",
        )
        states[span.device].append(span)
    segments = [
        f.PlanSegment(r.text("device_id"), r.integer("start_ms"), r.integer("end_ms"), r.text("kind"))
        for r in rows(root, CALENDAR)
    ]
    register = [register_entry(r) for r in rows(root, REGISTER)]
    basis = {r.text("device_id"): r.text("online_basis") for r in rows(root, CONNECTIONS)}
    start, end = int(window["from_ms"]), int(window["to_ms"])
    online = {
        dev: connectivity.connection_states(entries, dev, start, end)
        if b == connectivity.CONNECTION_BASIS
        else states.get(dev, [])
        for dev, b in basis.items()
    }
    return Inputs(
        start=int(window["from_ms"]),
        end=int(window["to_ms"]),
        tz=f.parse_tz(tz_text),
        summary=summary,
        register=register,
        devices=list(basis),
        specs=dict(specs),
        samples=_raw_samples(root),
        states=dict(states),
        segments=segments,
        entries=entries,
        online=online,
        basis=basis,
    )


def register_entry(r: csvio.Row) -> indicators.RegisterEntry:
    """One row of 设备台账.csv; an empty or 未申报 flag is undeclared (None)."""
    category = r.text("category").strip()
    return indicators.RegisterEntry(
        r.text("equipment_id"), "" if category in csvio.UNDECLARED else category,
        r.opt_flag("counts_as_production"), r.opt_flag("is_digital"), r.opt_flag("is_networked"),
        r.opt_flag("is_key_process"), r.opt_flag("is_nc"), r.text("process"), r.text("networked_via"),
    )  # fmt: skip


def _raw_samples(root: Path) -> list[f.Sample]:
    out: list[f.Sample] = []
    names: dict[str, str] = {}  # one string per device and tag name, not one per row (~100 B a sample)
    for path in sorted((root / RAW_DIR).glob("*.csv")):
        for r in csvio.iter_csv(path, f"{RAW_DIR}/{path.name}"):
            status = r.text("status_code_hex").strip() or "0"
            try:
                code = int(status, 16)
            except ValueError:
                raise csvio.CsvFormatError(f"{r.where('status_code_hex')}: {status!r} is not hex") from None
            out.append(
                f.Sample(
                    names.setdefault(device := r.text("device_id"), device),
                    names.setdefault(tag := r.text("tag_id"), tag),
                    r.integer("ts_receive_ms"),
                    code,
                    r.integer("session"),
                    r.integer("seq"),
                    r.opt_integer("ts_source_ms"),
                )
            )
    return out


def payloads(entries: Iterable[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [dict(e.get("payload") or {}) for e in entries if e.get("type") == kind]
