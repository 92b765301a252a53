"""The KPI tracker keeps running sums per open window, not the history: its records must equal the
whole-history computation (oee.kpi_window over every interval and delta the device emitted) and
what it holds must not grow with the length of the run."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.config.calendar import CalendarConfig
from collector.config.modbus import ModbusTcpDevice
from collector.model import Reading
from collector.normalise.device import DeviceEvents, DeviceNormaliser
from collector.normalise.oee import KpiInputs, kpi_window
from collector.normalise.records import CounterDelta, CounterEvent, KpiRecord, StateInterval
from collector.normalise.shifts import ShiftCalendar, Window

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")
S = 1000


def ms(day: int, hh: int, mm: int = 0) -> int:
    return int(datetime(2026, 11, day, hh, mm, tzinfo=TZ).timestamp() * 1000)


DEVICE = ModbusTcpDevice.model_validate(
    {
        "id": "m1", "protocol": "modbus_tcp", "host": "h",
        "tags": [{"name": "run", "address": "000001", "type": "bool"},
                 {"name": "made", "address": "400001", "type": "uint16"},
                 {"name": "bad", "address": "400002", "type": "uint16"}],
        "state": {"template": "conditions", "debounce": {"default": "3s", "OFFLINE": "0s"},
                  "micro_stop": "20s", "stale_timeout": "1h",
                  "conditions": [{"state": "RUNNING", "when": "run == true"}]},
        "counters": [{"name": "parts", "tag": "made"}, {"name": "scrap", "tag": "bad", "role": "scrap"}],
        "oee": {"ideal_cycle_time": "20s"},
    }
)  # fmt: skip

CALENDAR = ShiftCalendar(
    CalendarConfig.model_validate(
        {
            "shifts": [
                {"name": "A", "start": "08:00", "end": "16:30"},
                {"name": "B", "start": "16:30", "end": "01:00"},
            ],
            "breaks": [{"start": "12:00", "end": "12:45"}, {"start": "20:00", "end": "20:30"}],
        }
    ),
    "Asia/Shanghai",
)  # fmt: skip


class Run:
    """Feed a device a random day and a half: running and idle spells, counters that move while
    running (sometimes wrap or reset), and connection losses during which nothing is read."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.norm = DeviceNormaliser(DEVICE, None, CALENDAR, start_ms=ms(24, 7))
        self.records: list[KpiRecord] = []
        self.emitted: list[int] = []  # when each record was made
        self.intervals: list[StateInterval] = []
        self.deltas: list[CounterDelta] = []
        self.events: list[CounterEvent] = []
        self.open_windows: list[int] = []

    def go(self, start: int, end: int, step: int) -> None:
        rng, ts, seq = self.rng, start, 0
        running, made, bad, offline_until = True, 100, 5, 0
        while ts < end:
            if ts < offline_until:
                self._take(ts, self.norm.lost(ts))
            else:
                if rng.random() < 0.02:
                    running = not running
                if running and rng.random() < 0.5:
                    made = (made + rng.randint(1, 3)) % 65536
                    bad = bad + (rng.random() < 0.05)
                if rng.random() < 0.0005:
                    made = 0  # a reset on the controller
                seq += 1
                readings = [
                    Reading("m1", "run", running, 0, None, ts, 1, seq),
                    Reading("m1", "made", made, 0, None, ts, 1, seq),
                    Reading("m1", "bad", bad, 0, None, ts, 1, seq),
                ]
                self._take(ts, self.norm.observe(ts, readings))
                if rng.random() < 0.001:
                    offline_until = ts + rng.randint(30, 3_000) * S
            assert self.norm.kpi is not None
            self.open_windows.append(self.norm.kpi.open_windows)
            ts += step

    def _take(self, ts: int, ev: DeviceEvents) -> None:
        self.intervals += [c.closed for c in ev.states if c.closed is not None]
        self.deltas += ev.deltas
        self.events += ev.counter_events
        self.records += ev.kpis
        self.emitted += [ts] * len(ev.kpis)


@pytest.mark.parametrize("seed", [1, 2])
def test_records_equal_the_whole_history_computation(seed: int) -> None:
    run = Run(seed)
    run.go(ms(24, 7), ms(26, 2), 10 * S)
    assert run.norm.machine is not None
    assert {r.period.value for r in run.records} == {"hour", "shift", "day"}
    assert sum(r.qty.pq for r in run.records if r.period.value == "day") > 1000
    assert any(r.times.unknown > 0 for r in run.records), "the run had no OFFLINE time to test"
    for r, at in zip(run.records, run.emitted, strict=True):
        # a record is made once: parts read after it (after an outage across its end) are not in it
        deltas = [d for d in run.deltas if d.ts <= at]
        history = KpiInputs("m1", run.intervals, deltas, run.events, good_counter=False)
        want = kpi_window(history, CALENDAR, DEVICE.oee, Window(r.period, r.label, r.start, r.end))
        if r.start < ms(24, 7):  # began before the tracker: the same figures, flagged partial
            want = replace(want, flags=("partial", *want.flags))
        assert r == want, f"{r.period} {r.label}"


def test_what_the_tracker_holds_does_not_grow_with_the_run() -> None:
    run = Run(7)
    run.go(ms(24, 7), ms(27, 7), 20 * S)  # three days
    tracker = run.norm.kpi
    assert tracker is not None
    days = [r for r in run.records if r.period.value == "day"]
    assert [d.label for d in days] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert [d.flags[0] == "partial" for d in days] == [True, False, False]  # the 24th began before it
    # an hour, at most two shifts and a day are open at once, plus those opened an hour ahead
    assert max(run.open_windows) <= 8
    assert len(tracker._offline) <= 200 and not tracker._waiting
