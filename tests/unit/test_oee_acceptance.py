"""OEE figures an evaluator signs (issue 15, bullet 2): never A > 1, a device without a part counter
shows nulls and stays out of the plant headline, the program's own ideal cycle time applies, and
E > 105 % is flagged on every kind of row."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config.calendar import CalendarConfig, OeeConfig
from collector.config.modbus import ModbusTcpDevice
from collector.config.state import CounterRole
from collector.evidence import figures
from collector.evidence.verify import formulas as f
from collector.evidence.verify import oeewindow
from collector.model import Reading
from collector.normalise import kpimodel
from collector.normalise.device import DeviceNormaliser
from collector.normalise.oee import KpiInputs, compute_kpis
from collector.normalise.records import CounterDelta, KpiRecord, Period, State, StateInterval
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.state_rules import classify
from collector.recorder import payloads

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")
DAY = "2026-11-25"


def at(hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(2026, 11, 25, hh, mm, ss, tzinfo=TZ).timestamp() * 1000)


def interval(device: str, start: int, end: int, state: State, sub: str | None = None) -> StateInterval:
    bucket, e10 = classify(state, sub)
    return StateInterval(device, start, end, state, sub, bucket, e10, (), "test@000000000000")


SHIFT_WITH_BREAK = ShiftCalendar(
    CalendarConfig.model_validate(
        {
            "shifts": [{"name": "A", "start": "08:00", "end": "16:00"}],
            "breaks": [{"start": "12:00", "end": "13:00", "name": "lunch"}],
        }
    ),
    "Asia/Shanghai",
)
PRI_60 = OeeConfig.model_validate({"ideal_cycle_time": "60s"})


def _shift(inputs: KpiInputs, oee: OeeConfig | None = PRI_60) -> KpiRecord:
    [record] = compute_kpis(inputs, SHIFT_WITH_BREAK, oee, Period.SHIFT, at(0), at(23, 59))
    return record


def test_running_through_the_break_cannot_make_availability_exceed_one() -> None:
    # 08:00-16:00 with a 1 h break, running throughout, 480 parts at 60 s: A was 8/7 = 1.143
    running = [interval("cnc-01", at(8), at(16), State.RUNNING, "AUTO")]
    made = [
        CounterDelta(at(8, 0, 30) + n * 60_000, None, "cnc-01", "parts", CounterRole.ALL, 1, 0)
        for n in range(480)
    ]
    r = _shift(KpiInputs("cnc-01", running, made))
    assert (r.times.pot, r.times.pdot, r.times.pbt, r.times.worked) == (28_800, 0, 28_800, 3_600)
    assert r.a == pytest.approx(1.0) and r.e == pytest.approx(1.0) and r.oee == pytest.approx(1.0)
    assert "worked_in_PDOT" in r.flags


def test_idling_in_the_break_is_still_planned_down_time() -> None:
    timeline = [
        interval("cnc-01", at(8), at(12), State.RUNNING, "AUTO"),
        interval("cnc-01", at(12), at(13), State.IDLE),
        interval("cnc-01", at(13), at(16), State.RUNNING, "AUTO"),
    ]
    r = _shift(KpiInputs("cnc-01", timeline))
    assert (r.times.pdot, r.times.pbt, r.times.apt, r.times.adot) == (3_600, 25_200, 25_200, 0)
    assert "worked_in_PDOT" not in r.flags


BUCKETS = st.sampled_from(["APT", "AUST", "ADET", "ADOT", "APMT", "UNKNOWN", "PDOT"])
SPANS = st.tuples(st.integers(0, 100), st.integers(1, 60)).map(lambda t: (t[0], t[0] + t[1]))


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 159), min_size=1, max_size=6, unique=True),
    kinds=st.lists(st.sampled_from(["PBT", "PDOT"]), min_size=7, max_size=7),
    intervals=st.lists(st.tuples(SPANS, BUCKETS), max_size=12),
)
def test_availability_never_exceeds_one_whatever_the_intervals(
    cuts: list[int], kinds: list[str], intervals: list[tuple[tuple[int, int], str]]
) -> None:
    # Any calendar of PBT/PDOT segments over [0, 160) and any intervals, overlapping ones included
    # (a clock stepped back stamps the same wall time twice).
    bounds = [0, *sorted(cuts), 160]
    tally = kpimodel.TimeTally((a, b, kinds[i]) for i, (a, b) in enumerate(pairwise(bounds)))
    for (start, end), bucket in intervals:
        tally.add(start, end, bucket)
    t = tally.elements()
    assert t.apt <= t.pbt
    assert t.apt + t.aust + t.adet + t.adot + t.apmt + t.unknown == pytest.approx(t.pbt)
    assert t.pbt + t.pdot == pytest.approx(t.pot) and t.pdot >= 0
    a = kpimodel.ratio(t.apt, t.pbt)
    assert a is None or a <= 1


def _cnc_at_70_percent() -> KpiRecord:
    # 7 h running in the 7 h of PBT, 294 good parts of 60 s each: OEE = 294 x 60 / 25200 = 0.70
    timeline = [
        interval("cnc-01", at(8), at(12), State.RUNNING),
        interval("cnc-01", at(13), at(16), State.RUNNING),
    ]
    made = [CounterDelta(at(9), None, "cnc-01", "parts", CounterRole.ALL, 294, 0)]
    return _shift(KpiInputs("cnc-01", timeline, made))


def _day_row(record: KpiRecord) -> figures.OeeRow:
    """As the pack builder reads it back from the record's KPI ledger entry."""
    return figures.oee_row(payloads.kpi(replace(record, period=Period.DAY)))


def test_a_device_without_a_part_counter_has_null_effectiveness_and_a_flag() -> None:
    timeline = [interval("sl-01", at(8), at(16), State.RUNNING)]
    r = _shift(KpiInputs("sl-01", timeline, counted=False))
    assert r.a == pytest.approx(1.0)  # availability still follows from its state
    assert (r.e, r.qr, r.oee, r.nee) == (None, None, None, None)  # was E = 0, OEE = 0
    assert "qty_unavailable" in r.flags and "pri_missing" not in r.flags


def test_adding_a_counterless_machine_leaves_the_plant_oee_unchanged() -> None:
    cnc = _day_row(_cnc_at_70_percent())
    lamp = _day_row(
        _shift(KpiInputs("sl-01", [interval("sl-01", at(8), at(16), State.RUNNING)], counted=False))
    )
    assert figures.plant_oee([cnc]) == pytest.approx(0.70)
    assert figures.plant_oee([cnc, lamp]) == pytest.approx(0.70)  # was 0.327
    assert figures.oee_excluded([cnc, lamp]) == ["sl-01"]
    assert figures.oee_excluded([cnc]) == []


def _machine(per_program: str) -> ModbusTcpDevice:
    return ModbusTcpDevice.model_validate(
        {
            "id": "m1", "protocol": "modbus_tcp", "host": "h",
            "tags": [{"name": "run", "address": "000001", "type": "bool"},
                     {"name": "parts", "address": 40001}, {"name": "program", "address": 40002}],
            "state": {"template": "conditions", "debounce": {"default": "0s"},
                      "conditions": [{"state": "RUNNING", "when": "run == true"}]},
            "counters": [{"name": "parts", "tag": "parts", "width": 16}],
            "oee": {"ideal_cycle_time": "60s", "per_program": {"30": "30s"}, "program_input": per_program},
        }
    )  # fmt: skip


def test_the_active_programs_ideal_cycle_time_applies() -> None:
    # One hour running program 30 (ideal 30 s; the device's default is 60 s), a part every 30 s.
    calendar = ShiftCalendar(
        CalendarConfig.model_validate({"shifts": [{"name": "A", "start": "08:00", "end": "09:00"}]})
    )
    norm = DeviceNormaliser(_machine("program"), None, calendar, start_ms=at(7, 59))
    records: list[KpiRecord] = []
    for n in range(121):
        ts = at(8) + n * 30_000
        readings = [
            Reading("m1", "run", True, 0, None, ts, 1, 3 * n),
            Reading("m1", "parts", 1000 + n, 0, None, ts, 1, 3 * n + 1),
            Reading("m1", "program", 30, 0, None, ts, 1, 3 * n + 2),
        ]
        records += norm.observe(ts, readings).kpis
    shift = next(r for r in records if r.period is Period.SHIFT)
    assert shift.qty.pq == 120 and shift.times.apt == 3_600
    assert shift.e == pytest.approx(1.0)  # 120 x 30 s / 3600 s; was 2.0 (judged against 60 s)
    assert shift.pri_s == pytest.approx(30) and "E>105%" not in shift.flags


def test_effectiveness_above_the_limit_is_flagged_on_shift_day_and_window_rows() -> None:
    timeline = [interval("cnc-01", at(8), at(9), State.RUNNING)]
    made = [CounterDelta(at(8, 30), None, "cnc-01", "parts", CounterRole.ALL, 120, 0)]  # 120 x 60 s in 1 h
    record = _shift(KpiInputs("cnc-01", timeline, made))
    assert record.e == pytest.approx(2.0) and "E>105%" in record.flags
    assert "E>105%" in _day_row(record).flags  # the flags travel in the KPI ledger entry to the pack
    states = [f.StateSpan("cnc-01", at(8), at(9), "RUNNING", "APT")]
    plan = [f.PlanSegment("cnc-01", at(8), at(9), "PBT")]
    counter = oeewindow.CounterSpec("cnc-01", "parts", "parts", "all", 16, max_rate=1.0)
    readings = {"parts": [(at(8), 0), (at(8, 30), 120), (at(8, 59), 120)]}
    row = oeewindow.window_oee("cnc-01", at(8), at(9), states, plan, [counter], readings, 60.0)
    assert row.figures.e == pytest.approx(2.0) and "E>105%" in row.flags


def test_the_packs_window_row_applies_the_programs_ideal_cycle_time_too() -> None:
    # The same hour as the collector sees it, read back from the pack: program readings as CSV text
    # (a store may have turned 30 into 30.0), a part every 30 s under program 30.
    states = [f.StateSpan("m1", at(8), at(9), "RUNNING", "APT")]
    plan = [f.PlanSegment("m1", at(8), at(9), "PBT")]
    counter = oeewindow.CounterSpec("m1", "parts", "parts", "all", 16, max_rate=1 / 30)
    readings = {"parts": [(at(8) + n * 30_000, 1000 + n) for n in range(120)]}
    programs = [(at(8) + n * 30_000, "30.0") for n in range(120)]
    cycle = oeewindow.CycleTimes(60.0, {"30": 30.0}, programs)
    row = oeewindow.window_oee("m1", at(8), at(9), states, plan, [counter], readings, cycle)
    assert row.pq == 119 and row.pri_s == pytest.approx(30.0)
    assert row.figures.e == pytest.approx(119 * 30 / 3600) and "E>105%" not in row.flags
    judged_at_60 = oeewindow.window_oee("m1", at(8), at(9), states, plan, [counter], readings, 60.0)
    assert judged_at_60.figures.e == pytest.approx(119 * 60 / 3600)  # what the pack showed before
