"""Recompute a pack's headline figures from its own raw files and compare them with summary.json.

STDLIB ONLY; part of the in-pack verifier (``verify/recompute.py``). It reads (through packinputs.py)
05_raw_samples, 03_datapoints, 06_state, 07_kpi (计划日历, OEE_按日), 01_device_register and the
chain's RAW_BATCH / REPLAY / KPI and connection entries, recomputes with formulas.py, kpis.py and
connectivity.py, and reports every figure that differs (ratios within 1e-9, counts exactly), naming
the summary key or file and line.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import connectivity, indicators, kpis
from . import formulas as f
from .packinputs import (
    CALENDAR,
    DATAPOINTS,
    RAW_DIR,
    REGISTER,
    TIMELINE,
    Inputs,
    payloads,
)

TOLERANCE = 1e-9


@dataclass
class Finding:
    """One recomputation row of the report: its problems, or what was confirmed."""

    name_zh: str
    name_en: str
    problems: list[str]
    passed: str


@dataclass
class Device:
    """Everything recomputed for one device over the window."""

    id: str
    specs: list[f.TagSpec]
    tags: list[f.TagFigures]
    coverage: float | None
    online: f.Online
    gaps: list[f.Gap]
    good_ratio: float | None
    network: f.NetworkCheck
    latencies: list[int]
    judged: list[f.Span] = field(default_factory=list)  # scheduled and powered time (f.judged_spans)
    samples: list[f.Sample] = field(default_factory=list)
    by_tag: dict[str, list[f.Sample]] = field(default_factory=dict)  # each sorted by ts_ms
    times: dict[str, list[int]] = field(default_factory=dict)  # ts_ms of by_tag, for bisect

    def day_tags(self, start: int, end: int) -> list[f.TagFigures]:
        """The tag figures over [start, end), reading only that slice of each tag's samples."""
        out = []
        for spec in self.specs:
            rows, times = self.by_tag.get(spec.tag, []), self.times.get(spec.tag, [])
            part = rows[bisect_left(times, start) : bisect_left(times, end)]
            out.append(f.tag_figures(spec, part, start, end, self.judged))
        return out

    def day_online(self, states: list[f.StateSpan], start: int, end: int) -> f.Online:
        return f.online(states, f.clip(self.judged, start, end))


class Compare:
    """Collects differences between reported and recomputed figures."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.compared = 0

    def same(self, where: str, reported: Mapping[str, Any], key: str, computed: object) -> None:
        self.compared += 1
        if key not in reported:
            self.problems.append(f"{where}.{key} is missing (recomputed {_show(computed)})")
            return
        if not _equal(reported[key], computed):
            self.problems.append(f"{where}.{key} = {_show(reported[key])}, recomputed {_show(computed)}")


def _equal(reported: object, computed: object) -> bool:
    if reported is None or computed is None:
        return reported is None and computed is None
    if isinstance(computed, bool) or isinstance(reported, bool):
        return reported is computed
    if isinstance(reported, int | float) and isinstance(computed, int | float):
        if isinstance(computed, int) and not isinstance(reported, float):
            return reported == computed
        return math.isclose(float(reported), float(computed), rel_tol=0.0, abs_tol=TOLERANCE)
    return reported == computed


def _show(value: object) -> str:
    return "null" if value is None else repr(value)


# --- recomputation --------------------------------------------------------------------------------


def _rule(summary: Mapping[str, Any]) -> f.NetworkRule:
    rule = summary.get("network_rule") or {}
    return f.NetworkRule(float(rule.get("min_coverage", 0.95)), float(rule.get("min_days", 0.90)))


def devices(inp: Inputs) -> list[Device]:
    lo, hi = inp.start, inp.end
    inside: dict[str, list[f.Sample]] = defaultdict(list)
    for s in inp.samples:
        if lo <= s.ts_ms < hi:
            inside[s.device].append(s)
    day_list = f.days(lo, hi, inp.tz)
    rule = _rule(inp.summary)
    out = []
    for dev in inp.devices:
        samples, specs, states = inside.get(dev, []), inp.specs.get(dev, []), inp.online.get(dev, [])
        by_tag: dict[str, list[f.Sample]] = defaultdict(list)
        for s in sorted(samples, key=lambda x: x.ts_ms):
            by_tag[s.tag].append(s)
        judged = f.judged_spans(inp.segments, inp.states.get(dev, []), dev, lo, hi)
        online = f.online(states, judged)
        good_ts = [s.ts_ms for s in samples if s.good]
        out.append(
            Device(
                id=dev,
                specs=specs,
                tags=[f.tag_figures(spec, by_tag.get(spec.tag, []), lo, hi, judged) for spec in specs],
                coverage=f.state_coverage(states, lo, hi),
                online=online,
                gaps=f.device_gaps(specs, samples, lo, hi, judged),
                good_ratio=f.good_ratio(samples),
                network=f.network_check(online.rate, good_ts, judged, day_list, rule),
                latencies=kpis.latencies(samples),
                judged=judged,
                samples=samples,
                by_tag=dict(by_tag),
                times={tag: [s.ts_ms for s in rows] for tag, rows in by_tag.items()},
            )
        )
    return out


def truncated(inp: Inputs) -> bool:
    return bool((inp.summary.get("raw") or {}).get("truncated"))


def completeness_finding(inp: Inputs, devs: list[Device]) -> Finding:
    name = ("采集完整率与断点", "Completeness, good ratio and gaps")
    if truncated(inp):
        return Finding(*name, [], "not recomputed: summary.json raw.truncated is true (capped raw samples)")
    cmp = Compare()
    head = inp.summary.get("headline") or {}
    all_tags = [t for d in devs for t in d.tags]
    all_gaps = [g for d in devs for g in d.gaps]
    cmp.same("summary.json headline", head, "completeness", f.completeness(all_tags))
    cmp.same("summary.json headline", head, "good_ratio", f.good_ratio(s for d in devs for s in d.samples))
    cmp.same("summary.json headline", head, "gaps", f.gap_stats(all_gaps).count)
    cmp.same("summary.json headline", head, "gap_s", f.gap_stats(all_gaps).total_s)
    for d, row in _device_rows(inp, devs, cmp):
        stats = f.gap_stats(d.gaps)
        where = f"summary.json devices[{d.id}]"
        cmp.same(where, row, "completeness", f.completeness(d.tags))
        cmp.same(where, row, "good_ratio", d.good_ratio)
        cmp.same(where, row, "gaps", stats.count)
        cmp.same(where, row, "gap_s", stats.total_s)
        cmp.same(where, row, "longest_gap_s", stats.longest_s)
        cmp.same(where, row, "first_seen_ms", min((s.ts_ms for s in d.samples), default=None))
        cmp.same(where, row, "last_seen_ms", max((s.ts_ms for s in d.samples), default=None))
        lat = [float(v) for v in d.latencies]
        cmp.same(where, row, "latency_p50_ms", kpis.percentile(lat, 50))
        cmp.same(where, row, "latency_p95_ms", kpis.percentile(lat, 95))
    listed = {
        (str(g.get("device")), g.get("start_ms"), g.get("end_ms")) for g in inp.summary.get("gaps") or []
    }
    found = {(g.device, g.start_ms, g.end_ms) for g in all_gaps}
    cmp.compared += 1
    for device, lo, hi in sorted(found ^ listed, key=str):
        side = "missing from" if (device, lo, hi) in found else "not recomputed but listed in"
        cmp.problems.append(f"gap {device} {lo}–{hi} {side} summary.json gaps")
    cmp.same("summary.json raw", inp.summary.get("raw") or {}, "rows", len(inp.samples))
    by_id = {d.id: d for d in devs}
    for day, dev, row in _day_rows(inp, cmp):
        d = by_id[dev]
        figs = d.day_tags(day.start_ms, day.end_ms)
        cmp.same(f"summary.json days[{day.date}/{dev}]", row, "completeness", f.completeness(figs))
    return Finding(*name, cmp.problems, f"{cmp.compared} figures recomputed from {RAW_DIR} and {DATAPOINTS}")


def online_finding(inp: Inputs, devs: list[Device]) -> Finding:
    name = ("在线率与状态覆盖率", "Online rate and state coverage")
    cmp = Compare()
    head = inp.summary.get("headline") or {}
    cmp.same("summary.json headline", head, "online_rate", f.online_total(d.online for d in devs).rate)
    for d, row in _device_rows(inp, devs, cmp):
        where = f"summary.json devices[{d.id}]"
        cmp.same(where, row, "online_rate", d.online.rate)
        cmp.same(where, row, "state_coverage", d.coverage)
        cmp.same(where, row, "verified", d.network.verified)
        if inp.basis.get(d.id) == connectivity.CONNECTION_BASIS and inp.states.get(d.id):
            cmp.problems.append(f"{TIMELINE}: device {d.id} is judged on its connection but has state rows")
    by_id = {d.id: d for d in devs}
    for day, dev, row in _day_rows(inp, cmp):
        rate = by_id[dev].day_online(inp.online.get(dev, []), day.start_ms, day.end_ms).rate
        cmp.same(f"summary.json days[{day.date}/{dev}]", row, "online_rate", rate)
    basis = (
        f"{TIMELINE} (connections from the chain for devices without a state rule) over the scheduled "
        f"and powered time of {CALENDAR}"
    )
    return Finding(*name, cmp.problems, f"{cmp.compared} figures recomputed from {basis}")


def _device_rows(inp: Inputs, devs: list[Device], cmp: Compare) -> list[tuple[Device, Mapping[str, Any]]]:
    rows = {str(r.get("id")): r for r in inp.summary.get("devices") or [] if isinstance(r, dict)}
    out: list[tuple[Device, Mapping[str, Any]]] = []
    for d in devs:
        if d.id not in rows:
            cmp.problems.append(f"summary.json devices: no row for device {d.id}")
            continue
        out.append((d, rows[d.id]))
    return out


def _day_rows(inp: Inputs, cmp: Compare) -> list[tuple[f.Day, str, Mapping[str, Any]]]:
    known = {d.date: d for d in f.days(inp.start, inp.end, inp.tz)}
    out: list[tuple[f.Day, str, Mapping[str, Any]]] = []
    for i, row in enumerate(inp.summary.get("days") or []):
        day = known.get(str(row.get("date")))
        if day is None or row.get("device") not in inp.devices:
            cmp.problems.append(
                f"summary.json days[{i}]: date {row.get('date')} / device {row.get('device')} unknown"
            )
            continue
        out.append((day, str(row["device"]), row))
    return out


def inside_batches(inp: Inputs) -> list[kpis.RawBatch]:
    """The chain's RAW_BATCH parts whose [from, to) lies inside the window (kpis.batches_inside)."""
    every = [b for p in payloads(inp.entries, "RAW_BATCH") for b in kpis.raw_batches(p)]
    return kpis.batches_inside(every, inp.start, inp.end)


def delivery_finding(inp: Inputs, devs: list[Device]) -> Finding:
    name = ("入库对账与续传", "Delivery reconciliation and replay")
    if truncated(inp):
        return Finding(*name, [], "not recomputed: summary.json raw.truncated is true (capped raw samples)")
    cmp = Compare()
    head = inp.summary.get("headline") or {}
    batches = inside_batches(inp)
    result = kpis.reconcile(batches, ((s.device, s.session, s.seq) for s in inp.samples))
    published = sum(d.published for d in result.values())
    landed = sum(d.landed for d in result.values())
    replays = [kpis.replay_from(p) for p in payloads(inp.entries, "REPLAY")]
    replayed, per_device = kpis.replay_volume(replays, -(2**62), 2**62)
    cmp.same("summary.json headline", head, "published", published)
    cmp.same("summary.json headline", head, "landed", landed)
    cmp.same("summary.json headline", head, "delivery_ratio", f.ratio(landed, published))
    cmp.same("summary.json headline", head, "replayed", replayed)
    for d, row in _device_rows(inp, devs, cmp):
        got = result.get(d.id, kpis.Delivery(d.id, 0, 0, (), 0))
        where = f"summary.json devices[{d.id}]"
        cmp.same(where, row, "published", got.published)
        cmp.same(where, row, "landed", got.landed)
        cmp.same(where, row, "delivery_ratio", got.ratio)
        cmp.same(where, row, "replayed", per_device.get(d.id, 0))
    basis = f"{len(batches)} RAW_BATCH parts inside the window vs the (session, seq) of {RAW_DIR}"
    return Finding(*name, cmp.problems, f"{cmp.compared} figures recomputed: {basis}")


def indicators_finding(inp: Inputs, devs: list[Device]) -> Finding:
    name = ("联网与数字化指标", "Plant indicators")
    cmp = Compare()
    head = inp.summary.get("headline") or {}
    ind = indicators.indicators(inp.register, [d.id for d in devs if d.network.verified])
    threshold = float(inp.summary.get("auto_collection_threshold", 0.95))
    auto = indicators.auto_collection(
        [s for d in devs for s in d.specs], [t for d in devs for t in d.tags], threshold
    )
    for key, value in ind.headline().items():
        cmp.same("summary.json headline", head, key, value)
    if not truncated(inp):
        cmp.same("summary.json headline", head, "auto_collection_rate", auto.rate)
    return Finding(*name, cmp.problems, f"{cmp.compared} indicators recomputed from {REGISTER} and the data")


def findings(inp: Inputs, devs: list[Device], root: Path) -> list[Finding]:
    """The recomputation rows of the report (inputs already loaded, see load_inputs); OEE rows are
    checked by oeecheck.py, the result tables by tablecheck.py."""
    return [
        completeness_finding(inp, devs),
        online_finding(inp, devs),
        delivery_finding(inp, devs),
        indicators_finding(inp, devs),
    ]
