"""The shift calendar compiled to UTC-millisecond segments: POT split into PBT and PDOT, and the
hour/shift/day windows KPIs are reported for. Local times follow the calendar's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from collector.config.calendar import WEEKDAYS, Break, CalendarConfig, Holiday, Shift, Workday
from collector.normalise.kpimodel import Span, merge, subtract
from collector.normalise.records import Period
from collector.normalise.state_rules import rule_hash


@dataclass(frozen=True, slots=True)
class Window:
    period: Period
    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of planned operation time: kind is "PBT" (planned busy) or "PDOT" (planned down)."""

    start: int
    end: int
    kind: str


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return merge(s for s in out if s[1] > s[0])


class ShiftCalendar:
    def __init__(self, cfg: CalendarConfig, site_timezone: str = "Asia/Shanghai") -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone or site_timezone)
        # The zone is part of what defines POT, so it is part of the hash.
        self.hash = rule_hash(cfg.model_copy(update={"timezone": cfg.timezone or site_timezone}))

    @property
    def missing(self) -> bool:
        return not self.cfg.shifts

    def _ms(self, day: date, at: time) -> int:
        return int(datetime.combine(day, at, self.tz).timestamp() * 1000)

    def _days(self, start_ms: int, end_ms: int) -> list[date]:
        """Local dates covering the range, one day earlier for shifts that run past midnight."""
        first = datetime.fromtimestamp(start_ms / 1000, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end_ms / 1000, self.tz).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def shifts(self, start_ms: int, end_ms: int) -> list[tuple[date, Shift, Span]]:
        out = []
        for day in self._days(start_ms, end_ms):
            weekday = self._works_as(day)
            for shift in self.cfg.shifts:
                if weekday is None or weekday not in shift.days:
                    continue
                span = self._span(day, shift.start, shift.end)
                if span[1] > start_ms and span[0] < end_ms:
                    out.append((day, shift, span))
        return sorted(out, key=lambda item: item[2])

    def _works_as(self, day: date) -> str | None:
        """The weekday whose shifts start on `day`: None on a holiday, `shifts_of` on a make-up
        workday (调休), else its own weekday."""
        exception = self.cfg.day_exception(day)
        if isinstance(exception, Holiday):
            return None
        if isinstance(exception, Workday):
            return exception.shifts_of
        return WEEKDAYS[day.weekday()]

    def _span(self, day: date, start: time, end: time) -> Span:
        later = day + timedelta(days=1) if end <= start else day
        return self._ms(day, start), self._ms(later, end)

    def _break_spans(self, day: date, shift: Shift, span: Span) -> list[Span]:
        out = []
        for brk in self.cfg.breaks:
            if brk.shifts is not None and shift.name not in brk.shifts:
                continue
            out.extend(self._break_in(day, brk, span))
        return out

    def _break_in(self, day: date, brk: Break, span: Span) -> list[Span]:
        # A night shift's break may fall on the next calendar day: try both.
        spans = [self._span(d, brk.start, brk.end) for d in (day, day + timedelta(days=1))]
        return intersect(merge(spans), [span])

    def planned(self, start_ms: int, end_ms: int, device: str | None = None) -> list[Segment]:
        """POT within [start, end) as PBT and PDOT segments (breaks and planned stops are PDOT)."""
        shifts = self.shifts(start_ms, end_ms)
        pot = intersect(merge(s for _, _, s in shifts), [(start_ms, end_ms)])
        down = [b for day, shift, span in shifts for b in self._break_spans(day, shift, span)]
        for stop in self.cfg.planned_stops:
            if stop.devices is None or device in stop.devices:
                down.append((self._to_ms(stop.start), self._to_ms(stop.end)))
        pdot = intersect(pot, merge(down))
        segments = [Segment(s, e, "PBT") for s, e in subtract(pot, pdot)]
        segments += [Segment(s, e, "PDOT") for s, e in pdot]
        return sorted(segments, key=lambda seg: seg.start)

    def _to_ms(self, when: datetime) -> int:
        aware = when if when.tzinfo else when.replace(tzinfo=self.tz)
        return int(aware.timestamp() * 1000)

    def windows(self, period: Period, start_ms: int, end_ms: int) -> list[Window]:
        """Reporting windows that overlap [start, end): local hours, shifts or local days."""
        if period is Period.SHIFT:
            return [
                Window(period, f"{day.isoformat()}/{shift.name}", s, e)
                for day, shift, (s, e) in self.shifts(start_ms, end_ms)
            ]
        out = []
        for day in self._days(start_ms, end_ms):
            if period is Period.DAY:
                bounds = [
                    (day.isoformat(), self._ms(day, time(0)), self._ms(day + timedelta(days=1), time(0)))
                ]
            else:
                bounds = [(f"{day.isoformat()}T{h:02d}", *self._hour(day, h)) for h in range(24)]
            out += [Window(period, label, s, e) for label, s, e in bounds if e > start_ms and s < end_ms]
        return out

    def _hour(self, day: date, hour: int) -> Span:
        start = self._ms(day, time(hour))
        nxt = self._ms(day + timedelta(days=1), time(0)) if hour == 23 else self._ms(day, time(hour + 1))
        return start, nxt
