"""Every figure of the pack, computed with the shared formulas (formulas.py, kpis.py) from the raw
samples, the state timeline and the scheduled calendar exactly as the pack holds them, so the
in-pack verifier recomputes the same numbers from the same files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.config.equipment import rows as register_rows
from collector.config.register import RegisterRow
from collector.evidence.sources import Sources
from collector.evidence.store_reader import StoredSample
from collector.evidence.verify import connectivity, kpis, oeewindow
from collector.evidence.verify import formulas as f
from collector.evidence.verify import indicators as ind


@dataclass
class DayFigures:
    day: f.Day
    tags: list[f.TagFigures]
    online: f.Online
    coverage: float | None

    @property
    def completeness(self) -> float | None:
        return f.completeness(self.tags)


@dataclass
class DeviceFigures:
    device: str
    specs: list[f.TagSpec]
    tags: list[f.TagFigures]
    samples: list[StoredSample]
    states: list[f.StateSpan]
    scheduled: list[f.Span]  # judged time: scheduled (PBT) and powered (formulas.judged_spans)
    coverage: float | None
    online: f.Online
    gaps: list[f.Gap]
    good_ratio: float | None
    network: f.NetworkCheck
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    days: list[DayFigures] = field(default_factory=list)

    @property
    def completeness(self) -> float | None:
        return f.completeness(self.tags)

    @property
    def stats(self) -> f.GapStats:
        return f.gap_stats(self.gaps)

    @property
    def first_seen_ms(self) -> int | None:
        return min((s.ts_ms for s in self.samples), default=None)

    @property
    def last_seen_ms(self) -> int | None:
        return max((s.ts_ms for s in self.samples), default=None)


def tag_specs(src: Sources) -> dict[str, list[f.TagSpec]]:
    out: dict[str, list[f.TagSpec]] = defaultdict(list)
    for p in src.points:
        out[p.device].append(f.TagSpec(p.device, p.tag, p.method, p.period_ms, p.heartbeat_ms, p.required))
    return out


def plan_segments(src: Sources) -> list[f.PlanSegment]:
    """The rows of 计划日历.csv, per device (the calendar's planned stops may name devices). Without a
    calendar the whole window is scheduled (PBT), as the collector's KPI windows treat it, and the pack
    says so (calendar_missing): stricter than any shift plan, never impossible to pass."""
    if src.calendar.missing:
        return [f.PlanSegment(dev, src.from_ms, src.to_ms, "PBT") for dev in src.device_ids]
    return [
        f.PlanSegment(dev, seg.start, seg.end, seg.kind)
        for dev in src.device_ids
        for seg in src.calendar.planned(src.from_ms, src.to_ms, dev)
    ]


def state_spans(timeline: list[dict[str, Any]]) -> dict[str, list[f.StateSpan]]:
    out: dict[str, list[f.StateSpan]] = defaultdict(list)
    for row in timeline:
        dev = str(row["device"])
        bucket = str(row.get("bucket") or "UNKNOWN")
        sub = str(row.get("sub") or "")
        out[dev].append(
            f.StateSpan(dev, int(row["start_ms"]), int(row["end_ms"]), str(row["state"]), bucket, sub)
        )
    return out


def online_states(src: Sources, timeline: list[dict[str, Any]]) -> dict[str, list[f.StateSpan]]:
    """What each device's online rate is judged on: its state timeline, or — without a state rule —
    its connection intervals from the chain (connectivity.py)."""
    states = state_spans(timeline)
    for d in src.plant.config.devices:
        if d.state is None:
            states[d.id] = connectivity.connection_states(src.entries, d.id, src.from_ms, src.to_ms)
    return states


def compute(src: Sources, timeline: list[dict[str, Any]]) -> list[DeviceFigures]:
    specs, states, recorded = tag_specs(src), online_states(src, timeline), state_spans(timeline)
    plan = plan_segments(src)
    by_device: dict[str, list[StoredSample]] = defaultdict(list)
    for s in src.samples:  # the samples themselves, not copies: the window's whole list is in memory
        by_device[s.device].append(s)
    ev = src.plant.config.evidence
    rule = f.NetworkRule(ev.verified_min_coverage, ev.verified_min_days)
    days = f.days(src.from_ms, src.to_ms, src.tz)
    return [
        _device(
            src,
            dev,
            specs.get(dev, []),
            by_device.get(dev, []),
            states.get(dev, []),
            f.judged_spans(plan, recorded.get(dev, []), dev, src.from_ms, src.to_ms),
            rule,
            days,
        )
        for dev in src.device_ids
    ]


def _device(
    src: Sources, dev: str, specs: list[f.TagSpec], samples: list[StoredSample], states: list[f.StateSpan],
    judged: list[f.Span], rule: f.NetworkRule, days: list[f.Day],
) -> DeviceFigures:  # fmt: skip
    """`states` are what online time is judged on; `judged` the scheduled and powered time."""
    lo, hi = src.from_ms, src.to_ms
    by_tag: dict[str, list[StoredSample]] = defaultdict(list)
    for s in samples:
        by_tag[s.tag].append(s)
    online = f.online(states, judged)
    latencies = [float(v) for v in kpis.latencies(samples)]
    figures = DeviceFigures(
        device=dev,
        specs=specs,
        tags=[f.tag_figures(spec, by_tag.get(spec.tag, []), lo, hi, judged) for spec in specs],
        samples=samples,
        states=states,
        scheduled=judged,
        coverage=f.state_coverage(states, lo, hi),
        online=online,
        gaps=f.device_gaps(specs, samples, lo, hi, judged),
        good_ratio=f.good_ratio(samples),
        network=f.network_check(online.rate, [s.ts_ms for s in samples if s.good], judged, days, rule),
        latency_p50_ms=kpis.percentile(latencies, 50),
        latency_p95_ms=kpis.percentile(latencies, 95),
    )
    for day in days:
        lo, hi = day.start_ms, day.end_ms
        figures.days.append(
            DayFigures(
                day,
                [f.tag_figures(spec, by_tag.get(spec.tag, []), lo, hi, judged) for spec in specs],
                f.online(states, f.clip(judged, lo, hi)),
                f.state_coverage(states, lo, hi),
            )
        )
    return figures


def register(src: Sources) -> list[ind.RegisterEntry]:
    """The 设备台账 rows the indicators are computed on."""
    return register_entries(register_rows(src.plant.config))


def register_entries(rows: Iterable[RegisterRow]) -> list[ind.RegisterEntry]:
    """The plant file's register rows as the verifier reads them back from 设备台账.csv."""
    return [
        ind.RegisterEntry(
            r.id, r.category.value if r.category else "", r.counts_as_production, r.is_digital,
            r.is_networked, r.is_key_process, r.is_nc, r.process or "", r.networked_via or "",
        )
        for r in rows
    ]  # fmt: skip


def indicators(src: Sources, figures: list[DeviceFigures]) -> ind.Indicators:
    return ind.indicators(register(src), [d.device for d in figures if d.network.verified])


def auto_collection(figures: list[DeviceFigures]) -> ind.AutoCollection:
    specs = [s for d in figures for s in d.specs]
    return ind.auto_collection(specs, [t for d in figures for t in d.tags], AUTO_COLLECTION_THRESHOLD)


AUTO_COLLECTION_THRESHOLD = 0.95  # a required point counts as auto-collected at this completeness


@dataclass(frozen=True)
class OeeRow:
    """One row of OEE_按日.csv: a KPI window (day or shift) exactly as the collector recorded it."""

    device: str
    period: str  # day | shift
    label: str
    start_ms: int
    end_ms: int
    times: dict[str, float]  # seconds by ISO 22400 element: pot, pdot, pbt, apt, aust, adet, adot, unknown
    pq: int
    gq: int
    sq: int
    rq: int
    pri_s: float | None
    a: float | None
    e: float | None
    qr: float | None
    oee: float | None
    nee: float | None
    flags: tuple[str, ...]

    def hours(self, element: str) -> float | None:
        value = self.times.get(element)
        return None if value is None else value / 3600

    @property
    def inputs(self) -> kpis.OeeInputs:
        """What the verifier recomputes the row from (the CSV's hours back in seconds)."""
        pbt, apt = (self.hours("pbt") or 0.0) * 3600, (self.hours("apt") or 0.0) * 3600
        return kpis.OeeInputs(pbt, apt, kpis.ideal_time(self.pri_s, self.pq), self.pq, self.gq)


def oee_rows(src: Sources) -> list[OeeRow]:
    """The collector's KPI entries for day and shift windows (the latest entry per window wins). A row
    whose window overlaps a state interval a collector crash left unwritten is flagged collector_crash."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in src.of_type("KPI"):
        p = e["payload"]
        if p.get("period") in ("day", "shift"):
            latest[(str(p.get("device")), str(p["period"]), str(p.get("label")))] = p
    order = {d: i for i, d in enumerate(src.device_ids)}
    crashes = connectivity.crashes(src.entries)
    out = []
    for (device, period, label), p in sorted(
        latest.items(), key=lambda kv: (kv[0][2], order.get(kv[0][0], 0))
    ):
        q = p.get("qty") or {}
        times = {str(k).lower(): float(v) for k, v in (p.get("times") or {}).items() if v is not None}
        flags = tuple(str(x) for x in p.get("flags") or ())
        start, end = int(p.get("start", 0)), int(p.get("end", 0))
        if connectivity.crash_cutting(crashes, device, start, end) and connectivity.CRASH_FLAG not in flags:
            flags += (connectivity.CRASH_FLAG,)  # its state interval was cut: not recomputable (EVIDENCE.md)
        out.append(
            OeeRow(
                device, period, label, start, end, times,
                int(q.get("pq") or 0), int(q.get("gq") or 0), int(q.get("sq") or 0), int(q.get("rq") or 0),
                p.get("pri_s"), p.get("a"), p.get("e"), p.get("qr"), p.get("oee"), p.get("nee"), flags,
            )
        )  # fmt: skip
    return out


def counter_specs(src: Sources) -> list[oeewindow.CounterSpec]:
    """The rows of 计数器.csv."""
    return [
        oeewindow.CounterSpec(d.id, c.name, c.tag, c.role.value, c.width, c.max_rate, c.tolerance)
        for d in src.plant.config.devices
        for c in d.counters
    ]


def window_oee_rows(src: Sources, timeline: list[dict[str, Any]]) -> list[OeeRow]:
    """One OEE row per device with an OEE configuration over the pack window itself (oeewindow.py),
    computed from the timeline, 计划日历, the counter readings and 标准节拍 as the pack holds them."""
    states, plan, counters = state_spans(timeline), plan_segments(src), counter_specs(src)
    tags = {(c.device, c.tag) for c in counters}
    readings: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for s in src.samples:
        if (s.device, s.tag) in tags and oeewindow.usable(s.status):
            value = oeewindow.counter_value(s.value)
            if value is not None:
                readings[s.device][s.tag].append((s.ts_ms, value))
    label = f"{src.iso(src.from_ms)}–{src.iso(src.to_ms)}"
    out = []
    for d in src.plant.config.devices:
        if d.oee is None:
            continue
        w = oeewindow.window_oee(
            d.id, src.from_ms, src.to_ms, states.get(d.id, []), plan, counters, readings.get(d.id, {}),
            d.oee.ideal_cycle_time,
        )  # fmt: skip
        t = w.times
        times = {"pot": t.pot, "pdot": t.pdot, "pbt": t.pbt, "apt": t.apt, "aust": t.aust, "adet": t.adet,
                 "adot": t.adot, "apmt": t.apmt, "unknown": t.unknown}  # fmt: skip
        f_ = w.figures
        out.append(
            OeeRow(d.id, oeewindow.PERIOD, label, src.from_ms, src.to_ms, times, w.pq, w.gq, w.sq, 0, w.pri_s,
                   f_.a, f_.e, f_.qr, f_.oee, None, w.flags)
        )  # fmt: skip
    return out


def plant_oee(rows: list[OeeRow]) -> float | None:
    """Headline OEE: ISO 22400 aggregation of the base elements of every device's day rows; a pack
    without day rows (a short run) aggregates the "window" rows instead."""
    days = [r for r in rows if r.period == "day"]
    return kpis.oee_total(r.inputs for r in days or [r for r in rows if r.period == oeewindow.PERIOD]).oee
