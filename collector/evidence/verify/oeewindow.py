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
- PRI = the ideal cycle time (标准节拍) of the program active when each part was counted: the last
  reading of the device's program tag (标准节拍's program_tag column) at or before the counter
  reading, as the collector applies it; the device's default (program "") otherwise. The row's
  PRI_s is Σ PRI·PQ / PQ.
A device without counters gets no quantities: flag "qty_unavailable", E/QR/OEE are null.
"""

from __future__ import annotations

from bisect import bisect_right
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
    ideal: float | None = None  # Σ PRI × parts counted (with cycle times given); None: a part had no PRI


class CycleTimes:
    """A device's ideal cycle times (标准节拍): the default PRI, PRI by program, and the readings of
    its program tag, (ts, value), that say which program was active when a part was counted: the
    one last read at or before the counter reading, as the collector applies it."""

    def __init__(
        self, default: float | None, by_program: Mapping[str, float] | None = None,
        programs: Iterable[tuple[int, object]] = (),
    ) -> None:  # fmt: skip
        self.default = default
        self.by_program = dict(by_program or {})
        named = sorted((ts, name) for ts, v in programs if (name := kpimodel.program_name(v)) is not None)
        self._ts = [ts for ts, _ in named]
        self._names = [name for _, name in named]

    def at(self, ts: int) -> float | None:
        index = bisect_right(self._ts, ts)
        program = self._names[index - 1] if index else None
        if program is not None and program in self.by_program:
            return self.by_program[program]
        return self.default


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
    planned: Sequence[Span] | None = None, offline: Sequence[Span] = (), pri: CycleTimes | None = None,
) -> Counted:  # fmt: skip
    """Parts one counter adds in [start, end) from its usable (ts_ms, value) readings; with `planned`,
    only the steps whose parts were made (`kpimodel.made_at`, OFFLINE gaps from `offline`) in planned
    time; with `pri`, also Σ PRI × parts, each step at the PRI of the program active at its reading."""
    mod = 1 << spec.width
    points = sorted((ts, v % mod) for ts, v in readings if start <= ts < end)
    parts = quarantined = resets = 0
    ideal: float | None = 0.0 if pri is not None else None
    moved = points[0][0] if points else start  # when the counter last moved (the baseline: first reading)
    for (t0, before), (t1, now) in pairwise(points):
        counts = in_spans(kpimodel.made_at(t0, t1, offline), planned)
        step = kpimodel.count_step(before, now, mod, spec.max_rate, spec.tolerance, t1 - moved)
        if now != before:
            moved = t1
        resets += step.kind == "RESET"
        if counts:
            parts, quarantined = parts + step.parts, quarantined + step.quarantined
            if pri is not None and step.parts:
                at = pri.at(t1)
                ideal = None if ideal is None or at is None else ideal + at * step.parts
    return Counted(parts, quarantined, resets, ideal)


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
    counters: Sequence[CounterSpec], readings: Mapping[str, Sequence[tuple[int, int]]],
    pri: CycleTimes | float | None, limits: tuple[float, float] = (1.05, 0.05),
) -> WindowOee:  # fmt: skip
    """The "window" OEE row of `device`; `readings` maps a counter tag to its usable readings; `pri`
    is the device's ideal cycle time (or its CycleTimes when programs have their own); `limits` are
    the device's E and UNKNOWN flag limits (oee.effectiveness_flag, unknown_flag)."""
    cycle = pri if isinstance(pri, CycleTimes) else CycleTimes(pri)
    pri_s = cycle.default
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
    planned = planned_spans(segments, device, start, end)
    offline = sorted((s.start_ms, s.end_ms) for s in states if s.device == device and s.state == "OFFLINE")
    q = _quantities(
        [(c, count_parts(c, readings.get(c.tag, ()), start, end, planned, offline, cycle)) for c in own]
    )
    if q.ideal and q.pq:
        pri_s = (
            q.ideal / q.pq
        )  # quantity-weighted when programs have their own PRI, as the collector reports it
    flags.append("qty_from_counter_readings")
    figures = kpis.oee(times.apt, times.pbt, q.ideal, q.pq, q.gq)
    flags += kpimodel.quality_flags(figures.e, times, *limits)
    if q.resets:
        flags.append("counter_reset")
    if q.quarantined:
        flags.append("counter_implausible")
    if q.ideal is None:
        flags.append("pri_missing")
    return WindowOee(times, q.pq, q.gq, q.sq, pri_s, q.ideal, figures, tuple(flags))


@dataclass(frozen=True, slots=True)
class _Quantities:
    pq: int
    gq: int
    sq: int
    ideal: float | None  # Σ PRI·PQ: 0 when nothing was produced, None when a produced part has no PRI
    quarantined: int
    resets: int


def _quantities(counted: Sequence[tuple[CounterSpec, Counted]]) -> _Quantities:
    """PQ = Σ "all" counters (without one, good + scrap); GQ = Σ "good" counters, else PQ − SQ."""
    totals = {"all": 0, "good": 0, "scrap": 0}
    ideals: dict[str, float | None] = {"all": 0.0, "good": 0.0, "scrap": 0.0}
    for c, got in counted:
        totals[c.role] = totals.get(c.role, 0) + got.parts
        before = ideals.get(c.role, 0.0)
        ideals[c.role] = None if before is None or got.ideal is None else before + got.ideal
    roles = {c.role for c, _ in counted}
    produced = ["all"] if "all" in roles or "good" not in roles else ["good", "scrap"]
    pq, sq = sum(totals[r] for r in produced), totals["scrap"]
    gq = totals["good"] if "good" in roles else max(pq - sq, 0)
    parts = [ideals[r] for r in produced]
    ideal = 0.0 if not pq else None if None in parts else sum(p for p in parts if p is not None)
    quarantined = sum(got.quarantined for _, got in counted)
    return _Quantities(pq, gq, sq, ideal, quarantined, sum(got.resets for _, got in counted))


def usable(status: int) -> bool:
    """A counter reading counts unless Bad (PartCounter ignores Bad, takes Uncertain)."""
    return is_good(status) or (status >> 30) & 0b11 == 0b01
