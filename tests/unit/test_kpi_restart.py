"""KPI windows survive restarts and reloads (issue 15, bullet 2): a collector started at 08:05 still
reports that shift and that day, flagged partial, completed from the ledger's state intervals and
the part tallies its previous run saved."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.config.calendar import CalendarConfig
from collector.config.modbus import ModbusTcpDevice
from collector.model import Reading
from collector.normalise.device import DeviceEvents, DeviceNormaliser
from collector.normalise.records import KpiRecord, Period, StateInterval
from collector.normalise.shifts import ShiftCalendar

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")
MIN = 60_000


def at(hh: int, mm: int = 0, day: int = 25) -> int:
    return int(datetime(2026, 11, day, hh, mm, tzinfo=TZ).timestamp() * 1000)


DEVICE = ModbusTcpDevice.model_validate(
    {
        "id": "m1", "protocol": "modbus_tcp", "host": "h",
        "tags": [{"name": "run", "address": "000001", "type": "bool"}, {"name": "parts", "address": 40001}],
        "state": {"template": "conditions", "debounce": {"default": "0s"}, "stale_timeout": "1h",
                  "conditions": [{"state": "RUNNING", "when": "run == true"}]},
        "counters": [{"name": "parts", "tag": "parts", "width": 16}],
        "oee": {"ideal_cycle_time": "60s"},
    }
)  # fmt: skip
CALENDAR = ShiftCalendar(
    CalendarConfig.model_validate({"shifts": [{"name": "A", "start": "08:00", "end": "16:00"}]}),
    "Asia/Shanghai",
)


class Run:
    """One collector run of the device: readings once a minute, a part a minute while running; the
    intervals it closes are what the recorder writes to the ledger."""

    def __init__(self, state_dir: Path, start: int, history: list[StateInterval]) -> None:
        self.norm = DeviceNormaliser(DEVICE, state_dir, CALENDAR, start, history)
        self.intervals: list[StateInterval] = []
        self.records: list[KpiRecord] = []

    def take(self, ev: DeviceEvents) -> None:
        self.intervals += [c.closed for c in ev.states if c.closed is not None]
        self.records += ev.kpis

    def minutes(self, start: int, end: int, parts: int) -> int:
        for ts in range(start, end, MIN):
            readings = [
                Reading("m1", "run", True, 0, None, ts, 1, 0),
                Reading("m1", "parts", parts, 0, None, ts, 1, 0),
            ]
            self.take(self.norm.observe(ts, readings))
            parts += 1
        return parts

    def stop(self, ts: int) -> list[StateInterval]:
        """Shutdown: the worker finishes, the recorder cuts the open interval at the stop."""
        self.take(self.norm.finish(ts))
        assert self.norm.machine is not None
        cut = self.norm.machine.close(ts)
        return [*self.intervals, *([cut] if cut is not None else [])]


def test_a_restart_at_0805_reports_the_shift_and_the_day_completed_from_the_ledger(tmp_path: Path) -> None:
    first = Run(tmp_path, at(7, 30), [])
    parts = first.minutes(at(7, 30), at(8, 5), 1000)  # running 07:30-08:05, a part a minute
    ledger = first.stop(at(8, 5))
    assert all(r.period is Period.HOUR for r in first.records)  # the shift and the day were still open

    second = Run(tmp_path, at(8, 6), ledger)  # restarted a minute later
    second.minutes(at(8, 6), at(16, 0) + MIN, parts + 1)  # the part made while it was down counts too
    shift = next(r for r in second.records if r.period is Period.SHIFT)
    assert shift.label == "2026-11-25/A" and shift.flags[0] == "partial"
    # 08:00-08:05 from the ledger, 08:05-08:06 unobserved, 08:06-16:00 observed
    assert (shift.times.apt, shift.times.unknown, shift.times.pbt) == (28_740, 60, 28_800)
    # 4 parts the first run counted in the shift (08:01-08:04; its tallies were saved), 2 at the
    # restart (one made while the collector was down), 474 after: one a minute, as made
    assert shift.qty.pq == 4 + 2 + 474 == 480
    second.minutes(at(0, 0, day=26), at(0, 1, day=26), parts + 2000)
    day = next(r for r in second.records if r.period is Period.DAY)
    assert day.label == "2026-11-25" and day.flags[0] == "partial"
    assert day.times.apt == 28_740  # the day's planned time is the shift's


def test_without_the_ledger_the_time_before_the_start_is_unknown_but_the_shift_is_reported(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, at(8, 5), [])
    run.minutes(at(8, 5), at(16, 0) + MIN, 0)
    shift = next(r for r in run.records if r.period is Period.SHIFT)
    assert shift.flags[0] == "partial" and shift.times.unknown == 5 * 60  # was: no row at all
