"""Per device: feed the latest readings to its state machine and part counters.

The worker hands every batch of readings here; what comes back (state changes, counter deltas and
counter events) goes to the delivery stage beside the readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.clock import Step
from collector.config.plant import Device
from collector.model import Reading
from collector.normalise.counters import BaselineStore, PartCounter
from collector.normalise.kpi_tracker import KpiTracker
from collector.normalise.kpimodel import program_name
from collector.normalise.records import CounterDelta, CounterEvent, KpiRecord, StateChange, StateInterval
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.state import StateMachine, compile_state
from collector.normalise.statefile import load_json, save_json
from drivers.status import is_bad


@dataclass(frozen=True, slots=True)
class DeviceEvents:
    device: str
    states: tuple[StateChange, ...] = ()
    deltas: tuple[CounterDelta, ...] = ()
    counter_events: tuple[CounterEvent, ...] = ()
    kpis: tuple[KpiRecord, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.states or self.deltas or self.counter_events or self.kpis)


class DeviceNormaliser:
    """State, counters and OEE of one device. `state_dir` keeps counter baselines and the part tallies
    of open KPI windows across restarts and reloads; `history` is the device's state intervals already
    in the ledger, from which windows running at `start_ms` are completed (KpiTracker)."""

    def __init__(
        self, device: Device, state_dir: Path | None, calendar: ShiftCalendar | None = None,
        start_ms: int = 0, history: Sequence[StateInterval] = (),
    ) -> None:  # fmt: skip
        self.device = device.id
        self._kpi_file = state_dir / f"kpi.{device.id}.json" if state_dir is not None else None
        self.machine = (
            StateMachine(device.id, compile_state(device.state, device.effective_stale_timeout))
            if device.state is not None
            else None
        )
        store = BaselineStore(state_dir, device.id) if state_dir is not None else None
        self.counters = [(cfg.tag, PartCounter(device.id, cfg, store)) for cfg in device.counters]
        self.program_tag = device.oee.program_input if device.oee is not None else None
        self.program: str | None = None  # the active program: its PRI applies to the parts counted
        saved = load_json(self._kpi_file) if self._kpi_file is not None else None
        self.kpi = (
            KpiTracker(device, calendar, start_ms, history, saved if isinstance(saved, dict) else None)
            if calendar and self.machine
            else None
        )

    def observe(self, ts: int, readings: list[Reading]) -> DeviceEvents:
        states: list[StateChange] = []
        if self.machine is not None:
            # arrays carry no state meaning: rules compare scalars
            values = {r.tag: r.value for r in readings if not isinstance(r.value, list)}
            qualities = {r.tag: r.status for r in readings}
            states = self.machine.update(ts, values, qualities, comm_ok=True)
        deltas: list[CounterDelta] = []
        events: list[CounterEvent] = []
        latest = {r.tag: r for r in readings}
        self._follow_program(latest.get(self.program_tag) if self.program_tag else None)
        for tag, counter in self.counters:
            reading = latest.get(tag)
            if reading is None or isinstance(reading.value, list):
                continue
            update = counter.update(ts, reading.value, reading.status, program=self.program)
            if update.delta is not None:
                deltas.append(update.delta)
            events.extend(update.events)
        return self._with_kpis(ts, DeviceEvents(self.device, tuple(states), tuple(deltas), tuple(events)))

    def _follow_program(self, reading: Reading | None) -> None:
        """The program tag's last usable value (on_change tags are not in every batch): parts counted
        from now on are judged against that program's ideal cycle time (oee.per_program)."""
        if reading is None or is_bad(reading.status):
            return
        self.program = program_name(reading.value) or self.program

    def tick(self, ts: int, stale: Sequence[Reading] = ()) -> DeviceEvents:
        """Time passed without data to use (the device answered busy, or refused the read): the
        state sees it all the same (staleness, debounce expiry), and windows that ended close.
        `stale`: readings re-published as Uncertain meanwhile; their quality goes into the state's q."""
        if self.machine is None:
            return DeviceEvents(self.device)
        qualities = {r.tag: r.status for r in stale}
        return self._with_kpis(ts, DeviceEvents(self.device, tuple(self.machine.tick(ts, qualities))))

    def clock_step(self, step: Step) -> DeviceEvents:
        """The wall clock jumped: counters and state keep true durations (StateMachine.clock_step)."""
        for _, counter in self.counters:
            counter.clock_step(step.size_ms)
        if self.machine is None:
            return DeviceEvents(self.device)
        return self._with_kpis(step.after_ms, DeviceEvents(self.device, tuple(self.machine.clock_step(step))))

    def lost(self, ts: int, readings: Sequence[Reading] = ()) -> DeviceEvents:
        """The device cannot be read, or did not answer: its state becomes OFFLINE/COMM_LOSS (after
        the rule's debounce). `readings`: what was published for its tags meanwhile (Bad, or last
        values marked Uncertain); their values and qualities are the state's inputs and q."""
        if self.machine is None:
            return DeviceEvents(self.device)
        values = {r.tag: r.value for r in readings if not isinstance(r.value, list)}
        qualities = {r.tag: r.status for r in readings}
        changes = self.machine.update(ts, values, qualities, comm_ok=False)
        return self._with_kpis(ts, DeviceEvents(self.device, tuple(changes)))

    def finish(self, ts: int) -> DeviceEvents:
        """The worker stops (shutdown, or a reload replaces it): windows that ended are reported,
        and the part tallies of those still open are saved for the next worker to go on from."""
        events = self.tick(ts)
        self.save()
        return events

    def save(self) -> None:
        if self.kpi is not None and self._kpi_file is not None:
            save_json(self._kpi_file, self.kpi.saved_parts())

    def _with_kpis(self, ts: int, events: DeviceEvents) -> DeviceEvents:
        if self.kpi is None or self.machine is None:
            return events
        self.kpi.add(events.states, events.deltas, events.counter_events, self.machine)
        kpis = self.kpi.due(ts, self.machine)
        if not kpis:
            return events
        self.save()  # once a window (at least an hour) closes: a crash loses at most that much
        return DeviceEvents(events.device, events.states, events.deltas, events.counter_events, tuple(kpis))
