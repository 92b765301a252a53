"""Recompute every OEE row of the pack (07_kpi/OEE_按日.csv) and the headline OEE (ISO 22400-2).

STDLIB ONLY; part of the in-pack verifier (``verify/oeecheck.py``). Each row's A/E/QR/OEE must follow
from its own time elements and quantities, equal the chain's KPI entry, and — when the row's window
lies inside the pack window — its time elements must follow from 状态时间线 and 计划日历.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__:
    from collector.evidence import kpis, recompute
else:  # inside a pack's verify/ folder
    import kpis  # type: ignore[no-redef,import-not-found]
    import recompute  # type: ignore[no-redef,import-not-found]

OEE_CSV = "07_kpi/OEE_按日.csv"
CHAIN_NAME = "11_audit/audit_chain.jsonl"
TIME_COLUMNS = ("POT", "PDOT", "PBT", "APT", "AUST", "ADET", "ADOT", "UNKNOWN")


def _kpi_key(p: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(p.get("device")), str(p.get("period")), str(p.get("label"))


def finding(inp: recompute.Inputs, root: Path) -> recompute.Finding:
    """Each OEE row: A/E/QR/OEE from its own elements and quantities, the same figures as the chain's
    KPI entry, and — when its window lies inside the pack window — the time elements recomputed from
    状态时间线 and 计划日历. The headline OEE aggregates the day rows."""
    name = ("设备综合效率复算", "OEE recomputation")
    cmp = recompute.Compare()
    kpi = {_kpi_key(p): p for p in recompute.payloads(inp.entries, "KPI")}
    days: list[kpis.OeeInputs] = []
    table = recompute.rows(root, OEE_CSV)
    recomputed = 0
    for r in table:
        where = f"{OEE_CSV} line {r.line}"
        dev, period, label = r.text("device_id"), r.text("period"), r.text("label")
        hours = {c: r.opt_number(f"{c}_h") for c in TIME_COLUMNS}
        pq, gq, pri = r.opt_integer("PQ") or 0, r.opt_integer("GQ") or 0, r.opt_number("PRI_s")
        item = kpis.OeeInputs(
            (hours["PBT"] or 0.0) * 3600, (hours["APT"] or 0.0) * 3600, kpis.ideal_time(pri, pq), pq, gq
        )
        calc = item.figures
        reported = {k: r.opt_number(k) for k in ("A", "E", "QR", "OEE")}
        for key, value in zip(("A", "E", "QR", "OEE"), (calc.a, calc.e, calc.qr, calc.oee), strict=True):
            cmp.same(where, reported, key, value)
        if period == "day":
            days.append(item)
        payload = kpi.get((dev, period, label))
        if payload is None:
            cmp.problems.append(f"{where}: no KPI entry for {dev} {period} {label} in the chain")
            continue
        for key in ("a", "e", "qr", "oee"):
            cmp.same(f"{CHAIN_NAME} KPI {dev}/{label}", payload, key, reported[key.upper()])
        start = r.opt_integer("start_ms") if r.has("start_ms") else None
        end = r.opt_integer("end_ms") if r.has("end_ms") else None
        start, end = start or int(payload.get("start", 0)), end or int(payload.get("end", 0))
        if inp.start <= start < end <= inp.end:
            recomputed += 1
            te = kpis.time_elements(inp.states.get(dev, []), inp.segments, dev, start, end)
            seconds = {"POT": te.pot, "PDOT": te.pdot, "PBT": te.pbt, "APT": te.apt, "AUST": te.aust,
                       "ADET": te.adet, "ADOT": te.adot, "UNKNOWN": te.unknown}  # fmt: skip
            for col in TIME_COLUMNS:
                cmp.same(where, {f"{col}_h": hours[col]}, f"{col}_h", seconds[col] / 3600)
    head = inp.summary.get("headline") or {}
    cmp.same("summary.json headline", head, "oee", kpis.oee_total(days).oee)
    by_key = {(r.text("device_id"), r.text("period"), r.text("label")): r for r in table}
    for i, entry in enumerate(inp.summary.get("oee") or []):
        row = by_key.get((str(entry.get("device")), str(entry.get("period")), str(entry.get("label"))))
        if row is None:
            cmp.problems.append(f"summary.json oee[{i}]: no row in {OEE_CSV}")
            continue
        for key in ("a", "e", "qr", "oee"):
            cmp.same(f"summary.json oee[{i}]", entry, key, row.opt_number(key.upper()))
    partial = len(table) - recomputed
    basis = f"{recompute.TIMELINE} + {recompute.CALENDAR}"
    note = f"{len(table)} rows; time elements of {recomputed} recomputed from {basis}"
    if partial:
        note += f" ({partial} extend beyond the pack window: checked against the chain's KPI entries)"
    return recompute.Finding(*name, cmp.problems, note)
