"""The pack's computed tables: connectivity, daily online rate and completeness, gaps, replays,
reconciliation, OEE, and the raw samples they were computed from (docs/STANDARDS.md §8.1).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.evidence import reconcile
from collector.evidence.figures import DeviceFigures, OeeRow
from collector.evidence.sources import Sources
from collector.evidence.store_reader import StoredSample
from collector.evidence.tables import online_basis
from collector.evidence.verify import formulas as f
from collector.evidence.verify import kpis
from collector.evidence.verify.csvio import SPAN, Cell, write_csv
from collector.evidence.verify.indicators import Indicators

CONNECTIVITY = [
    ("设备编号", "device_id"),
    ("首次数据", "first_seen"),
    ("末次数据", "last_seen"),
    ("考核时间(小时)", "judged_h"),  # scheduled (PBT) and powered time: what the rates are taken over
    ("在线时间(小时)", "online_h"),
    ("设备在线率", "online_rate"),
    ("状态覆盖率", "state_coverage"),
    ("有数据天数", "days_with_data"),
    ("计划天数", "scheduled_days"),
    ("已验证联网", "verified"),
    ("依据", "rule"),
    ("在线依据", "online_basis"),
]
INDICATORS = [("指标", "indicator"), ("分子", "numerator"), ("分母", "denominator"), ("数值", "value")]
ONLINE_DAILY = [
    ("日期", "date"),
    ("设备编号", "device_id"),
    ("考核时间(小时)", "judged_h"),  # scheduled (PBT) and powered time: what the rates are taken over
    ("在线时间(小时)", "online_h"),
    ("设备在线率", "online_rate"),
    ("状态覆盖率", "state_coverage"),
    ("采集完整率", "completeness"),
]
COMPLETENESS_DAILY = [
    ("日期", "date"),
    ("设备编号", "device_id"),
    ("数据点编号", "tag_id"),
    ("应采集数", "expected"),
    ("接收数", "received"),
    ("有效接收数", "received_good"),
    ("计入数", "credited"),
    ("采集完整率", "completeness"),
    ("数据有效率", "good_ratio"),
    ("最长断点(秒)", "max_gap_s"),
    ("断点次数", "gaps"),
]
GAPS = [
    *SPAN,
    ("原因", "cause"),
    ("续传记录数", "replayed_records"),
    ("续传完成时间", "replay_completed_at"),
]
REPLAYS = [
    ("设备编号", "device_id"),
    ("通道", "sink"),
    ("断网开始", "start"),
    ("断网结束", "end"),
    ("开始(毫秒)", "start_ms"),
    ("结束(毫秒)", "end_ms"),
    ("时长(秒)", "duration_s"),
    ("原因", "cause"),
    ("续传记录数", "replayed_records"),
    ("续传开始", "replay_started_at"),
    ("续传完成时间", "replay_completed_at"),
    ("续传完成时间(毫秒)", "replay_completed_ms"),
]
RECONCILIATION = [
    ("日期", "date"),
    ("设备编号", "device_id"),
    ("发布数", "published"),
    ("确认数", "acked"),
    ("入库确认数", "confirmed"),
    ("入库数(时序库)", "landed_tsdb"),
    ("入库数(MES)", "landed_mes"),
    ("缺失序号段", "missing_seq_ranges"),
    ("端到端入库率", "delivery_ratio"),
]
RAW = [
    ("接收时间", "ts_receive"),
    ("接收时间(毫秒)", "ts_receive_ms"),
    ("源时间(毫秒)", "ts_source_ms"),
    ("设备编号", "device_id"),
    ("数据点编号", "tag_id"),
    ("值", "value"),
    ("单位", "unit"),
    ("状态码", "status_code_hex"),
    ("质量等级", "severity"),
    ("会话", "session"),
    ("序号", "seq"),
]
OEE = [
    ("日期", "date"),
    ("设备编号", "device_id"),
    ("周期", "period"),
    ("标签", "label"),
    ("开始(毫秒)", "start_ms"),
    ("结束(毫秒)", "end_ms"),
    ("计划作业时间(小时)", "POT_h"),
    ("计划停机时间(小时)", "PDOT_h"),
    ("计划负荷时间(小时)", "PBT_h"),
    ("实际加工时间(小时)", "APT_h"),
    ("调机时间(小时)", "AUST_h"),
    ("延误时间(小时)", "ADET_h"),
    ("空闲时间(小时)", "ADOT_h"),
    ("未知(离线)时间(小时)", "UNKNOWN_h"),
    ("产量", "PQ"),
    ("合格品数", "GQ"),
    ("废品数", "SQ"),
    ("返工数", "RQ"),
    ("标准单件时间(秒)", "PRI_s"),
    ("时间开动率", "A"),
    ("性能开动率", "E"),
    ("合格品率", "QR"),
    ("设备综合效率", "OEE"),
    ("净设备效率", "NEE"),
    ("标志", "flags"),
]


def _h(ms: int) -> float:
    return ms / 3_600_000


def write_connectivity(src: Sources, pack: Path, figures: list[DeviceFigures], ind: Indicators) -> None:
    folder = pack / "02_connectivity"
    rule = f.NetworkRule(
        src.plant.config.evidence.verified_min_coverage, src.plant.config.evidence.verified_min_days
    )
    basis = {d.id: online_basis(d) for d in src.plant.config.devices}
    rows: list[Sequence[Cell]] = [
        [
            d.device,
            src.iso(d.first_seen_ms),
            src.iso(d.last_seen_ms),
            _h(d.online.scheduled_ms),
            _h(d.online.online_ms),
            d.online.rate,
            d.coverage,
            d.network.days_with_data,
            d.network.scheduled_days,
            d.network.verified,
            rule.text,
            basis[d.device],
        ]
        for d in figures
    ]
    write_csv(folder / "联网核验.csv", CONNECTIVITY, rows)
    summary: list[Sequence[Cell]] = [
        ["设备总数(N_total)", ind.devices_total, None, None],
        ["联网(申报)(N_declared)", ind.declared_networked, ind.devices_total, ind.networked_rate_declared],
        [
            "联网(核验)(N_verified) 设备联网率",
            ind.verified_networked,
            ind.devices_total,
            ind.networked_rate_verified,
        ],
        ["生产设备数字化率(digital_rate)", ind.digital, ind.devices_total, ind.digital_rate],
        [
            "数字化设备中的联网率(networked_rate_of_digital)",
            ind.digital_verified,
            ind.digital,
            ind.networked_rate_of_digital,
        ],
        [
            "关键工序数控化率(key_process_nc_rate)",
            ind.key_processes_nc,
            ind.key_processes,
            ind.key_process_nc_rate,
        ],
    ]
    write_csv(folder / "联网率汇总.csv", INDICATORS, summary)
    daily: list[Sequence[Cell]] = [
        [
            day.day.date,
            d.device,
            _h(day.online.scheduled_ms),
            _h(day.online.online_ms),
            day.online.rate,
            day.coverage,
            day.completeness,
        ]
        for d in figures
        for day in d.days
    ]
    write_csv(folder / "在线率_按日.csv", ONLINE_DAILY, daily)


def write_completeness(pack: Path, figures: list[DeviceFigures]) -> None:
    rows: list[Sequence[Cell]] = []
    for d in figures:
        for day in d.days:
            for t in day.tags:
                stats = f.gap_stats(t.gaps)
                rows.append(
                    [
                        day.day.date,
                        d.device,
                        t.tag,
                        t.expected,
                        t.received,
                        t.received_good,
                        t.credited,
                        t.completeness,
                        t.good_ratio,
                        stats.longest_s,
                        stats.count,
                    ]
                )
    write_csv(pack / "04_completeness" / "采集完整率_按日.csv", COMPLETENESS_DAILY, rows)


@dataclass(frozen=True)
class GapRow:
    gap: f.Gap
    cause: str


def classify_gaps(src: Sources, figures: list[DeviceFigures]) -> list[GapRow]:
    """A gap's cause: the device unreachable (DEVICE_DISCONNECT in the chain) or answering Bad
    (timeouts, exceptions: Bad samples inside the gap) is comm; then the collector not running, a
    sink outage (broker), else unknown (e.g. the window starts before the first reading)."""
    stopped = _collector_down(src)
    brokers = [(o.start_ms, o.end_ms) for o in reconcile.outages(src)]
    out = []
    for d in figures:
        comm = reconcile.device_outages(src, d.device)
        bad = sorted(s.ts_ms for s in d.samples if not s.good)
        for g in d.gaps:
            lo = bisect_right(bad, g.start_ms)
            if reconcile.overlaps(comm, g.start_ms, g.end_ms) or (lo < len(bad) and bad[lo] < g.end_ms):
                cause = "comm"
            elif reconcile.overlaps(stopped, g.start_ms, g.end_ms):
                cause = "collector"
            elif reconcile.overlaps(brokers, g.start_ms, g.end_ms):
                cause = "broker"
            else:
                cause = "unknown"
            out.append(GapRow(g, cause))
    return out


def _collector_down(src: Sources) -> list[tuple[int, int | None]]:
    spans: list[tuple[int, int | None]] = []
    down: int | None = src.from_ms
    for e in src.of_type("COLLECTOR_START", "COLLECTOR_STOP"):
        if e["type"] == "COLLECTOR_STOP":
            down = int(e["ts"])
        elif down is not None:
            spans.append((down, int(e["ts"])))
            down = None
    if down is not None and down != src.from_ms:
        spans.append((down, None))
    return spans


def write_gaps(src: Sources, pack: Path, gaps: list[GapRow], replays: list[reconcile.ReplayRow]) -> None:
    rows: list[Sequence[Cell]] = [
        [
            g.gap.device,
            src.iso(g.gap.start_ms),
            src.iso(g.gap.end_ms),
            g.gap.start_ms,
            g.gap.end_ms,
            g.gap.duration_ms / 1000,
            g.cause,
            None,
            None,
        ]
        for g in gaps
    ]
    write_csv(pack / "04_completeness" / "断点记录.csv", GAPS, rows)
    out: list[Sequence[Cell]] = []
    for row in replays:
        r, o = row.replay, row.outage
        start = o.start_ms if o else r.started_ms
        end = o.end_ms if o and o.end_ms is not None else r.started_ms
        cause = "broker" if r.sink == "mqtt" else r.sink
        for device, n in r.by_device:
            out.append(
                [
                    device,
                    r.sink,
                    src.iso(start),
                    src.iso(end),
                    start,
                    end,
                    (end - start) / 1000,
                    cause,
                    n,
                    src.iso(r.started_ms),
                    src.iso(r.ended_ms),
                    r.ended_ms,
                ]
            )
    write_csv(pack / "04_completeness" / "断网续传记录.csv", REPLAYS, out)


def write_reconciliation(pack: Path, rows: list[reconcile.DayDelivery]) -> None:
    out: list[Sequence[Cell]] = [
        [
            r.date,
            r.device,
            r.delivery.published,
            r.acked,
            r.confirmed,
            r.delivery.landed,
            None,
            kpis.format_ranges(r.delivery.missing),
            r.delivery.ratio,
        ]
        for r in rows
    ]
    write_csv(pack / "04_completeness" / "入库对账.csv", RECONCILIATION, out)


def write_oee(pack: Path, rows: list[OeeRow]) -> None:
    elements = ("pot", "pdot", "pbt", "apt", "aust", "adet", "adot", "unknown")
    out: list[Sequence[Cell]] = [
        [r.label[:10], r.device, r.period, r.label, r.start_ms, r.end_ms, *(r.hours(k) for k in elements),
         r.pq, r.gq, r.sq, r.rq, r.pri_s, r.a, r.e, r.qr, r.oee, r.nee, " ".join(r.flags)]
        for r in rows
    ]  # fmt: skip
    write_csv(pack / "07_kpi" / "OEE_按日.csv", OEE, out)


def write_raw(src: Sources, pack: Path, max_rows: int) -> tuple[int, bool]:
    """05_raw_samples/<device>.csv; past `max_rows` in total each device keeps an equal share of its
    earliest rows. Returns (rows written, truncated)."""
    units = {(p.device, p.tag): p.unit for p in src.points}
    per_device: dict[str, list[StoredSample]] = defaultdict(list)
    for s in src.samples:
        per_device[s.device].append(s)
    truncated = len(src.samples) > max_rows
    share = max_rows // max(1, len(src.device_ids)) if truncated else None
    written = 0
    folder = pack / "05_raw_samples"
    folder.mkdir(parents=True, exist_ok=True)
    for device in src.device_ids:
        samples = per_device.get(device, [])[:share] if share is not None else per_device.get(device, [])
        rows = (  # a generator: write_csv streams it
            (
                src.iso(s.ts_ms),
                s.ts_ms,
                s.source_ts_ms,
                s.device,
                s.tag,
                _value(s.value),
                units.get((s.device, s.tag)),
                f"0x{s.status:08X}",
                f.severity(s.status),
                s.session,
                s.seq,
            )
            for s in samples
        )
        write_csv(folder / f"{device}.csv", RAW, rows)
        written += len(samples)
    return written, truncated


def _value(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
