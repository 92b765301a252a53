"""The pack's declared-data and ledger-derived tables (docs/STANDARDS.md §8.1): registers, calendar, state,
counters, clock sync, audit excerpt, configuration. Figures computed from the samples are in
figures.py and written by results.py. Every CSV goes through csvio (BOM, "中文(english)" headers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from collector.config.equipment import rows as register_rows
from collector.config.plant import Device
from collector.config.redact import redacted_config
from collector.evidence.manifest import dump_json
from collector.evidence.registers import PROTOCOL_NAMES, endpoint, isa95_path
from collector.evidence.sources import Sources
from collector.evidence.verify.connectivity import CONNECTION_BASIS, STATE_BASIS
from collector.evidence.verify.csvio import SPAN, Cell, write_csv
from collector.evidence.verify.formulas import days
from collector.evidence.verify.packinputs import CONNECTIONS as CONNECTIONS_CSV
from collector.evidence.verify.packinputs import REGISTER as REGISTER_CSV

DEVICE_REGISTER = [  # 设备台账: every piece of equipment of the register, connected or not
    ("设备编号", "equipment_id"),
    ("设备名称", "name_zh"),
    ("设备类别", "category"),
    ("计入生产设备(申报)", "counts_as_production"),
    ("生产设备", "production"),  # in 总生产设备数量: the declared value, else by category
    ("设备类型", "type"),
    ("品牌", "vendor"),
    ("型号", "model"),
    ("出厂编号", "serial"),
    ("控制系统", "controller"),
    ("车间", "area"),
    ("产线", "line"),
    ("工序", "process"),
    ("是否关键工序", "is_key_process"),
    ("是否数字化设备", "is_digital"),
    ("是否数控设备", "is_nc"),
    ("是否联网(申报)", "is_networked"),  # empty: not stated, so networked when it has a connection
    ("联网接入设备", "networked_via"),
    ("接入日期", "onboarded_at"),
    ("标识码", "identifier"),
    ("资产照片", "photo_ref"),
    ("备注", "notes"),
    ("未申报项", "undeclared"),
]
CONNECTIONS = [  # 接入设备清单: the collector's connections and the register rows each one reads
    ("设备编号", "device_id"),
    ("设备名称", "name_zh"),
    ("所属ISA-95路径", "isa95_path"),
    ("车间", "area"),
    ("产线", "line"),
    ("接入协议", "protocol"),
    ("接入方式", "access"),
    ("网关", "gateway_id"),
    ("IP/端点", "endpoint"),
    ("在线依据", "online_basis"),  # state: the state timeline; connection: DEVICE_CONNECT/DISCONNECT
    ("台账设备", "equipment_ids"),
]
UNDECLARED = "未申报"  # the cell of a flag the register leaves unset
DATA_POINTS = [
    ("数据点编号", "tag_id"),
    ("设备编号", "device_id"),
    ("名称", "name_zh"),
    ("含义", "description"),
    ("单位", "unit"),
    ("数据类型", "datatype"),
    ("采集方式", "method"),
    ("周期(毫秒)", "period_ms"),
    ("心跳(毫秒)", "heartbeat_ms"),
    ("源地址", "source_address"),
    ("业务环节", "business_link"),
    ("应采集", "required"),
    ("启用", "enabled"),
    ("首次有效数据", "first_good_ts"),
    ("首次有效数据(毫秒)", "first_good_ts_ms"),
]
CALENDAR = [
    ("设备编号", "device_id"),
    ("开始", "start"),
    ("结束", "end"),
    ("开始(毫秒)", "start_ms"),
    ("结束(毫秒)", "end_ms"),
    ("类型", "kind"),
    ("时长(小时)", "duration_h"),
]
CALENDAR_EXCEPTIONS = [
    ("日期", "date"),
    ("类型", "kind"),  # holiday: no shift starts; workday: a make-up workday (调休)
    ("名称", "name"),
    ("按星期排班", "shifts_of"),
]
IDEAL_CYCLE = [("设备编号", "device_id"), ("程序", "program"), ("标准单件时间(秒)", "pri_s")]
COUNTERS = [
    ("设备编号", "device_id"),
    ("计数器", "counter"),
    ("数据点编号", "tag_id"),
    ("角色", "role"),
    ("位宽", "width"),
    ("最大速率(件/秒)", "max_rate"),
    ("容差", "tolerance"),
]
TIMELINE = [
    *SPAN,
    ("状态", "state"),
    ("状态(中文)", "state_zh"),
    ("子状态", "sub_state"),
    ("计划负荷时间内", "in_PBT"),
    ("ISO 22400时间要素", "iso22400_bucket"),
    ("规则版本", "rule_version"),
    ("输入", "inputs_json"),
]
STATE_DAILY = [
    ("日期", "date"),
    ("设备编号", "device_id"),
    ("状态", "state"),
    ("状态(中文)", "state_zh"),
    ("时长(小时)", "duration_h"),
    ("占比", "share"),
]
STATE_ZH = {"RUNNING": "运行", "IDLE": "待机", "ALARM": "报警", "STOPPED": "停机", "OFFLINE": "离线"}
COUNTER_EVENTS = [
    ("时间", "ts"),
    ("时间(毫秒)", "ts_ms"),
    ("设备编号", "device_id"),
    ("计数器", "counter"),
    ("事件", "event"),
    ("之前", "before"),
    ("之后", "after"),
    ("计入增量", "delta_applied"),
    ("原因", "reason"),
]
TIMESYNC = [
    ("时间", "ts"),
    ("时间(毫秒)", "ts_ms"),
    ("主机", "host"),
    ("参考源", "reference_id"),
    ("层级", "stratum"),
    ("系统时间偏差(秒)", "system_time_offset_s"),
    ("状态", "status"),
    ("闰秒状态", "leap_status"),
    ("在阈值内", "within_threshold"),
]


def _p(entry: dict[str, Any]) -> dict[str, Any]:
    payload = entry.get("payload")
    return payload if isinstance(payload, dict) else {}


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def online_basis(device: Device) -> str:
    """How the device's online time is judged (connectivity.py): its state rule, else its connection."""
    return STATE_BASIS if device.state is not None else CONNECTION_BASIS


def _declared(value: bool | None) -> Cell:
    return UNDECLARED if value is None else value


def write_device_register(src: Sources, pack: Path) -> None:
    """设备台账.csv (the register rows, undeclared flags marked) and 接入设备清单.csv (the connections)."""
    cfg = src.plant.config
    table = register_rows(cfg)
    rows: list[list[Cell]] = [
        [
            r.id, r.name_zh or r.name or "", r.category.value if r.category else UNDECLARED,
            r.counts_as_production, r.production, r.type or "", r.vendor or "", r.model or "",
            r.serial or "", r.controller or "", r.area or "", r.line or "", r.process or "",
            _declared(r.is_key_process), _declared(r.is_digital), _declared(r.is_nc), r.is_networked,
            r.networked_via or "", r.onboarded_at.isoformat() if r.onboarded_at else "",
            r.identifier or "", r.photo_ref or "", r.notes or "", " ".join(r.undeclared),
        ]
        for r in table
    ]  # fmt: skip
    write_csv(pack / REGISTER_CSV, DEVICE_REGISTER, rows)
    reads: dict[str, list[str]] = {}
    for r in table:
        if r.networked_via:
            reads.setdefault(r.networked_via, []).append(r.id)
    connections: list[list[Cell]] = [
        [
            d.id, d.name_zh or d.name or "", isa95_path(cfg, d), d.area or "", d.line or "",
            PROTOCOL_NAMES.get(d.protocol, d.protocol), d.asset.access.value, d.asset.gateway_id or "",
            endpoint(d), online_basis(d), " ".join(reads.get(d.id, [])),
        ]
        for d in cfg.devices
    ]  # fmt: skip
    write_csv(pack / CONNECTIONS_CSV, CONNECTIONS, connections)


def write_data_points(src: Sources, pack: Path) -> None:
    first_good: dict[tuple[str, str], int] = {}
    for s in src.samples:
        if s.good:
            key = (s.device, s.tag)
            first_good[key] = min(first_good.get(key, s.ts_ms), s.ts_ms)
    rows: list[list[Cell]] = []
    for p in src.points:
        first = first_good.get((p.device, p.tag))
        rows.append(
            [
                p.tag,
                p.device,
                p.name_zh,
                p.description,
                p.unit,
                p.datatype,
                p.method,
                p.period_ms,
                p.heartbeat_ms,
                p.source_address,
                p.business_link,
                p.required,
                p.enabled,
                src.iso(first),
                first,
            ]
        )
    write_csv(pack / "03_datapoints" / "数据采集点清单.csv", DATA_POINTS, rows)


def write_calendar(src: Sources, pack: Path) -> None:
    """The scheduled intervals (PBT/PDOT) per device, as collector.normalise.shifts compiles them."""
    rows: list[list[Cell]] = []
    for dev in src.device_ids:
        for seg in src.calendar.planned(src.from_ms, src.to_ms, dev):
            rows.append(
                [
                    dev,
                    src.iso(seg.start),
                    src.iso(seg.end),
                    seg.start,
                    seg.end,
                    seg.kind,
                    (seg.end - seg.start) / 3_600_000,
                ]
            )
    write_csv(pack / "07_kpi" / "计划日历.csv", CALENDAR, rows)
    first, last = src.local(src.from_ms).date(), src.local(src.to_ms - 1).date()
    cal = src.plant.config.calendar
    exceptions: list[list[Cell]] = [
        [h.date.isoformat(), "holiday", h.name or "", ""] for h in cal.holidays if first <= h.date <= last
    ]
    exceptions += [
        [w.date.isoformat(), "workday", w.name or "", w.shifts_of]
        for w in cal.workdays
        if first <= w.date <= last
    ]
    write_csv(
        pack / "07_kpi" / "日历例外.csv", CALENDAR_EXCEPTIONS, sorted(exceptions, key=lambda r: str(r[0]))
    )
    ideal: list[list[Cell]] = []
    for d in src.plant.config.devices:
        if d.oee is not None:
            if d.oee.ideal_cycle_time is not None:
                ideal.append([d.id, "", d.oee.ideal_cycle_time])
            ideal += [[d.id, prog, pri] for prog, pri in sorted(d.oee.per_program.items())]
    write_csv(pack / "07_kpi" / "标准节拍.csv", IDEAL_CYCLE, ideal)
    counters: list[list[Cell]] = [
        [d.id, c.name, c.tag, c.role.value, c.width, c.max_rate, c.tolerance]
        for d in src.plant.config.devices
        for c in d.counters
    ]
    write_csv(pack / "07_kpi" / "计数器.csv", COUNTERS, counters)


def write_state(src: Sources, pack: Path) -> list[dict[str, Any]]:
    """状态时间线 from STATE_INTERVAL entries (clipped to the window) and the rules in force."""
    rows: list[list[Cell]] = []
    timeline: list[dict[str, Any]] = []
    for e in src.of_type("STATE_INTERVAL"):
        p = _p(e)
        start, end = max(int(p["start"]), src.from_ms), min(int(p["end"]), src.to_ms)
        if end <= start:
            continue
        bucket = str(p.get("bucket") or "")
        rows.append(
            [
                p.get("device"),
                src.iso(start),
                src.iso(end),
                start,
                end,
                (end - start) / 1000,
                p.get("state"),
                p.get("state_zh"),
                p.get("sub"),
                bucket not in ("PDOT", "UNKNOWN", ""),
                bucket,
                p.get("rule"),
                _cell(p.get("inputs") or {}),
            ]
        )
        timeline.append(
            {
                "device": p.get("device"),
                "start_ms": start,
                "end_ms": end,
                "state": p.get("state"),
                "sub": p.get("sub") or "",
                "bucket": bucket,
            }
        )
    write_csv(pack / "06_state" / "状态时间线.csv", TIMELINE, rows)
    write_csv(pack / "06_state" / "状态汇总_按日.csv", STATE_DAILY, _state_daily(src, timeline))
    rules = [{"ts": e["ts"], "seq": e["seq"], **_p(e)} for e in src.of_type("RULE_CHANGE")]
    (pack / "06_state" / "状态规则.json").write_bytes(dump_json(rules))
    return timeline


def _state_daily(src: Sources, timeline: list[dict[str, Any]]) -> list[list[Cell]]:
    """Time per state per device and local day; time no interval covers is OFFLINE (no evidence)."""
    rows: list[list[Cell]] = []
    for day in days(src.from_ms, src.to_ms, src.tz):
        span = day.end_ms - day.start_ms
        for dev in src.device_ids:
            spent = dict.fromkeys(STATE_ZH, 0)
            for t in timeline:
                if t["device"] == dev:
                    overlap = min(t["end_ms"], day.end_ms) - max(t["start_ms"], day.start_ms)
                    spent[str(t["state"])] = spent.get(str(t["state"]), 0) + max(0, overlap)
            spent["OFFLINE"] += span - sum(spent.values())
            rows += [
                [day.date, dev, st, STATE_ZH.get(st, st), ms / 3_600_000, ms / span]
                for st, ms in spent.items()
            ]
    return rows


def write_counter_events(src: Sources, pack: Path) -> None:
    rows: list[list[Cell]] = []
    for e in src.of_type("COUNTER_EVENT"):
        p = _p(e)
        ts = int(p.get("ts") or e["ts"])
        rows.append(
            [
                src.iso(ts),
                ts,
                p.get("device"),
                p.get("counter"),
                p.get("event"),
                p.get("before"),
                p.get("after"),
                p.get("delta_applied"),
                p.get("reason"),
            ]
        )
    write_csv(pack / "07_kpi" / "计数器事件.csv", COUNTER_EVENTS, rows)


def write_timesync(src: Sources, pack: Path) -> None:
    host = src.plant.config.site.edge_id
    rows: list[list[Cell]] = []
    for e in src.of_type("TIMESYNC"):
        p = _p(e)
        rows.append(
            [
                src.iso(e["ts"]),
                e["ts"],
                host,
                p.get("reference_id"),
                p.get("stratum"),
                p.get("offset_s"),
                p.get("status"),
                p.get("leap_status"),
                p.get("status") == "ok",
            ]
        )
    write_csv(pack / "10_timesync" / "时钟同步记录.csv", TIMESYNC, rows)


def write_audit(src: Sources, pack: Path) -> None:
    folder = pack / "11_audit"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for e in src.entries]
    (folder / "audit_chain.jsonl").write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    (folder / "anchor.json").write_bytes(dump_json(src.anchor))


def write_config(src: Sources, pack: Path) -> None:
    folder = pack / "12_config"
    folder.mkdir(parents=True, exist_ok=True)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    with (folder / "collector_config.redacted.yaml").open("w", encoding="utf-8") as fh:
        yaml.dump(redacted_config(src.plant.config), fh)
