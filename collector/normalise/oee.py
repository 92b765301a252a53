"""ISO 22400-2 time elements and KPIs per hour, shift and day (docs/STANDARDS.md §3).

Inside PBT every state interval adds its bucket; OFFLINE and time with no interval at all are
UNKNOWN, reported on their own and never folded into another element. Inside PDOT (breaks, planned
stops) only APT/AUST count, because running through a break is still production (docs/STANDARDS.md §3.5). Time
outside the shift calendar is not planned and is not counted, and neither are the parts made in it:
PQ/GQ/SQ count the parts made in the window's planned segments (PBT or PDOT), so E = PRI·PQ/APT
compares parts and time of the same span (a day window's parts of an unplanned evening would
otherwise be divided by the shift's APT). Without a calendar the whole window is planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from collector.config.calendar import OeeConfig
from collector.config.state import CounterRole
from collector.normalise.kpimodel import (
    QTY_UNAVAILABLE,
    TimeElements,
    TimeTally,
    made_at,
    quality_flags,
    ratios,
)
from collector.normalise.records import (
    CounterDelta,
    CounterEvent,
    CounterEventKind,
    KpiRecord,
    Period,
    Quantities,
    State,
    StateInterval,
)
from collector.normalise.shifts import Segment, ShiftCalendar, Window

PARTIAL = "partial"  # a window that began before the collector started: completed from the ledger


@dataclass(frozen=True, slots=True)
class KpiInputs:
    """Everything one device's KPIs are computed from, for a reporting range."""

    device: str
    intervals: Sequence[StateInterval]
    deltas: Sequence[CounterDelta] = ()
    events: Sequence[CounterEvent] = ()
    good_counter: bool = False  # a GOOD counter exists: GQ from it, else GQ = PQ - SQ
    counted: bool = True  # the device has a part counter; without one E, QR and OEE are null


def compute_kpis(
    inputs: KpiInputs, calendar: ShiftCalendar, oee: OeeConfig | None, period: Period, start: int, end: int
) -> list[KpiRecord]:
    """One KpiRecord per window of `period` overlapping [start, end) (UTC ms)."""
    return [kpi_window(inputs, calendar, oee, w) for w in calendar.windows(period, start, end)]


def kpi_window(inputs: KpiInputs, calendar: ShiftCalendar, oee: OeeConfig | None, w: Window) -> KpiRecord:
    tally = WindowTally.open(calendar, w, inputs.device)
    for iv in inputs.intervals:
        tally.add_interval(iv)
    for d in inputs.deltas:
        tally.add_parts(d, attributed(d, inputs.intervals), oee)
    for ev in inputs.events:
        tally.add_event(ev)
    return tally.record(inputs.device, calendar.hash, oee, inputs.good_counter, inputs.counted)


class WindowTally:
    """Time elements and part counts of one window, built up interval by interval and part by part:
    the KPI tracker adds them as they happen (memory stays flat however long the window), and
    `kpi_window` adds a whole history at once. Both give the same record."""

    def __init__(self, window: Window, segments: Sequence[Segment], flags: tuple[str, ...] = ()) -> None:
        self.window = window
        self.segments = tuple(segments)
        self.flags = flags
        self.used = 0  # intervals overlapping the window (the record's `intervals`)
        self._time = TimeTally((seg.start, seg.end, seg.kind) for seg in self.segments)
        self._n = dict.fromkeys(CounterRole, 0)
        self._sum = dict.fromkeys(CounterRole, 0)
        self._ideal: dict[CounterRole, float | None] = dict.fromkeys(CounterRole, 0.0)
        self._quarantined = 0
        self._reset = False

    @classmethod
    def open(cls, calendar: ShiftCalendar, w: Window, device: str, partial: bool = False) -> WindowTally:
        """`partial`: the window began before the collector (a start or reload inside it)."""
        flags = (PARTIAL,) if partial else ()
        if calendar.missing:  # no calendar: the whole window is planned
            return cls(w, [Segment(w.start, w.end, "PBT")], ("calendar_missing", *flags))
        return cls(w, calendar.planned(w.start, w.end, device), flags)

    def add_interval(self, iv: StateInterval) -> None:
        if iv.end <= self.window.start or iv.start >= self.window.end:
            return
        self.used += 1
        self._time.add(iv.start, iv.end, iv.bucket)

    def add_parts(self, d: CounterDelta, at: int, oee: OeeConfig | None) -> None:
        """Parts attributed to `at` count when `at` lies in one of the window's planned segments."""
        if not any(s.start <= at < s.end for s in self.segments):
            return
        self._n[d.role] += 1
        self._sum[d.role] += d.delta
        self._quarantined += d.quarantined
        pri, ideal = _pri(oee, d.program), self._ideal[d.role]
        self._ideal[d.role] = None if pri is None or ideal is None else ideal + pri * d.delta

    def add_event(self, ev: CounterEvent) -> None:
        if ev.event is CounterEventKind.RESET and self.window.start <= ev.ts < self.window.end:
            self._reset = True

    def times(self) -> TimeElements:
        return self._time.elements()

    def parts(self) -> dict[str, Any]:
        """The window's part tallies as JSON, for a restarted collector to go on from (its time is
        rebuilt from the ledger's state intervals instead, which the pack recomputes)."""
        return {
            "n": {r.value: n for r, n in self._n.items()},
            "sum": {r.value: n for r, n in self._sum.items()},
            "ideal": {r.value: v for r, v in self._ideal.items()},
            "quarantined": self._quarantined,
            "reset": self._reset,
        }

    def add_saved_parts(self, data: Mapping[str, Any]) -> bool:
        """Add the tallies `parts()` saved; False (nothing added) when they do not read back."""
        try:
            n = {r: int(data["n"][r.value]) for r in CounterRole}
            sums = {r: int(data["sum"][r.value]) for r in CounterRole}
            ideal = {r: _opt_float(data["ideal"][r.value]) for r in CounterRole}
            quarantined, reset = int(data["quarantined"]), bool(data["reset"])
        except (KeyError, TypeError, ValueError):
            return False
        for r in CounterRole:
            self._n[r] += n[r]
            self._sum[r] += sums[r]
            mine, saved = self._ideal[r], ideal[r]
            self._ideal[r] = None if mine is None or saved is None else mine + saved
        self._quarantined += quarantined
        self._reset = self._reset or reset
        return True

    def quantities(self, good_counter: bool) -> tuple[Quantities, float | None]:
        """PQ, GQ, SQ made in the window's planned segments and Σ PRI·PQ (None when some produced
        part has no PRI). Without an "all" counter, every good or scrap part was produced."""
        produced = [CounterRole.ALL]
        if not self._n[CounterRole.ALL] and good_counter:
            produced = [r for r in CounterRole if r is not CounterRole.ALL]
        pq = sum(self._sum[r] for r in produced)
        sq = self._sum[CounterRole.SCRAP]
        gq = self._sum[CounterRole.GOOD] if good_counter else max(pq - sq, 0)
        parts = [self._ideal[r] for r in produced]
        ideal = None if None in parts else sum(p for p in parts if p is not None)
        return Quantities(pq=pq, gq=gq, sq=sq, quarantined=self._quarantined), ideal if pq else 0.0

    def record(
        self, device: str, calendar_hash: str, oee: OeeConfig | None, good_counter: bool, counted: bool = True
    ) -> KpiRecord:
        """The window's record. A device without a part counter (`counted` false) has no quantities:
        E, QR, OEE and NEE are null and the record is flagged qty_unavailable, never E = 0."""
        qty, ideal = self.quantities(good_counter) if counted else (Quantities(0, 0, 0), None)
        record = _ratios(device, self.window, self.times(), qty, ideal, oee, calendar_hash, self.used)
        flags = [*self.flags] if counted else [*self.flags, QTY_UNAVAILABLE]
        return _flagged(record, flags, self._reset, oee)


def attributed(delta: CounterDelta, intervals: Sequence[StateInterval]) -> int:
    """When the parts of a delta were made: inside an OFFLINE gap it spans, at the gap's middle, not
    in the first window after it (docs/STANDARDS.md §4.5)."""
    if delta.since is None:
        return delta.ts
    offline = [(i.start, i.end) for i in intervals if i.state is State.OFFLINE]
    return made_at(delta.since, delta.ts, offline)


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a number: {value!r}")


def _pri(oee: OeeConfig | None, program: str | None) -> float | None:
    if oee is None:
        return None
    if program is not None and program in oee.per_program:
        return oee.per_program[program]
    return oee.ideal_cycle_time


def _ratios(
    device: str,
    w: Window,
    t: TimeElements,
    qty: Quantities,
    ideal: float | None,
    oee: OeeConfig | None,
    calendar_hash: str,
    used: int,
) -> KpiRecord:
    r = ratios(t, ideal, qty.pq, qty.gq)
    pri = ideal / qty.pq if ideal is not None and qty.pq else (oee.ideal_cycle_time if oee else None)
    return KpiRecord(
        device=device,
        period=w.period,
        label=w.label,
        start=w.start,
        end=w.end,
        times=t,
        qty=qty,
        pri_s=pri,
        ideal_s=ideal,
        a=r.a,
        e=r.e,
        qr=r.qr,
        oee=r.oee,
        nee=r.nee,
        te=r.te,
        flags=(),
        intervals=used,
        calendar=calendar_hash,
    )


def _flagged(record: KpiRecord, flags: list[str], reset: bool, oee: OeeConfig | None) -> KpiRecord:
    if oee is None:
        flags += quality_flags(record.e, record.times)
    else:
        flags += quality_flags(record.e, record.times, oee.effectiveness_flag, oee.unknown_flag)
    if reset:
        flags.append("counter_reset")
    if record.qty.quarantined:
        flags.append("counter_implausible")
    if record.qty.pq and record.ideal_s is None:
        flags.append("pri_missing")
    return replace(record, flags=tuple(flags))


def seconds_in_pbt(interval: StateInterval, calendar: ShiftCalendar) -> float:
    """The `in_PBT` column of 状态时间线.csv: how much of an interval lies in planned busy time."""
    segments = calendar.planned(interval.start, interval.end, interval.device)
    if calendar.missing:
        return interval.duration_s
    return (
        sum(min(s.end, interval.end) - max(s.start, interval.start) for s in segments if s.kind == "PBT")
        / 1000
    )
