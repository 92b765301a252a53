"""ISO 22400-2 KPIs: a hand-worked shift with breaks, a planned stop and an offline gap, plus the
golden cases under tests/cases/oee/ (night shift, per-program PRI, counter reset)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ruamel.yaml import YAML

from collector.config.calendar import CalendarConfig, OeeConfig
from collector.config.state import CounterRole
from collector.normalise.oee import KpiInputs, compute_kpis
from collector.normalise.records import (
    E10,
    Bucket,
    CounterDelta,
    CounterEvent,
    CounterEventKind,
    KpiRecord,
    Period,
    State,
    StateInterval,
)
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.state_rules import classify

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")
CASES = Path(__file__).parents[1] / "cases" / "oee"


def at(text: str) -> int:
    """Local wall-clock time in Asia/Shanghai as UTC ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


def iv(start: str, end: str, state: State, sub: str | None = None) -> StateInterval:
    bucket, e10 = classify(state, sub)
    return StateInterval("cnc-01", at(start), at(end), state, sub, bucket, e10, (), "test@000000000000")


def parts(ts: str, n: int, role: CounterRole = CounterRole.ALL, program: str | None = None) -> CounterDelta:
    return CounterDelta(at(ts), None, "cnc-01", role.value, role, n, 0, program)


DAY = "2026-11-25"  # a Wednesday
CALENDAR = CalendarConfig.model_validate(
    {
        "shifts": [{"name": "A", "start": "08:00", "end": "16:00", "days": "mon..sat"}],
        "breaks": [{"start": "12:00", "end": "12:30", "name": "lunch"}],
        "planned_stops": [{"start": f"{DAY}T14:00", "end": f"{DAY}T14:30", "reason": "maintenance"}],
    }
)
TIMELINE = [
    iv(f"{DAY}T07:00", f"{DAY}T08:00", State.STOPPED, "POWER_OFF"),  # before the shift: not counted
    iv(f"{DAY}T08:00", f"{DAY}T10:00", State.RUNNING, "AUTO"),  # APT 7200 s
    iv(f"{DAY}T10:00", f"{DAY}T10:20", State.ALARM, "FAULT"),  # ADET 1200 s
    iv(f"{DAY}T10:20", f"{DAY}T12:10", State.RUNNING, "AUTO"),  # APT 6000 s + 600 s worked in the break
    iv(f"{DAY}T12:10", f"{DAY}T12:30", State.IDLE),  # idle during the break: PDOT, not a loss
    iv(f"{DAY}T12:30", f"{DAY}T13:00", State.IDLE, "SETUP"),  # AUST 1800 s
    iv(f"{DAY}T13:00", f"{DAY}T13:40", State.OFFLINE, "COMM_LOSS"),  # UNKNOWN 2400 s
    iv(f"{DAY}T13:40", f"{DAY}T14:00", State.IDLE),  # ADOT 1200 s
    iv(f"{DAY}T14:00", f"{DAY}T14:30", State.STOPPED, "MAINTENANCE"),  # inside the planned stop
    iv(f"{DAY}T14:30", f"{DAY}T15:50", State.RUNNING, "AUTO"),  # APT 4800 s
    iv(f"{DAY}T15:50", f"{DAY}T16:00", State.IDLE),  # ADOT 600 s
]
COUNTS = [
    *(parts(f"{DAY}T{h:02d}:30", 30) for h in (8, 9, 10, 11, 13, 14, 15)),  # 7 x 30 = 210
    parts(f"{DAY}T15:55", 90),  # PQ = 300
    parts(f"{DAY}T11:00", 4, CounterRole.SCRAP),
    parts(f"{DAY}T15:00", 2, CounterRole.SCRAP),  # SQ = 6
]
OEE = OeeConfig.model_validate({"ideal_cycle_time": "60s"})


def _shift_record() -> KpiRecord:
    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    inputs = KpiInputs("cnc-01", TIMELINE, COUNTS)
    [record] = compute_kpis(inputs, calendar, OEE, Period.SHIFT, at(f"{DAY}T00:00"), at(f"{DAY}T23:59"))
    return record


def test_worked_example_shift_with_breaks_planned_stop_and_offline_gap() -> None:
    r = _shift_record()
    t = r.times
    assert r.label == f"{DAY}/A"
    # POT = 08:00-16:00 = 8 h = 28800 s
    assert t.pot == 28_800
    # Planned down: lunch 12:00-12:30 (1800 s) + planned maintenance 14:00-14:30 (1800 s) = 3600 s,
    # but the machine produced through 12:00-12:10 of the lunch break: those 600 s were busy time.
    # PDOT = 3600 - 600 = 3000 s
    assert (t.pdot, t.worked) == (3_000, 600)
    # PBT = POT - PDOT = 28800 - 3000 = 25800 s
    assert t.pbt == 25_800
    # APT = 7200 (08:00-10:00) + 6000 (10:20-12:00) + 600 (12:00-12:10, in the break)
    #       + 4800 (14:30-15:50) = 18600 s
    assert t.apt == 18_600
    assert (t.aust, t.adet, t.adot, t.unknown) == (1_800, 1_200, 1_800, 2_400)
    # Every second of PBT is in exactly one element:
    # 18600 + 1800 + 1200 + 1800 + 2400 (UNKNOWN, the offline gap) = 25800 = PBT
    assert t.apt + t.aust + t.adet + t.adot + t.apmt + t.unknown == t.pbt
    # PQ = 300, SQ = 6, GQ = PQ - SQ = 294 (no good counter)
    assert (r.qty.pq, r.qty.sq, r.qty.gq) == (300, 6, 294)
    # A = APT / PBT = 18600 / 25800 = 0.720930...
    assert r.a == pytest.approx(18_600 / 25_800)
    # E = PRI x PQ / APT = 60 x 300 / 18600 = 0.967742...
    assert r.e == pytest.approx(18_000 / 18_600)
    # QR = GQ / PQ = 294 / 300 = 0.98
    assert r.qr == pytest.approx(0.98)
    # OEE = A x E x QR = PRI x GQ / PBT = 60 x 294 / 25800 = 0.683721...
    assert r.oee == pytest.approx(17_640 / 25_800)
    # TE = APT / (APT + ADET) = 18600 / 19800; NEE = (APT + AUST) / PBT x E x QR
    assert r.te == pytest.approx(18_600 / 19_800)
    assert r.nee == pytest.approx(20_400 / 25_800 * 18_000 / 18_600 * 0.98)
    # UNKNOWN 2400 s > 5 % of PBT (1290 s): flagged; E ≤ 105 %: not flagged; the break worked through
    assert r.flags == ("UNKNOWN>5%PBT", "worked_in_PDOT")
    assert r.pri_s == 60 and r.intervals == 10  # the 07:00-08:00 interval is outside the shift


def test_day_equals_the_only_shift_and_hours_split_it() -> None:
    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    inputs = KpiInputs("cnc-01", TIMELINE, COUNTS)
    [day] = compute_kpis(inputs, calendar, OEE, Period.DAY, at(f"{DAY}T00:00"), at(f"{DAY}T23:59"))
    assert day.label == DAY and day.times == _shift_record().times
    assert day.oee == pytest.approx(17_640 / 25_800)
    hours = compute_kpis(inputs, calendar, OEE, Period.HOUR, at(f"{DAY}T00:00"), at(f"{DAY}T23:59"))
    assert len(hours) == 24 and sum(h.times.pbt for h in hours) == 25_800
    noon = next(h for h in hours if h.label == f"{DAY}T12")
    # 12:00-13:00: lunch 1800 of which 600 worked: PDOT 1200, PBT 2400; APT 600; AUST 1800 (12:30-13:00)
    assert (noon.times.pdot, noon.times.pbt, noon.times.apt, noon.times.aust) == (1_200, 2_400, 600, 1_800)
    night = next(h for h in hours if h.label == f"{DAY}T20")
    # No shift: PBT = 0, so A and OEE are null, not 100 %
    assert night.times.pbt == 0 and night.a is None and night.oee is None


def test_zero_denominators_are_null() -> None:
    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    idle = [iv(f"{DAY}T08:00", f"{DAY}T16:00", State.IDLE)]
    [r] = compute_kpis(
        KpiInputs("cnc-01", idle), calendar, OEE, Period.SHIFT, at(f"{DAY}T08:00"), at(f"{DAY}T16:00")
    )
    assert r.a == 0 and r.e is None and r.qr is None and r.oee is None  # APT = 0, PQ = 0


def test_missing_calendar_is_flagged_and_the_window_is_planned() -> None:
    calendar = ShiftCalendar(CalendarConfig(), "Asia/Shanghai")
    running = [iv(f"{DAY}T00:00", f"{DAY}T12:00", State.RUNNING, "AUTO")]
    [r] = compute_kpis(
        KpiInputs("cnc-01", running), calendar, OEE, Period.DAY, at(f"{DAY}T00:00"), at(f"{DAY}T12:00")
    )
    assert r.times.pbt == 86_400 and r.times.unknown == 43_200
    assert "calendar_missing" in r.flags and r.a == pytest.approx(0.5)


def test_effectiveness_above_105_percent_and_counter_reset_are_flagged() -> None:
    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    oee = OeeConfig.model_validate({"ideal_cycle_time": "90s"})  # wrong PRI: E = 90 x 300 / 18600 = 1.45
    reset = CounterEvent(at(f"{DAY}T13:00"), "cnc-01", "parts", CounterEventKind.RESET, 500, 3, 3, "SHIFT")
    inputs = KpiInputs("cnc-01", TIMELINE, COUNTS, events=[reset])
    [r] = compute_kpis(inputs, calendar, oee, Period.SHIFT, at(f"{DAY}T08:00"), at(f"{DAY}T16:00"))
    assert r.e == pytest.approx(27_000 / 18_600)
    assert r.flags == ("E>105%", "UNKNOWN>5%PBT", "worked_in_PDOT", "counter_reset")


def test_classification_of_states_into_buckets() -> None:
    assert classify(State.RUNNING, "AUTO") == (Bucket.APT, E10.PRD)
    assert classify(State.RUNNING, "SETUP") == (Bucket.AUST, E10.ENG)
    assert classify(State.IDLE, "MICRO_STOP") == (Bucket.ADET, E10.SBY)
    assert classify(State.STOPPED, "MAINTENANCE") == (Bucket.APMT, E10.SDT)
    assert classify(State.OFFLINE, "STALE") == (Bucket.UNKNOWN, None)


def _golden(case: Path) -> tuple[list[KpiRecord], list[dict[str, Any]]]:
    doc = YAML(typ="safe").load((case / "case.yaml").read_text(encoding="utf-8"))
    calendar = ShiftCalendar(
        CalendarConfig.model_validate(doc["calendar"]), doc.get("timezone", "Asia/Shanghai")
    )
    oee = OeeConfig.model_validate(doc["oee"])
    intervals = [iv(a, b, State[s], sub) for a, b, s, sub in doc["intervals"]]
    deltas = [
        parts(c["t"], c["n"], CounterRole(c.get("role", "all")), c.get("program")) for c in doc["counts"]
    ]
    events = [
        CounterEvent(at(e["t"]), "cnc-01", "parts", CounterEventKind(e["event"]), None, 0, 0)
        for e in doc.get("events", [])
    ]
    inputs = KpiInputs("cnc-01", intervals, deltas, events, good_counter=doc.get("good_counter", False))
    start, end = (at(x) for x in doc["range"])
    return compute_kpis(inputs, calendar, oee, Period(doc["period"]), start, end), doc["expected"]


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_golden_kpis(case: Path) -> None:
    records, expected = _golden(case)
    assert [r.label for r in records] == [e["label"] for e in expected]
    for record, want in zip(records, expected, strict=True):
        times = {k.upper(): getattr(record.times, k) for k in record.times.__dataclass_fields__}
        got = {**times, "PQ": record.qty.pq, "GQ": record.qty.gq, "SQ": record.qty.sq}
        got |= {"A": record.a, "E": record.e, "QR": record.qr, "OEE": record.oee, "flags": list(record.flags)}
        for key, value in want.items():
            if key == "label":
                continue
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-6), (record.label, key)
            else:
                assert got[key] == value, (record.label, key)


def test_seconds_in_pbt_for_the_state_timeline() -> None:
    from collector.normalise.oee import seconds_in_pbt

    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    running_into_break = TIMELINE[3]  # 10:20-12:10: 100 min, of which 10 min in the lunch break
    assert seconds_in_pbt(running_into_break, calendar) == 6_000
    assert seconds_in_pbt(TIMELINE[0], calendar) == 0  # before the shift


def test_parts_counted_across_an_offline_gap_belong_to_the_gap() -> None:
    calendar = ShiftCalendar(CALENDAR, "Asia/Shanghai")
    # Offline 13:00-13:40. The reading at 14:05 shows 20 parts since the one at 12:55: they were made
    # in the gap (middle 13:20), so they count in the 13:00 hour, not in the 14:00 hour.
    late = CounterDelta(at(f"{DAY}T14:05"), at(f"{DAY}T12:55"), "cnc-01", "all", CounterRole.ALL, 20, 0)
    inputs = KpiInputs("cnc-01", TIMELINE, [late])
    hours = compute_kpis(inputs, calendar, OEE, Period.HOUR, at(f"{DAY}T12:00"), at(f"{DAY}T15:00"))
    assert [(h.label[-3:], h.qty.pq) for h in hours] == [("T12", 0), ("T13", 20), ("T14", 0)]
