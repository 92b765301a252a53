"""A long simulated run: the engine's states and part counts match what the PLC simulator did.

The simulator's clock is stepped by hand (30 simulated seconds a step) and the engine polls after
every step, so the comparison is exact: each step's machine phase maps to one canonical state, and
the counted parts equal the parts the machine made — through a 16-bit counter that rolls over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.engine import Engine
from collector.normalise.records import CounterEventKind, State
from simulators.machine import Phase
from simulators.modbus import PlcSimulator, Quirks
from simulators.modbus.testing import ManualClock
from tests.support.engine import Recorder, dedup, running
from tests.support.net import async_wait_for
from tests.support.plants import TEMPLATES, stacklight_device

pytestmark = pytest.mark.integration

EXPECTED = {
    Phase.RUNNING: State.RUNNING,
    Phase.FEED_HOLD: State.IDLE,  # yellow only
    Phase.SETUP: State.IDLE,  # yellow only
    Phase.IDLE: State.IDLE,  # all lamps off, powered
    Phase.ALARM: State.ALARM,  # red
    Phase.POWER_OFF: State.STOPPED,  # powered input off
}


def plant(port: int) -> str:
    return f"""
version: 1
site: {{enterprise: t, site: s}}
templates_dir: {TEMPLATES}
devices:
{stacklight_device(port, poll="50ms", timeout="500ms", rule=RULE)}    counters:
      # the simulator's 30 s steps take milliseconds here: no real-time rate limit applies
      - {{name: parts16, tag: parts_count16, width: 16, max_rate: 1000000}}
      - {{name: parts32, tag: parts_total, width: 32, max_rate: 1000000}}
"""


# steps are compressed in real time: a lamp that changes at two steps is no blink
RULE = "      blink_window: 20ms\n"


async def test_states_and_part_counts_match_the_simulator(tmp_path: Path) -> None:
    clock = ManualClock()
    quirks = Quirks(counter_start=65_500)  # the 16-bit counter rolls over during the run
    async with PlcSimulator(
        profile="stacklight-plc", seed=5, clock=clock, update_interval=1.0, quirks=quirks
    ) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(plant(sim.port), encoding="utf-8")
        rec = Recorder()
        engine = Engine(load_plant(path), rec.output, events=rec.event)
        machine = sim.device().machine
        phases: list[Phase] = []
        async with running(engine):
            await async_wait_for(lambda: len(rec.readings) > 0, 20, "first poll")
            start_parts = machine.snapshot.parts_total
            for _ in range(200):  # 200 x 30 s = 100 simulated minutes
                clock.advance(30)
                await sim.step()
                phases.append(machine.snapshot.phase)
                seen = len(rec.readings)
                # two complete polls after the step: the first may have started before it
                polled = seen + 2 * 11  # 11 tags
                await async_wait_for(
                    lambda polled=polled: len(rec.readings) >= polled, 10, "polls after step"
                )
            made = machine.snapshot.parts_total - start_parts

    states = [c.state for ev in rec.events for c in ev.states]
    assert dedup(states) == dedup([EXPECTED[p] for p in phases]), "state sequence differs from the machine's"
    assert {State.RUNNING, State.IDLE, State.ALARM} <= set(states)
    for counter in ("parts16", "parts32"):
        counted = sum(d.delta for ev in rec.events for d in ev.deltas if d.counter == counter)
        assert counted == made, f"{counter}: counted {counted}, the machine made {made}"
    kinds = {e.event for ev in rec.events for e in ev.counter_events if e.counter == "parts16"}
    assert CounterEventKind.ROLLOVER in kinds
