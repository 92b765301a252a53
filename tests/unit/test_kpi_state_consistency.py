"""The collector's KPI records agree with the StateIntervals it emits (the ledger's STATE_INTERVAL
entries), clipped to each window: a debounced change that commits after a window ended, or an idle
gap across the window end that would become a micro-stop, must not make them disagree."""

from __future__ import annotations

import random
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from collector.config.calendar import CalendarConfig
from collector.config.modbus import ModbusTcpDevice
from collector.evidence.verify import kpis
from collector.evidence.verify.formulas import PlanSegment, StateSpan
from collector.model import Reading
from collector.normalise.device import DeviceNormaliser
from collector.normalise.records import KpiRecord, StateInterval
from collector.normalise.shifts import ShiftCalendar

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")
S = 1000


def ms(hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(2026, 11, 25, hh, mm, ss, tzinfo=TZ).timestamp() * 1000)


def device(debounce: dict[str, str], micro_stop: str | None) -> ModbusTcpDevice:
    return ModbusTcpDevice.model_validate(
        {
            "id": "m1", "protocol": "modbus_tcp", "host": "h",
            "tags": [{"name": "run", "address": "000001", "type": "bool"}],
            "state": {"template": "conditions", "debounce": debounce, "micro_stop": micro_stop,
                      "stale_timeout": "1h", "conditions": [{"state": "RUNNING", "when": "run == true"}]},
            "oee": {"ideal_cycle_time": "60s"},
        }
    )  # fmt: skip


CALENDAR = ShiftCalendar(
    CalendarConfig.model_validate(
        {
            "shifts": [{"name": "A", "start": "08:00", "end": "08:10"}],
            "breaks": [{"start": "08:04", "end": "08:05"}],
        }
    ),
    "Asia/Shanghai",
)


def run(
    dev: ModbusTcpDevice, samples: list[tuple[int, bool]], end: int
) -> tuple[list[KpiRecord], list[StateInterval]]:
    """Feed (ts, run) samples; return the KPI records and every interval the machine emitted,
    the open one cut at `end` as the recorder does at stop."""
    norm = DeviceNormaliser(dev, None, CALENDAR, start_ms=ms(7))
    records: list[KpiRecord] = []
    intervals: list[StateInterval] = []
    for i, (ts, value) in enumerate(samples):
        ev = norm.observe(ts, [Reading("m1", "run", value, 0, None, ts, 1, i)])
        intervals += [c.closed for c in ev.states if c.closed is not None]
        records += ev.kpis
    assert norm.machine is not None
    last = norm.machine.close(end)
    if last is not None:
        intervals.append(last)
    return records, intervals


def assert_consistent(records: list[KpiRecord], intervals: list[StateInterval]) -> None:
    """Every record's time elements == the verifier's recomputation from the emitted intervals."""
    assert records
    spans = [StateSpan(i.device, i.start, i.end, i.state.name, i.bucket.value) for i in intervals]
    for r in records:
        plan = [PlanSegment("m1", s.start, s.end, s.kind) for s in CALENDAR.planned(r.start, r.end, "m1")]
        t = kpis.time_elements(spans, plan, "m1", r.start, r.end)
        got = (r.times.pot, r.times.pdot, r.times.pbt, r.times.apt, r.times.aust, r.times.adet, r.times.adot,
               r.times.apmt, r.times.unknown)  # fmt: skip
        want = (t.pot, t.pdot, t.pbt, t.apt, t.aust, t.adet, t.adot, t.apmt, t.unknown)
        assert got == pytest.approx(want, abs=1e-9), f"{r.period} {r.label}"
    # the emitted intervals tile the time without gaps or overlaps
    for a, b in pairwise(intervals):
        assert a.end == b.start


def test_a_change_committed_after_the_shift_ended_is_in_the_shift_record() -> None:
    """RUNNING → IDLE at 08:09:59 with a 2 s debounce commits at 08:10:01, after the shift (and the
    08:00 hour) ended: the record waits for it, so its idle second is in both the record and the
    ledger interval (before the fix the record said 1 s more APT than the intervals)."""
    dev = device({"default": "2s"}, None)
    samples = [(ms(7, 59, 58) + k * S, True) for k in range(12 * 60 + 1)]  # 07:59:58 … 08:11:58
    samples = [(ts, ts < ms(8, 9, 59)) for ts, _ in samples]
    records, intervals = run(dev, samples, ms(8, 12))
    shift = next(r for r in records if r.period.value == "shift")
    assert shift.times.apt == pytest.approx(10 * 60 - 1)  # 08:00-08:09:59, the break included
    assert shift.times.adot == pytest.approx(1)
    idle = next(i for i in intervals if i.state.name == "IDLE")
    assert idle.start == ms(8, 9, 59)  # the change still starts where the raw state changed
    assert_consistent(records, intervals)


def test_sparse_samples_with_a_change_pending_across_the_window_end() -> None:
    dev = device({"default": "30s"}, None)
    samples = [(ms(8, 9), True), (ms(8, 9, 50), True), (ms(8, 9, 55), False), (ms(8, 10, 40), False)]
    records, intervals = run(dev, [*samples, (ms(8, 11, 30), False)], ms(8, 12))
    assert [i.state.name for i in intervals] == ["RUNNING", "IDLE"]
    assert intervals[1].start == ms(8, 9, 55)
    assert_consistent(records, intervals)


def test_a_sealed_window_moves_a_pending_change_to_its_end() -> None:
    """A change still pending when its window is reported (the tracker waited the longest debounce)
    starts at the window end: the interval before it then ends where the record cut it."""
    norm = DeviceNormaliser(device({"default": "5s"}, None), None, CALENDAR, start_ms=ms(7))
    machine = norm.machine
    assert machine is not None
    machine.update(ms(8, 9), {"run": True}, {})
    machine.update(ms(8, 9, 5), {"run": True}, {})
    machine.update(ms(8, 9, 58), {"run": False}, {})
    assert machine.pending_since == ms(8, 9, 58)
    machine.seal(ms(8, 10))
    assert machine.pending_since == ms(8, 10)
    (change,) = machine.update(ms(8, 10, 5), {"run": False}, {})
    assert change.since == ms(8, 10) and change.closed is not None and change.closed.end == ms(8, 10)


def test_an_idle_gap_across_the_window_end_keeps_the_bucket_it_was_reported_with() -> None:
    """IDLE 08:09:58-08:10:02 between RUNNING would be a micro-stop (ADET), but the shift record
    counted its first 2 s as ADOT when the shift closed: it stays IDLE/ADOT."""
    dev = device({"default": "0s"}, "10s")
    samples = [
        (ms(8, 9, 0) + k * S, not ms(8, 9, 58) <= ms(8, 9, 0) + k * S < ms(8, 10, 2)) for k in range(90)
    ]
    records, intervals = run(dev, samples, ms(8, 11))
    gap = next(i for i in intervals if i.state.name == "IDLE")
    assert gap.bucket.value == "ADOT"
    assert_consistent(records, intervals)


def test_an_idle_gap_inside_a_window_still_becomes_a_micro_stop() -> None:
    dev = device({"default": "0s"}, "10s")
    samples = [
        (ms(8, 9, 0) + k * S, not ms(8, 9, 30) <= ms(8, 9, 0) + k * S < ms(8, 9, 33)) for k in range(90)
    ]
    records, intervals = run(dev, samples, ms(8, 11))
    gap = next(i for i in intervals if i.state.name == "IDLE")
    assert gap.bucket.value == "ADET"
    assert_consistent(records, intervals)


@pytest.mark.parametrize("seed", range(8))
def test_flapping_signals_with_debounce_and_late_samples_stay_consistent(seed: int) -> None:
    rng = random.Random(seed)
    dev = device({"default": f"{rng.choice([0, 1, 3, 7])}s", "IDLE": f"{rng.choice([0, 2, 5])}s"}, "6s")
    ts, value, samples = ms(7, 58), True, []
    while ts < ms(9, 0, 30):
        if rng.random() < 0.2:
            value = not value
        samples.append((ts, value))
        ts += rng.choice([250, 700, 1000, 1000, 2500, 9000])
    records, intervals = run(dev, samples, ts)
    assert {r.label for r in records} >= {"2026-11-25/A", "2026-11-25T07", "2026-11-25T08"}
    assert_consistent(records, intervals)
