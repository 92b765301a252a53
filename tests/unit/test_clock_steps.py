"""Wall-clock steps do not rewrite history (issue 15, bullet 6): a step is seen against the monotonic
clock, and state intervals, staleness and counters keep their true durations across it."""

from __future__ import annotations

import pytest

from collector.clock import Step, StepWatch
from collector.config.modbus import ModbusTcpDevice
from collector.model import Reading
from collector.normalise.device import DeviceEvents, DeviceNormaliser
from collector.normalise.records import State, StateInterval

pytestmark = pytest.mark.unit

T0 = 1_790_000_000_000  # a wall time (UTC ms)


class ManualClock:
    """Wall and monotonic time set by the test: `advance` moves both, `step` only the wall clock."""

    def __init__(self) -> None:
        self.wall, self.mono = T0, 5_000

    def wall_ms(self) -> int:
        return self.wall

    def mono_ms(self) -> int:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += round(seconds * 1000)
        self.mono += round(seconds * 1000)

    def step(self, seconds: float) -> None:
        self.wall += round(seconds * 1000)


def test_the_watch_reports_a_step_of_the_wall_clock_and_nothing_else() -> None:
    clock = ManualClock()
    watch = StepWatch(clock)
    assert watch.now() == (T0, None)
    clock.advance(30)
    assert watch.now() == (T0 + 30_000, None)
    clock.advance(10)
    clock.step(3600)
    ts, step = watch.now()
    assert ts == T0 + 3_640_000 and step == Step(T0 + 40_000, T0 + 3_640_000) and step.size_ms == 3_600_000
    clock.advance(0.2)
    clock.wall += 300  # 0.3 s of disagreement: slewing, below the 1 s a step needs
    assert watch.now()[1] is None


DEVICE = ModbusTcpDevice.model_validate(
    {
        "id": "m1", "protocol": "modbus_tcp", "host": "h", "poll_interval": "1s",
        "tags": [{"name": "red", "address": "000001", "type": "bool"},
                 {"name": "green", "address": "000002", "type": "bool"},
                 {"name": "parts", "address": 40001}],
        "state": {"template": "stacklight", "inputs": {"red": "red", "green": "green"},
                  "debounce": {"default": "0s"}, "stale_timeout": "10s"},
        "counters": [{"name": "parts", "tag": "parts", "width": 16, "max_rate": 1}],
    }
)  # fmt: skip


class Poller:
    """What the device worker does on each poll: read the clock, hand a step on, then the readings."""

    def __init__(self, clock: ManualClock) -> None:
        self.watch = StepWatch(clock)
        self.norm = DeviceNormaliser(DEVICE, None)
        self.events: list[DeviceEvents] = []

    def poll(self, red: bool, green: bool, parts: int = 0) -> None:
        ts, step = self.watch.now()
        if step is not None:
            self.events.append(self.norm.clock_step(step))
        readings = [
            Reading("m1", "red", red, 0, None, ts, 1, 0),
            Reading("m1", "green", green, 0, None, ts, 1, 0),
            Reading("m1", "parts", parts, 0, None, ts, 1, 0),
        ]
        self.events.append(self.norm.observe(ts, readings))

    def intervals(self) -> list[StateInterval]:
        return [c.closed for ev in self.events for c in ev.states if c.closed is not None]

    def seconds_in(self, state: State) -> float:
        return sum(iv.duration_s for iv in self.intervals() if iv.state is state)


def test_a_step_forward_does_not_lengthen_the_running_interval() -> None:
    clock = ManualClock()
    poller = Poller(clock)
    poller.poll(red=False, green=True)  # RUNNING from T0
    for _ in range(5):
        clock.advance(10)
        poller.poll(red=False, green=True)
    clock.step(3600)  # NTP corrects the clock by +1 h at 50 s of the run
    for _ in range(6):
        clock.advance(10)
        poller.poll(red=False, green=True)
    poller.poll(red=True, green=False)  # ALARM at 110 s of true time
    assert poller.seconds_in(State.RUNNING) == 110  # was 3,710 s
    # split where the step was seen (the poll at 60 s): 60 s on the old clock, 50 s on the new one
    first, second = poller.intervals()
    assert (first.start, first.end) == (T0, T0 + 60_000)
    assert (second.start, second.end) == (T0 + 3_660_000, T0 + 3_710_000)
    assert not any(ev.states and ev.states[0].state is State.OFFLINE for ev in poller.events)  # not stale


def test_a_step_back_does_not_swallow_the_alarm_that_follows() -> None:
    clock = ManualClock()
    poller = Poller(clock)
    poller.poll(red=False, green=True)  # RUNNING
    clock.advance(100)
    poller.poll(red=False, green=True)
    clock.step(-600)  # the clock was 10 min fast
    clock.advance(20)
    poller.poll(red=True, green=False)  # ALARM for 180 s
    for _ in range(18):
        clock.advance(10)
        poller.poll(red=True, green=False)
    poller.poll(red=False, green=True)
    alarms = [iv for iv in poller.intervals() if iv.state is State.ALARM]
    assert [iv.duration_s for iv in alarms] == [180.0]  # it disappeared before
    assert poller.seconds_in(State.RUNNING) == 120  # 100 s, then 20 s after the step


def test_a_step_forward_makes_no_tag_or_state_stale_and_no_part_implausible() -> None:
    clock = ManualClock()
    poller = Poller(clock)
    poller.poll(red=False, green=True, parts=10)
    clock.advance(1)
    clock.step(3600)
    poller.poll(red=False, green=True, parts=11)
    clock.advance(1)
    poller.poll(red=False, green=True, parts=13)  # 2 parts in 1 s at max_rate 1/s: plausible
    deltas = [d for ev in poller.events for d in ev.deltas]
    assert [(d.delta, d.quarantined, d.ts - (d.since or 0)) for d in deltas] == [(1, 0, 1_000), (2, 0, 1_000)]
    stale = poller.norm.machine.tick(clock.wall) if poller.norm.machine else []
    assert stale == []
