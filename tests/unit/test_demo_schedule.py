"""Fault schedules of the demo and the soak: every family in turn, or the chosen ones more often."""

from __future__ import annotations

import pytest

from collector.demo.schedule import FAULT_FAMILIES, Step, demo_schedule, soak_schedule

pytestmark = pytest.mark.unit


def family(step: Step) -> str | None:
    """The family an episode's first step belongs to (None for the second step of an episode)."""
    if step.action == "device":
        return {"sl-01": "plc", "cnc-01": "cnc", "imm-01": "rtu"}[step.device or ""]
    firsts = {
        "broker_kill": "broker",
        "store_down": "store",
        "historian_kill": "historian",
        "collector_kill": "kill",
    }
    return firsts.get(step.action)


def test_the_soak_cycles_every_family_in_order_and_ends_calm() -> None:
    length = 1800.0
    steps = soak_schedule(length, store=True)
    firsts = [f for f in map(family, steps) if f is not None]
    n = len(FAULT_FAMILIES)
    assert firsts[:n] == list(FAULT_FAMILIES)
    assert firsts == [FAULT_FAMILIES[i % n] for i in range(len(firsts))]
    assert len(firsts) > 12  # a 30-minute run repeats each family
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert max(s.at for s in steps) < 0.85 * length


def test_without_a_store_there_is_no_store_outage_and_no_historian() -> None:
    firsts = [f for f in map(family, soak_schedule(600, store=False)) if f is not None]
    assert "store" not in firsts and firsts[:5] == ["plc", "cnc", "rtu", "broker", "kill"]


def test_one_family_repeats_more_often_and_each_outage_ends() -> None:
    length = 1800.0
    every = [s for s in soak_schedule(length, store=True) if s.action == "broker_kill"]
    only = soak_schedule(length, store=True, families=("broker",))
    assert {s.action for s in only} == {"broker_kill", "broker_up", "broker_takeover"}
    downs = [s for s in only if s.action == "broker_kill"]
    ups = [s for s in only if s.action in ("broker_up", "broker_takeover")]
    assert [s.action for s in ups[:4]] == ["broker_up", "broker_takeover"] * 2  # restart, fail-over, ...
    assert len(downs) == len(ups) and len(downs) > 2 * len(every)
    assert all(0 < u.at - d.at <= 30 for d, u in zip(downs, ups, strict=True))
    assert all(ups[i].at < downs[i + 1].at for i in range(len(downs) - 1))  # never two outages at once


def test_unknown_or_impossible_families_are_refused() -> None:
    with pytest.raises(ValueError, match="brokr"):
        soak_schedule(600, store=True, families=("brokr",))
    with pytest.raises(ValueError, match="VictoriaMetrics"):
        soak_schedule(600, store=False, families=("store",))


def test_the_demo_shows_a_device_fault_then_an_outage_that_ends_before_the_end() -> None:
    length = 180.0
    device, down, up = demo_schedule(length)
    assert device.action == "device" and device.kind == "stall" and device.seconds is not None
    assert down.action == "broker_down" and up.action == "broker_up"
    assert device.at + device.seconds < down.at < up.at < length
