"""Against the PLC simulator: a device that keeps answering Modbus exception 06 (busy) turns
OFFLINE/STALE exactly `stale_timeout` after its last data (issue 15, bullet 3); wall-clock steps
leave state intervals of their true length and a TIMESYNC step entry in the ledger, and samples are
Uncertain while the clock is known to be off (bullet 6)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from collector.clock import ClockHealth
from collector.config import load_plant
from collector.engine import Engine
from collector.ledger import iter_entries
from collector.normalise.records import State
from drivers.status import GOOD, UNCERTAIN
from simulators.modbus import PlcSimulator
from tests.support.engine import Recorder, current_change, running
from tests.support.evidence import running as collector_running
from tests.support.evidence import write_plant
from tests.support.net import async_wait_for
from tests.support.plants import stacklight_plant

pytestmark = pytest.mark.integration


def plant_yaml(port: int) -> str:
    return stacklight_plant(port, device_extra="    stale_timeout: 1s\n")


async def test_a_device_that_keeps_answering_busy_turns_stale_after_the_stale_timeout(tmp_path: Path) -> None:
    async with PlcSimulator(name="sl", profile="stacklight-plc", seed=3, update_interval=3600) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(plant_yaml(sim.port), encoding="utf-8")
        rec = Recorder()
        engine = Engine(load_plant(path), rec.output, events=rec.event)
        async with running(engine):
            await async_wait_for(lambda: any(ev.states for ev in rec.events), 20, "a first state")
            sim.busy()  # from now on every request answers exception 06
            stale = await async_wait_for(
                lambda: [c for ev in rec.events for c in ev.states if c.sub == "STALE"], 20, "OFFLINE/STALE"
            )
            sim.busy(False)
    [change] = stale[:1]
    last_data = max(r.collected_ts for r in rec.readings if r.status == 0)  # the last good read
    assert change.state is State.OFFLINE and change.since == last_data + 1_000  # stale_timeout: 1s
    assert any(r.status >> 30 == 1 for r in rec.readings)  # the tags turned Uncertain too


async def test_samples_are_uncertain_while_the_clock_is_beyond_its_limit(tmp_path: Path) -> None:
    async with PlcSimulator(name="sl", profile="stacklight-plc", seed=3, update_interval=3600) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(plant_yaml(sim.port), encoding="utf-8")
        rec = Recorder()
        health = ClockHealth()
        engine = Engine(load_plant(path), rec.output, events=rec.event, clock_health=health)
        async with running(engine):
            await async_wait_for(lambda: any(r.status == GOOD for r in rec.readings), 20, "good readings")
            health.excursion = True  # chrony measured an offset beyond timesync_max_offset
            seen = len(rec.readings)
            await async_wait_for(lambda: len(rec.readings) > seen + 22, 20, "two more polls")
            during = rec.readings[seen + 11 :]  # after the poll that may have begun before
            health.excursion = False
            seen = len(rec.readings)
            await async_wait_for(lambda: len(rec.readings) > seen + 22, 20, "two more polls")
            after = rec.readings[seen + 11 :]
    assert during and all(r.status == UNCERTAIN for r in during)
    assert after and all(r.status == GOOD for r in after)


class SteppedClock:
    """The system's monotonic clock, and its wall clock moved by `offset_ms` (set by the test)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def mono_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


def _entries(ledger_dir: Path, type_: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in iter_entries(ledger_dir) if e["type"] == type_]


async def test_clock_steps_leave_true_interval_lengths_and_ledger_entries(tmp_path: Path) -> None:
    async with PlcSimulator(name="sl", profile="stacklight-plc", seed=5, update_interval=3600) as sim:
        path = write_plant(tmp_path, plant_yaml(sim.port))
        plant = load_plant(path)
        ledger_dir = plant.resolve(plant.config.evidence.ledger_dir)
        clock = SteppedClock()

        def steps() -> list[dict[str, Any]]:
            return [p for p in _entries(ledger_dir, "TIMESYNC") if p["status"] == "step"]

        started = time.monotonic()
        async with collector_running(path, clock=clock) as collector:

            def since() -> int:
                change = current_change(collector.engine, "sl-01")
                return change.since if change is not None else 0

            await async_wait_for(since, 20, "a first state")
            clock.offset_ms += 3_600_000  # NTP steps the clock forward by 1 h
            await async_wait_for(lambda: len(steps()) == 1, 20, "the forward step in the ledger")
            # the worker goes on in the same state from the new clock's time
            await async_wait_for(lambda: since() > clock.wall_ms() - 60_000, 20, "a continuation")
            clock.offset_ms -= 600_000  # and back by 10 min
            await async_wait_for(lambda: len(steps()) == 2, 20, "the backward step in the ledger")
            await async_wait_for(lambda: since() <= clock.wall_ms(), 20, "a continuation on the new clock")
        ran_ms = (time.monotonic() - started) * 1000
    forward, backward = steps()
    assert forward["step_s"] == pytest.approx(3600, abs=0.5) and backward["step_s"] == pytest.approx(
        -600, abs=0.5
    )
    intervals = [p for p in _entries(ledger_dir, "STATE_INTERVAL") if p["device"] == "sl-01"]
    assert len(intervals) >= 3  # cut at each step, and at the stop
    # every interval is no longer than the run itself: none spans a step
    assert all(0 <= p["end"] - p["start"] <= ran_ms for p in intervals)
    assert sum(p["end"] - p["start"] for p in intervals) <= ran_ms
