"""The plant's shift calendar (POT, breaks, planned stops) and a device's OEE settings (ISO 22400-2).

PBT and PRI are not machine data (docs/STANDARDS.md §3.4): they come from here, and the evidence pack
shows them.
Times of day and planned-stop dates are local to the calendar's time zone (default: the site's).
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import Id, Strict
from collector.config.site import _check_tz
from collector.config.units import Duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _expand_days(value: Any) -> Any:
    """Accept 'mon..fri' (or 'mon-fri') as shorthand for the list of days it spans."""
    if not isinstance(value, str):
        return value
    parts = value.replace("..", "-").split("-")
    if len(parts) == 2 and all(p in WEEKDAYS for p in parts):
        first, last = (WEEKDAYS.index(p) for p in parts)
        if first <= last:
            return list(WEEKDAYS[first : last + 1])
    if value in WEEKDAYS:
        return [value]
    raise PydanticCustomError(
        "weekdays",
        "'{value}' is not a list of weekdays",
        {"value": value, "hint": "write [mon, tue, wed] or 'mon..fri'"},
    )


Days = Annotated[list[Weekday], BeforeValidator(_expand_days)]
# Shift names appear in KPI labels ("2026-11-25/A"): short, no spaces or slashes.
ShiftName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class Shift(Strict):
    name: ShiftName
    start: time
    end: time = Field(description="equal to or before start means the shift ends the next day")
    days: Days = Field(default_factory=lambda: list(WEEKDAYS), description="days the shift starts on")


class Break(Strict):
    start: time
    end: time
    name: str | None = None
    shifts: list[ShiftName] | None = Field(None, description="only in these shifts; default: every shift")


class PlannedStop(Strict):
    start: datetime
    end: datetime
    reason: str = "planned"
    devices: list[Id] | None = Field(None, description="default: every device")

    @model_validator(mode="after")
    def _ordered(self) -> PlannedStop:
        if self.end <= self.start:
            raise PydanticCustomError(
                "planned_stop_order",
                "planned stop ends before it starts",
                {"hint": "end must be after start, e.g. start: 2026-11-25T14:00, end: 2026-11-25T16:00"},
            )
        return self


def _dated(value: Any) -> Any:
    """A bare date stands for {date: ...}."""
    return {"date": value} if isinstance(value, str | date) else value


class Holiday(Strict):
    """法定节假日 or any other dated day off: no shift starts on it."""

    date: date
    name: str | None = None


class Workday(Strict):
    """调休 make-up workday: the shifts of weekday `shifts_of` start on it, whatever day it is."""

    date: date
    name: str | None = None
    shifts_of: Weekday = Field("mon", description="the weekday whose shifts run on this date")


def _unique_shifts(shifts: list[Shift]) -> list[Shift]:
    names = [s.name for s in shifts]
    for name in names:
        if names.count(name) > 1:
            raise PydanticCustomError(
                "duplicate_shift", "duplicate shift '{name}'", {"name": name, "hint": "name each shift once"}
            )
    return shifts


class CalendarConfig(Strict):
    timezone: Annotated[str, AfterValidator(_check_tz)] | None = Field(None, description="default: site")
    shifts: Annotated[list[Shift], AfterValidator(_unique_shifts)] = Field(default_factory=list)
    breaks: list[Break] = Field(default_factory=list)
    planned_stops: list[PlannedStop] = Field(default_factory=list)
    holidays: list[Annotated[Holiday, BeforeValidator(_dated)]] = Field(default_factory=list)
    workdays: list[Annotated[Workday, BeforeValidator(_dated)]] = Field(default_factory=list)
    exceptions_file: Path | None = Field(
        None,
        description="CSV/XLSX of dated exceptions (日期, 类型 节假日|调休, 名称) added to the lists",
    )

    @model_validator(mode="after")
    def _no_day_both(self) -> CalendarConfig:
        both = sorted({h.date for h in self.holidays} & {w.date for w in self.workdays})
        if both:
            raise PydanticCustomError(
                "calendar_exception_conflict",
                "{day} is both a holiday and a make-up workday",
                {"day": both[0].isoformat(), "hint": "keep the date in one of holidays / workdays"},
            )
        return self

    def day_exception(self, day: date) -> Holiday | Workday | None:
        for holiday in self.holidays:
            if holiday.date == day:
                return holiday
        return next((w for w in self.workdays if w.date == day), None)


class OeeConfig(Strict):
    """Per-device OEE inputs: the ideal cycle time (PRI), optionally per program, and flag limits."""

    ideal_cycle_time: Duration | None = Field(None, description="PRI: ideal seconds per part")
    per_program: dict[str, Duration] = Field(default_factory=dict, description="PRI by program name")
    program_input: str | None = Field(None, description="tag holding the active program name")
    effectiveness_flag: float = Field(1.05, gt=0, description="flag E above this (wrong PRI or counter)")
    unknown_flag: float = Field(0.05, ge=0, description="flag UNKNOWN above this share of PBT")
