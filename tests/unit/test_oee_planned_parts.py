"""Parts count towards OEE only when made in planned time, in the collector's KPI records and in the
evidence pack's "window" row alike (the builder and the verifier both call oeewindow.window_oee), so
E = PRI·PQ/APT compares the parts and the APT of the same span and cannot exceed 1 because parts
were made outside the shift."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from collector.config.calendar import CalendarConfig, OeeConfig
from collector.config.state import CounterRole
from collector.evidence.verify import oeewindow
from collector.evidence.verify.formulas import PlanSegment, StateSpan
from collector.evidence.verify.vendor import kpimodel
from collector.normalise.oee import KpiInputs, compute_kpis
from collector.normalise.records import Bucket, CounterDelta, Period, State, StateInterval
from collector.normalise.shifts import ShiftCalendar

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")


def h(hour: float) -> int:
    return int(datetime(2026, 11, 25, tzinfo=TZ).timestamp() * 1000) + round(hour * 3_600_000)


QUARTERS = [h(7 + q / 4) for q in range(13)]  # 07:00, 07:15, … 10:00
ALL = oeewindow.CounterSpec("m1", "parts", "all_t", "all", 32)
SCRAP = oeewindow.CounterSpec("m1", "scrap", "scrap_t", "scrap", 32)


def test_window_row_counts_only_parts_made_in_the_shift() -> None:
    """Window 07:00-10:00, shift 08:00-09:00, RUNNING all along, 30 parts every 15 min (PRI 30 s,
    so exactly the ideal rate). Only the four steps ending 08:15 … 09:00 count: PQ 120 over APT
    3600 s gives E = 1 (counting the whole window gave PQ 360, E = 3)."""
    plan = [PlanSegment("m1", h(8), h(9), "PBT")]
    states = [StateSpan("m1", h(7), h(10), "RUNNING", "APT")]
    readings = {
        "all_t": [(ts, 1000 + 30 * i) for i, ts in enumerate(QUARTERS[:-1])],  # 10:00 is outside [from, to)
        "scrap_t": [(ts, i) for i, ts in enumerate(QUARTERS[:-1])],  # one scrap part per step
    }
    w = oeewindow.window_oee("m1", h(7), h(10), states, plan, [ALL, SCRAP], readings, 30.0)
    assert (w.times.pbt, w.times.apt) == (3600, 3600)
    assert (w.pq, w.sq, w.gq) == (120, 4, 116)
    assert w.figures.e == pytest.approx(1.0)
    assert w.figures.oee == pytest.approx(116 / 120)


def test_window_row_counts_parts_made_in_a_break_and_attributes_offline_gaps() -> None:
    """A break is PDOT: running through it is APT, so its parts count too. A step across an OFFLINE
    gap is made at the gap's middle (as the collector attributes it): 08:50 → 09:30 across OFFLINE
    09:00-09:20 is made at 09:10, after the shift: not counted."""
    plan = [
        PlanSegment("m1", h(8), h(8.5), "PBT"),
        PlanSegment("m1", h(8.5), h(8.75), "PDOT"),
        PlanSegment("m1", h(8.75), h(9), "PBT"),
    ]
    states = [
        StateSpan("m1", h(7), h(9), "RUNNING", "APT"),
        StateSpan("m1", h(9), h(9 + 1 / 3), "OFFLINE", "UNKNOWN"),
        StateSpan("m1", h(9 + 1 / 3), h(10), "RUNNING", "APT"),
    ]
    points = [(h(8), 0), (h(8.5), 10), (h(8.75), 20), (h(8 + 50 / 60), 30), (h(9.5), 70)]
    w = oeewindow.window_oee("m1", h(7), h(10), states, plan, [ALL], {"all_t": points}, 30.0)
    assert w.pq == 30
    assert kpimodel.made_at(h(8 + 50 / 60), h(9.5), [(h(9), h(9 + 1 / 3))]) == h(9 + 1 / 6)
    # Without any planned segment for the device every part counts, as in the collector.
    assert oeewindow.window_oee("m1", h(7), h(10), states, [], [ALL], {"all_t": points}, 30.0).pq == 70


def test_collector_day_record_counts_only_parts_made_in_the_shift() -> None:
    """The collector's rule the window row matches: a day window with a 08:00-09:00 shift counts the
    parts made in the shift, not those of the evening (E would be 3 instead of 1)."""
    calendar = ShiftCalendar(
        CalendarConfig.model_validate({"shifts": [{"name": "A", "start": "08:00", "end": "09:00"}]}),
        "Asia/Shanghai",
    )
    running = StateInterval("m1", h(7), h(10), State.RUNNING, None, Bucket.APT, None, (), "r")
    deltas = [CounterDelta(b, a, "m1", "parts", CounterRole.ALL, 30, 0) for a, b in pairwise(QUARTERS)]
    inputs = KpiInputs("m1", [running], deltas)
    oee = OeeConfig.model_validate({"ideal_cycle_time": "30s"})
    (day,) = compute_kpis(inputs, calendar, oee, Period.DAY, h(0), h(24))
    (shift,) = compute_kpis(inputs, calendar, oee, Period.SHIFT, h(0), h(24))
    for record in (day, shift):
        assert record.qty.pq == 120
        assert record.times.apt == pytest.approx(3600)
        assert record.e == pytest.approx(1.0)
    # the pack's window row over the same readings gives the same quantities
    plan = [PlanSegment("m1", s.start, s.end, s.kind) for s in calendar.planned(h(0), h(24), "m1")]
    readings = {"all_t": [(ts, 30 * i) for i, ts in enumerate(QUARTERS)]}
    states = [StateSpan("m1", h(7), h(10), "RUNNING", "APT")]
    assert oeewindow.window_oee("m1", h(0), h(24), states, plan, [ALL], readings, 30.0).pq == day.qty.pq
