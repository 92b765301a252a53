"""A long simulated run on OPC UA: the engine's states and part counts match the CNC simulator.

Like the PLC run beside it, simulated time is stepped by hand (30 s a step) and the engine polls after
every step, so each step's machine phase maps to exactly one canonical state and the counted parts
equal the parts the machine made.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.engine import Engine
from collector.normalise.records import State
from simulators.clock import SimClock
from simulators.machine import MachineProfile, Phase
from simulators.opcua import CncSimulator
from tests.support.engine import Recorder, dedup, running
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration

EXPECTED = {
    Phase.RUNNING: State.RUNNING,  # ChannelState Active
    Phase.FEED_HOLD: State.IDLE,  # Interrupted
    Phase.SETUP: State.IDLE,  # Reset, operation mode Setup
    Phase.IDLE: State.IDLE,  # Reset
    Phase.ALARM: State.ALARM,  # alarm code set
    Phase.POWER_OFF: State.OFFLINE,  # the server marks every value Bad
}
TAGS = {
    "channel_state": "Monitoring/Channel1/ChannelState",
    "program_state": "Production/ActiveProgram/State",
    "operation_mode": "Monitoring/MachineTool/OperationMode",
    "alarm_code": "Notification/Messages/ActiveAlarmCode",
    "parts": "Production/Statistics/PartsProducedInLifetime",
}


def plant(sim: CncSimulator) -> str:
    tags = "\n".join(f"      - {{name: {n}, node: 'm:Machines/cnc-01/{p}'}}" for n, p in TAGS.items())
    return f"""
version: 1
site: {{enterprise: t, site: s}}
devices:
  - id: cnc-01
    protocol: opcua
    endpoint: {sim.endpoint}
    mode: poll
    poll_interval: 50ms
    timeout: 2s
    namespaces: {{m: "{sim.namespace_uri}"}}
    tags:
{tags}
    state:
      template: machinetool
      inputs: {{channel_state: channel_state, program_state: program_state, operation_mode: operation_mode,
               alarm_code: alarm_code}}
      debounce: {{default: 0s}}
    counters:
      - {{name: parts, tag: parts, width: 32, max_rate: 1000000}}  # simulated minutes pass in milliseconds
"""


class ManualTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_cnc_states_and_part_counts_match_the_simulator(tmp_path: Path) -> None:
    real = ManualTime()
    clock = SimClock(1.0, start=1_790_000_000.0, real=real)
    machine = MachineProfile(cycle_time_s=60.0, alarm_prob=0.05)
    async with CncSimulator(name="cnc-01", seed=9, clock=clock, update_interval=0, machine=machine) as sim:
        await sim.step()
        path = tmp_path / "plant.yaml"
        path.write_text(plant(sim), encoding="utf-8")
        rec = Recorder()
        engine = Engine(load_plant(path), rec.output, events=rec.event)
        phases: list[Phase] = []
        async with running(engine):
            await async_wait_for(lambda: len(rec.readings) >= len(TAGS), 30, "first poll")
            start_parts = sim.model.snapshot.parts_total
            for _ in range(200):  # 200 x 30 s = 100 simulated minutes
                real.t += 30
                await sim.step()
                phases.append(sim.model.snapshot.phase)
                polled = len(rec.readings) + 2 * len(TAGS)  # two complete polls after the step
                await async_wait_for(
                    lambda polled=polled: len(rec.readings) >= polled, 10, "polls after step"
                )
            made = sim.model.snapshot.parts_total - start_parts

    states = [c.state for ev in rec.events for c in ev.states]
    assert dedup(states) == dedup([EXPECTED[p] for p in phases]), "state sequence differs from the machine's"
    assert {State.RUNNING, State.IDLE, State.ALARM} <= set(states)
    counted = sum(d.delta for ev in rec.events for d in ev.deltas)
    assert counted == made, f"counted {counted}, the machine made {made}"
