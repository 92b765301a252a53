"""Unit tests for the deterministic machine model and the simulated clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.clock import SimClock
from simulators.machine import MachineEvent, MachineModel, MachineProfile, MachineSnapshot, Phase

pytestmark = pytest.mark.unit

START = 1_700_000_000.0
DAY = 86_400.0


def run(
    seed: int, steps: list[float], profile: MachineProfile | None = None
) -> tuple[list[MachineEvent], list[MachineSnapshot]]:
    m = MachineModel(profile or MachineProfile(), seed=seed, start=START)
    events: list[MachineEvent] = []
    snaps: list[MachineSnapshot] = []
    for t in steps:
        events += m.advance_to(t)
        snaps.append(m.snapshot)
    return events, snaps


def test_same_seed_same_results() -> None:
    steps = [START + i * 37.0 for i in range(3000)]
    assert run(7, steps) == run(7, steps)


def test_different_seed_differs() -> None:
    steps = [START + i * 37.0 for i in range(3000)]
    assert run(7, steps)[1] != run(8, steps)[1]


def test_result_independent_of_step_granularity() -> None:
    fine = MachineModel(MachineProfile(), seed=3, start=START)
    fine_events: list[MachineEvent] = []
    for i in range(1, 20_001):
        fine_events += fine.advance_to(START + i * 5.0)
    coarse = MachineModel(MachineProfile(), seed=3, start=START)
    coarse_events = coarse.advance_to(START + 100_000.0)
    assert fine_events == coarse_events
    assert fine.snapshot == coarse.snapshot


def test_starts_powered_in_setup() -> None:
    m = MachineModel(MachineProfile(), seed=1, start=START)
    events = m.advance_to(START)
    assert events == [MachineEvent(START, "phase", "setup")]
    s = m.snapshot
    assert s.powered and s.phase is Phase.SETUP and s.program_state == "Initializing"
    assert s.program_name in MachineProfile().programs


def test_going_backwards_is_noop() -> None:
    m = MachineModel(MachineProfile(), seed=1, start=START)
    m.advance_to(START + 1000)
    before = m.snapshot
    assert m.advance_to(START + 10) == []
    assert m.snapshot == before


def test_parts_accounting_and_lifetime_monotonic() -> None:
    m = MachineModel(MachineProfile(), seed=11, start=START)
    last_total = 0
    last_run = 0
    last_in_run = 0
    run_resets = 0
    for i in range(1, 3 * 24 * 60):
        m.advance_to(START + i * 60.0)
        s = m.snapshot
        assert s.parts_total == s.parts_good + s.parts_scrap
        assert s.parts_total >= last_total
        if s.run_index != last_run:
            # A new run started within the last minute: its counter restarted from zero.
            assert s.parts_in_run <= 1
            run_resets += 1 if last_in_run > 1 else 0
        else:
            assert s.parts_in_run >= last_in_run
        assert s.parts_in_run <= s.cycles_planned
        last_total, last_run, last_in_run = s.parts_total, s.run_index, s.parts_in_run
    assert run_resets > 10
    assert m.snapshot.parts_scrap > 0
    assert m.snapshot.parts_good > 20 * m.snapshot.parts_scrap


def test_part_events_match_counters() -> None:
    m = MachineModel(MachineProfile(), seed=5, start=START)
    events = m.advance_to(START + DAY)
    parts = [e for e in events if e.kind == "part"]
    assert len(parts) == m.snapshot.parts_total
    assert sum(e.detail == "scrap" for e in parts) == m.snapshot.parts_scrap
    assert [e.t for e in events] == sorted(e.t for e in events)


def test_feed_holds_and_alarms_occur_over_long_horizon() -> None:
    m = MachineModel(MachineProfile(), seed=2, start=START)
    events = m.advance_to(START + 7 * DAY)
    phases = [e.detail for e in events if e.kind == "phase"]
    assert phases.count("feed_hold") > 20
    raised = [e for e in events if e.kind == "alarm_raised"]
    cleared = [e for e in events if e.kind == "alarm_cleared"]
    assert len(raised) > 5
    assert len(raised) - len(cleared) in (0, 1)
    assert m.totals["alarms"] == len(raised)


def test_feed_hold_and_alarm_snapshots() -> None:
    m = MachineModel(MachineProfile(), seed=2, start=START)
    seen: set[Phase] = set()
    for i in range(1, 7 * 24 * 360):
        m.advance_to(START + i * 10.0)
        s = m.snapshot
        seen.add(s.phase)
        if s.phase is Phase.FEED_HOLD:
            assert s.program_state == "Interrupted" and not s.spindle_rotating and s.feed_override == 0
        elif s.phase is Phase.ALARM:
            assert s.program_state == "Aborted" and s.alarm_code != 0 and s.alarm_text
        elif s.phase is Phase.RUNNING:
            assert s.spindle_rotating and s.spindle_speed > 0 and s.alarm_code == 0
        else:
            assert not s.spindle_rotating and s.spindle_speed == 0
    assert seen == set(Phase)


def test_alarm_is_followed_by_idle() -> None:
    m = MachineModel(MachineProfile(alarm_prob=0.5), seed=4, start=START)
    events = [e for e in m.advance_to(START + DAY) if e.kind == "phase"]
    after_alarm = [events[i + 1].detail for i, e in enumerate(events[:-1]) if e.detail == "alarm"]
    assert after_alarm
    assert set(after_alarm) <= {"idle", "power_off"}


def test_power_off_at_shift_end_then_new_shift() -> None:
    p = MachineProfile(shift_s=3600, power_off_s=600)
    m = MachineModel(p, seed=9, start=START)
    m.advance_to(START + 3599.9)
    assert m.snapshot.powered
    m.advance_to(START + 3600)
    s = m.snapshot
    assert s.phase is Phase.POWER_OFF and not s.powered and not s.spindle_rotating
    assert s.power_on_s == pytest.approx(3600)
    m.advance_to(START + 4199)
    assert m.phase is Phase.POWER_OFF
    m.advance_to(START + 4200)
    assert m.snapshot.phase is Phase.SETUP
    assert m.snapshot.power_on_s == pytest.approx(3600)


def test_totals_add_up_to_elapsed_time() -> None:
    m = MachineModel(MachineProfile(), seed=6, start=START)
    for i in range(1, 500):
        m.advance_to(START + i * 777.7)
    totals = m.totals
    phase_sum = sum(totals[p.value] for p in Phase)
    elapsed = 499 * 777.7
    assert phase_sum == pytest.approx(elapsed)
    assert totals["power_off"] + m.snapshot.power_on_s == pytest.approx(elapsed)
    assert totals["parts_total"] == totals["parts_good"] + totals["parts_scrap"]
    assert totals["running"] > totals["idle"]


def test_invalid_profile_rejected() -> None:
    with pytest.raises(ValueError):
        MachineProfile(cycle_time_s=0)
    with pytest.raises(ValueError):
        MachineProfile(cycles_per_run=(3, 1))


def test_sim_clock_exact_with_fake_real() -> None:
    real = [100.0]
    clock = SimClock(time_scale=60.0, start=START, real=lambda: real[0])
    assert clock.now() == START
    real[0] = 102.5
    assert clock.now() == START + 150.0


def test_sim_clock_default_start_is_wall_time() -> None:
    import time

    before = time.time()
    clock = SimClock()
    assert before - 1 <= clock.now() <= time.time() + 1


FAST = MachineProfile(
    cycle_time_s=20,
    setup_s=(5, 30),
    idle_gap_s=(5, 30),
    feed_hold_prob=0.3,
    alarm_prob=0.1,
    shift_s=1800,
    power_off_s=300,
)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(st.floats(0, 900, allow_nan=False), min_size=1, max_size=40),
)
def test_invariants_hold_for_any_step_sequence(seed: int, steps: list[float]) -> None:
    m = MachineModel(FAST, seed=seed, start=START)
    t = START
    all_events: list[MachineEvent] = []
    for dt in steps:
        t += dt
        all_events += m.advance_to(t)
        s = m.snapshot
        assert s.t == t
        assert s.parts_total == s.parts_good + s.parts_scrap
        assert (s.alarm_code != 0) == (s.phase is Phase.ALARM)
        assert s.powered == (s.phase is not Phase.POWER_OFF)
    assert sum(m.totals[p.value] for p in Phase) == pytest.approx(t - START)
    # The same horizon in a single call yields the same event sequence.
    assert MachineModel(FAST, seed=seed, start=START).advance_to(t) == all_events
