"""Recompute every OEE row of the pack (07_kpi/OEE_按日.csv) and the headline OEE (ISO 22400-2).

STDLIB ONLY; part of the in-pack verifier (``verify/oeecheck.py``). Each row's A/E/QR/OEE must follow
from its own time elements and quantities, equal the chain's KPI entry, and — when the row's window
lies inside the pack window — its time elements must follow from 状态时间线 and 计划日历, unless the
chain shows a collector crash cutting a state interval of the row (connectivity.crashes): such a row
is listed as not recomputable; a row flagged collector_crash without such a crash is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import connectivity, csvio, kpis, oeewindow, packinputs, recompute
from .vendor import kpimodel

OEE_CSV = "07_kpi/OEE_按日.csv"
CHAIN_NAME = "11_audit/audit_chain.jsonl"
TIME_COLUMNS = ("POT", "PDOT", "PBT", "APT", "AUST", "ADET", "ADOT", "UNKNOWN")
IDEAL_CSV = "07_kpi/标准节拍.csv"


def _kpi_key(p: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(p.get("device")), str(p.get("period")), str(p.get("label"))


def finding(inp: packinputs.Inputs, root: Path) -> recompute.Finding:
    """Each OEE row: A/E/QR/OEE from its own elements and quantities, the same figures as the chain's
    KPI entry, and — when its window lies inside the pack window — the time elements recomputed from
    状态时间线 and 计划日历. A "window" row is recomputed whole (oeewindow.py). The headline OEE
    aggregates the day rows, or the window rows when there are none."""
    check = _OeeCheck(inp, root)
    for r in check.table:
        check.row(r)
    check.no_window_row_missing()
    check.headline_and_summary()
    return recompute.Finding("设备综合效率复算", "OEE recomputation", check.cmp.problems, check.note())


def _seconds(t: kpis.TimeElements) -> dict[str, float]:
    return {"POT": t.pot, "PDOT": t.pdot, "PBT": t.pbt, "APT": t.apt, "AUST": t.aust, "ADET": t.adet,
            "ADOT": t.adot, "UNKNOWN": t.unknown}  # fmt: skip


class _OeeCheck:
    """The OEE table of one pack, checked row by row; what was recomputed is counted for the note."""

    def __init__(self, inp: packinputs.Inputs, root: Path) -> None:
        self.inp, self.root = inp, root
        self.cmp = recompute.Compare()
        self.kpi = {_kpi_key(p): p for p in packinputs.payloads(inp.entries, "KPI")}
        self.table = packinputs.rows(root, OEE_CSV)
        self.days: list[tuple[str, kpis.OeeInputs]] = []
        self.windows: list[tuple[str, kpis.OeeInputs]] = []
        self._window_inputs: WindowInputs | None = None
        self.recomputed = 0
        self.crashes = connectivity.crashes(inp.entries)  # from the hash-checked chain, never a flags cell
        self.cut: list[tuple[str, connectivity.Crash]] = []

    @property
    def window_inputs(self) -> WindowInputs:
        if self._window_inputs is None:
            self._window_inputs = _window_inputs(self.inp, self.root)
        return self._window_inputs

    def row(self, r: csvio.Row) -> None:
        where = f"{OEE_CSV} line {r.line}"
        period = r.text("period")
        pq, gq, pri = r.opt_integer("PQ") or 0, r.opt_integer("GQ") or 0, r.opt_number("PRI_s")
        pbt_h, apt_h = r.opt_number("PBT_h") or 0.0, r.opt_number("APT_h") or 0.0
        counted = kpimodel.QTY_UNAVAILABLE not in (r.text("flags").split() if r.has("flags") else [])
        item = kpis.OeeInputs(pbt_h * 3600, apt_h * 3600, kpis.ideal_time(pri, pq), pq, gq, counted)
        device = r.text("device_id")
        if period == oeewindow.PERIOD:
            self.windows.append((device, item))
            _check_window(self.cmp, where, r, self.inp, self.window_inputs)
            self.recomputed += 1
            return
        calc = item.figures
        for key, value in zip(("A", "E", "QR", "OEE"), (calc.a, calc.e, calc.qr, calc.oee), strict=True):
            self.cmp.same(where, {key: r.opt_number(key)}, key, value)
        if period == "day":
            self.days.append((device, item))
        self._against_chain(where, r)

    def _against_chain(self, where: str, r: csvio.Row) -> None:
        """A shift/hour/day row: the chain's KPI entry says the same, and its time elements follow from
        the timeline when the row lies inside the pack window and no crash cut one of its intervals."""
        dev, period, label = r.text("device_id"), r.text("period"), r.text("label")
        payload = self.kpi.get((dev, period, label))
        if payload is None:
            self.cmp.problems.append(f"{where}: no KPI entry for {dev} {period} {label} in the chain")
            return
        for key in ("a", "e", "qr", "oee"):
            self.cmp.same(f"{CHAIN_NAME} KPI {dev}/{label}", payload, key, r.opt_number(key.upper()))
        start = r.opt_integer("start_ms") if r.has("start_ms") else None
        end = r.opt_integer("end_ms") if r.has("end_ms") else None
        start, end = start or int(payload.get("start", 0)), end or int(payload.get("end", 0))
        crash = connectivity.crash_cutting(self.crashes, dev, start, end)
        flags = r.text("flags").split() if r.has("flags") else []
        if connectivity.CRASH_FLAG in flags and crash is None:
            self.cmp.problems.append(
                f"{where}: flagged {connectivity.CRASH_FLAG} but the chain records no crash cutting it"
            )
        if not self.inp.start <= start < end <= self.inp.end:
            return
        hours = {col: r.opt_number(f"{col}_h") for col in TIME_COLUMNS}
        if crash is not None:
            self.cut.append((f"{dev} {period} {label}", crash))  # its open interval was never written
            chained = {str(k).upper(): v for k, v in (payload.get("times") or {}).items() if v is not None}
            for col in TIME_COLUMNS:  # the time elements still equal the chain's KPI entry
                if col in chained:
                    self.cmp.same(where, {f"{col}_h": hours[col]}, f"{col}_h", float(chained[col]) / 3600)
            return
        self.recomputed += 1
        te = kpis.time_elements(self.inp.states.get(dev, []), self.inp.segments, dev, start, end)
        seconds = _seconds(te)
        for col in TIME_COLUMNS:
            self.cmp.same(where, {f"{col}_h": hours[col]}, f"{col}_h", seconds[col] / 3600)

    def no_window_row_missing(self) -> None:
        if not (self.root / oeewindow.COUNTERS_CSV).is_file():
            return  # an older pack without window rows
        listed = {r.text("device_id") for r in self.table if r.text("period") == oeewindow.PERIOD}
        for dev in sorted(set(self.window_inputs.pri) - listed):
            self.cmp.problems.append(f"{OEE_CSV}: no {oeewindow.PERIOD} row for {dev} (it has a PRI)")

    def headline_and_summary(self) -> None:
        head = self.inp.summary.get("headline") or {}
        rows = self.days or self.windows
        self.cmp.same("summary.json headline", head, "oee", kpis.oee_total(r for _, r in rows).oee)
        if "oee_excluded" in head:  # older packs did not list them
            self.cmp.same("summary.json headline", head, "oee_excluded", kpis.left_out(rows))
        by_key = {(r.text("device_id"), r.text("period"), r.text("label")): r for r in self.table}
        for i, entry in enumerate(self.inp.summary.get("oee") or []):
            row = by_key.get((str(entry.get("device")), str(entry.get("period")), str(entry.get("label"))))
            if row is None:
                self.cmp.problems.append(f"summary.json oee[{i}]: no row in {OEE_CSV}")
                continue
            for key in ("a", "e", "qr", "oee"):
                self.cmp.same(f"summary.json oee[{i}]", entry, key, row.opt_number(key.upper()))

    def note(self) -> str:
        partial = len(self.table) - self.recomputed - len(self.cut)
        basis = f"{packinputs.TIMELINE} + {packinputs.CALENDAR}"
        note = f"{len(self.table)} rows; time elements of {self.recomputed} recomputed from {basis}"
        if partial:
            note += f" ({partial} extend beyond the pack window: checked against the chain's KPI entries)"
        if self.cut:
            seqs = ", ".join(sorted({str(c.seq) for _, c in self.cut}, key=int))
            rows_ = "; ".join(f"{name} ({c.text})" for name, c in self.cut)
            note += (
                f"; {len(self.cut)} rows not recomputable: collector crash at seq {seqs} — a state interval"
                f" open at the crash was never written to the chain ({rows_}); checked against the chain's"
                " KPI entries"
            )
        return note


@dataclass
class WindowInputs:
    """What a "window" row is recomputed from: 计数器.csv, the counter and program readings of
    05_raw_samples, and each device's ideal cycle times (标准节拍: the default, per program, and
    the program tag)."""

    counters: list[oeewindow.CounterSpec]
    readings: dict[str, dict[str, list[tuple[int, int]]]]
    pri: dict[str, float | None]
    cycles: dict[str, oeewindow.CycleTimes]


def _window_inputs(inp: packinputs.Inputs, root: Path) -> WindowInputs:
    counters = _counter_specs(root)
    ideal_rows = packinputs.rows(root, IDEAL_CSV)
    pri = {r.text("device_id"): r.opt_number("pri_s") for r in ideal_rows if not r.text("program")}
    program_tags = {(r.text("device_id"), r.text("program_tag")) for r in ideal_rows if r.has("program_tag")}
    readings: dict[str, dict[str, list[tuple[int, int]]]] = {}
    programs: dict[str, list[tuple[int, object]]] = {}
    for device in sorted({c.device for c in counters}):
        tags = {c.tag for c in counters if c.device == device}
        per_tag: dict[str, list[tuple[int, int]]] = {}
        readings[device] = per_tag
        rel = f"{packinputs.RAW_DIR}/{device}.csv"
        for r in csvio.iter_csv(root / rel, rel) if (root / rel).is_file() else ():
            tag, ts = r.text("tag_id"), r.integer("ts_receive_ms")
            if not oeewindow.usable(int(r.text("status_code_hex").strip() or "0", 16)):
                continue
            if (device, tag) in program_tags and r.text("value"):
                programs.setdefault(device, []).append((ts, r.text("value")))
            value = oeewindow.counter_value(r.text("value")) if tag in tags else None
            if value is not None:
                per_tag.setdefault(tag, []).append((ts, value))
    by_program: dict[str, dict[str, float]] = {}
    for r in ideal_rows:
        pri_s = r.opt_number("pri_s")
        if r.text("program") and pri_s is not None:
            by_program.setdefault(r.text("device_id"), {})[r.text("program")] = pri_s
    cycles = {
        dev: oeewindow.CycleTimes(pri.get(dev), by_program.get(dev), programs.get(dev, ()))
        for dev in {r.text("device_id") for r in ideal_rows}
    }
    return WindowInputs(counters, readings, pri, cycles)


def _counter_specs(root: Path) -> list[oeewindow.CounterSpec]:
    """The rows of 计数器.csv (older packs have no counter register: none)."""
    if not (root / oeewindow.COUNTERS_CSV).is_file():
        return []
    return [
        oeewindow.CounterSpec(
            r.text("device_id"), r.text("counter"), r.text("tag_id"), r.text("role"), r.integer("width"),
            r.opt_number("max_rate"), r.opt_number("tolerance") or 0.0,
        )
        for r in packinputs.rows(root, oeewindow.COUNTERS_CSV)
    ]  # fmt: skip


def _check_window(
    cmp: recompute.Compare, where: str, r: csvio.Row, inp: packinputs.Inputs, w: WindowInputs
) -> None:
    """A "window" row: its window is the pack's, and every figure follows from the pack's files."""
    dev = r.text("device_id")
    cmp.same(where, {"start_ms": r.opt_integer("start_ms")}, "start_ms", inp.start)
    cmp.same(where, {"end_ms": r.opt_integer("end_ms")}, "end_ms", inp.end)
    calc = oeewindow.window_oee(dev, inp.start, inp.end, inp.states.get(dev, []), inp.segments, w.counters,
                                w.readings.get(dev, {}), w.cycles.get(dev, w.pri.get(dev)))  # fmt: skip
    seconds = _seconds(calc.times)
    for col in TIME_COLUMNS:
        cmp.same(where, {f"{col}_h": r.opt_number(f"{col}_h")}, f"{col}_h", seconds[col] / 3600)
    cmp.same(where, {"PRI_s": r.opt_number("PRI_s")}, "PRI_s", calc.pri_s)
    if recompute.truncated(inp):
        return  # the counter readings are capped: only the time elements can be recomputed
    for key, count in (("PQ", calc.pq), ("GQ", calc.gq), ("SQ", calc.sq)):
        cmp.same(where, {key: r.opt_integer(key)}, key, count)
    f_ = calc.figures
    for key, value in (("A", f_.a), ("E", f_.e), ("QR", f_.qr), ("OEE", f_.oee)):
        cmp.same(where, {key: r.opt_number(key)}, key, value)
