"""OEE of the pack window itself, from what the pack holds (ISO 22400-2, docs/STANDARDS.md §3, §4).

STDLIB ONLY: copied into every pack as ``verify/oeewindow.py``; the builder (figures.py) and the
verifier (oeecheck.py) both call `window_oee`, so the row recomputes exactly.

The collector's own KPI entries cover whole shifts and days, and a window that began before the
collector started is never reported, so a short run has none. For every device with an OEE
configuration the pack therefore adds one row, period "window", over [from, to) of the pack:
- time elements: kpis.time_elements over 状态时间线 (clipped to the window) and 计划日历;
- quantities: the device's part counters (07_kpi/计数器.csv) read back from 05_raw_samples. Each
  step between consecutive usable readings in the window adds parts the way the collector's
  PartCounter does (`kpimodel.count_step`): a rise counts the difference; a drop from the top 10 %
  of the counter's range to above 0 is a rollover, any other drop a reset (the new value counts); a
  step above max_rate × (time since the counter last moved) × (1 + tolerance) + 1 is quarantined
  (not counted). Parts made before the first reading in the window
  are not counted (the baseline is that reading). Only parts made in planned time count, as in the
  collector's KPI records (collector.normalise.oee), so E and OEE compare them with the APT of that
  time: a step's parts are made just before its later reading (at the middle of an OFFLINE gap the
  step spans, `kpimodel.made_at`) and count when that lies in a planned segment of the device (计划日历, PBT
  or PDOT: running through a break is APT too); a device without any planned segment counts the
  whole window, like the collector without a calendar. PQ = Σ "all" counters (without one, good + scrap);
  GQ = Σ "good" counters when there is one, else PQ − SQ;
- PRI = the device's ideal cycle time (标准节拍, program ""); per-program times need the program
  of each part, which the pack does not hold.
A device without counters gets no quantities: flag "qty_unavailable", E/QR/OEE are null.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from . import kpis
from .formulas import PlanSegment, StateSpan, is_good
from .vendor import kpimodel

PERIOD = "window"
COUNTERS_CSV = "07_kpi/计数器.csv"


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """One row of 计数器.csv: a part counter tag of a device."""

    device: str
    counter: str
    tag: str
    role: str  # all | good | scrap
    width: int = 32
    max_rate: float | None = None
    tolerance: float = 0.5


@dataclass(frozen=True, slots=True)
class Counted:
    parts: int
    quarantined: int
    resets: int


def counter_value(value: object) -> int | None:
    """A counter reading as an integer: int, integral float, or their text (CSV cell); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


Span = tuple[int, int]


def planned_spans(segments: Iterable[PlanSegment], device: str, start: int, end: int) -> list[Span] | None:
    """The device's planned time (PBT and PDOT segments) in [start, end); None without any segment
    for the device (no calendar: every part counts, as in the collector)."""
    own = [g for g in segments if g.applies_to(device)]
    if not own:
        return None
    return sorted(
        (max(g.start_ms, start), min(g.end_ms, end)) for g in own if g.end_ms > start and g.start_ms < end
    )


def in_spans(ts: int, spans: Sequence[Span] | None) -> bool:
    return spans is None or any(lo <= ts < hi for lo, hi in spans)


def count_parts(
    spec: CounterSpec, readings: Iterable[tuple[int, int]], start: int, end: int,
    planned: Sequence[Span] | None = None, offline: Sequence[Span] = (),
) -> Counted:  # fmt: skip
    """Parts one counter adds in [start, end) from its usable (ts_ms, value) readings; with `planned`,
    only the steps whose parts were made (`kpimodel.made_at`, OFFLINE gaps from `offline`) in planned time."""
    mod = 1 << spec.width
    points = sorted((ts, v % mod) for ts, v in readings if start <= ts < end)
    parts = quarantined = resets = 0
    moved = points[0][0] if points else start  # when the counter last moved (the baseline: first reading)
    for (t0, before), (t1, now) in pairwise(points):
        counts = in_spans(kpimodel.made_at(t0, t1, offline), planned)
        step = kpimodel.count_step(before, now, mod, spec.max_rate, spec.tolerance, t1 - moved)
        if now != before:
            moved = t1
        resets += step.kind == "RESET"
        if counts:
            parts, quarantined = parts + step.parts, quarantined + step.quarantined
    return Counted(parts, quarantined, resets)


@dataclass(frozen=True, slots=True)
class WindowOee:
    times: kpis.TimeElements
    pq: int
    gq: int
    sq: int
    pri_s: float | None
    ideal_s: float | None
    figures: kpis.Oee
    flags: tuple[str, ...]


def window_oee(
    device: str, start: int, end: int, states: Sequence[StateSpan], segments: Sequence[PlanSegment],
    counters: Sequence[CounterSpec], readings: Mapping[str, Sequence[tuple[int, int]]], pri_s: float | None,
    limits: tuple[float, float] = (1.05, 0.05),
) -> WindowOee:  # fmt: skip
    """The "window" OEE row of `device`; `readings` maps a counter tag to its usable readings;
    `limits` are the device's E and UNKNOWN flag limits (oee.effectiveness_flag, unknown_flag)."""
    times = kpis.time_elements(states, segments, device, start, end)
    flags = [PERIOD]
    if not any(g.applies_to(device) for g in segments):
        flags.append("calendar_missing")
    own = [c for c in counters if c.device == device]
    if not own:
        flags += [*kpimodel.quality_flags(None, times, *limits), kpimodel.QTY_UNAVAILABLE]
        return WindowOee(
            times, 0, 0, 0, pri_s, None, kpis.oee(times.apt, times.pbt, None, 0, 0), tuple(flags)
        )
    totals = {"all": 0, "good": 0, "scrap": 0}
    quarantined = resets = 0
    planned = planned_spans(segments, device, start, end)
    offline = sorted((s.start_ms, s.end_ms) for s in states if s.device == device and s.state == "OFFLINE")
    for c in own:
        got = count_parts(c, readings.get(c.tag, ()), start, end, planned, offline)
        totals[c.role] = totals.get(c.role, 0) + got.parts
        quarantined, resets = quarantined + got.quarantined, resets + got.resets
    has_good = any(c.role == "good" for c in own)
    has_all = any(c.role == "all" for c in own)
    pq = totals["all"] if has_all or not has_good else totals["good"] + totals["scrap"]
    sq = totals["scrap"]
    gq = totals["good"] if has_good else max(pq - sq, 0)
    ideal = kpis.ideal_time(pri_s, pq)
    flags.append("qty_from_counter_readings")
    figures = kpis.oee(times.apt, times.pbt, ideal, pq, gq)
    flags += kpimodel.quality_flags(figures.e, times, *limits)
    if resets:
        flags.append("counter_reset")
    if quarantined:
        flags.append("counter_implausible")
    if ideal is None:
        flags.append("pri_missing")
    return WindowOee(times, pq, gq, sq, pri_s, ideal, figures, tuple(flags))


def usable(status: int) -> bool:
    """A counter reading counts unless Bad (PartCounter ignores Bad, takes Uncertain)."""
    return is_good(status) or (status >> 30) & 0b11 == 0b01
