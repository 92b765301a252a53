"""Deterministic behaviour model of a production machine (CNC or PLC-controlled cell).

The model is a discrete-event state machine driven by simulated time only: it never reads the
wall clock and never does I/O. All randomness comes from one ``random.Random(seed)`` and is drawn
only at phase boundaries, so the outcome does not depend on how finely ``advance_to`` is called.

Shift structure::

    power on -> SETUP -> (RUNNING cycles [FEED_HOLD] ... -> IDLE gap)* -> POWER_OFF at shift end

An ALARM aborts the current run; after ``alarm_s`` it is reset and the machine goes IDLE before the
next run starts. Shift end is a hard cut: whatever is happening, the machine powers off at
``shift start + shift_s`` and powers on again ``power_off_s`` later with a new setup.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)


class Phase(StrEnum):  # a str Enum: Phase.RUNNING == "running"
    POWER_OFF = "power_off"
    SETUP = "setup"
    RUNNING = "running"
    FEED_HOLD = "feed_hold"
    IDLE = "idle"
    ALARM = "alarm"


# program_state is a pure function of the phase (names follow OPC 40501 ProgramState).
PROGRAM_STATE: dict[Phase, str] = {
    Phase.POWER_OFF: "Ended",
    Phase.SETUP: "Initializing",
    Phase.RUNNING: "Running",
    Phase.FEED_HOLD: "Interrupted",
    Phase.IDLE: "Ended",
    Phase.ALARM: "Aborted",
}

# Plausible alarm catalogue; code 0 means "no alarm".
ALARMS: tuple[tuple[int, str], ...] = (
    (1001, "Spindle overload"),
    (1204, "Servo X axis following error"),
    (2003, "Coolant level low"),
    (3010, "Tool life expired"),
    (4500, "Door interlock open"),
)


@dataclass(frozen=True)
class MachineProfile:
    """Timing and probability parameters; all times are simulated seconds."""

    cycle_time_s: float = 60.0
    cycle_jitter: float = 0.1  # fraction of cycle_time_s, uniform +/-
    cycles_per_run: tuple[int, int] = (5, 20)
    scrap_rate: float = 0.03
    setup_s: tuple[float, float] = (120, 600)
    idle_gap_s: tuple[float, float] = (30, 300)
    feed_hold_prob: float = 0.05  # per cycle
    feed_hold_s: tuple[float, float] = (10, 60)
    alarm_prob: float = 0.02  # per cycle
    alarm_s: tuple[float, float] = (60, 300)
    shift_s: float = 8 * 3600
    power_off_s: float = 3600
    spindle_rpm: float = 8000.0
    programs: tuple[str, ...] = ("O1001", "O1002", "O2001")

    def __post_init__(self) -> None:
        # Positive cycle and shift lengths guarantee advance_to always makes progress.
        if self.cycle_time_s <= 0 or self.shift_s <= 0:
            raise ValueError("cycle_time_s and shift_s must be > 0")
        if not 0 <= self.cycle_jitter < 1:
            raise ValueError("cycle_jitter must be in [0, 1)")
        if self.power_off_s < 0:
            raise ValueError("power_off_s must be >= 0")
        if not self.programs:
            raise ValueError("programs must not be empty")
        lo, hi = self.cycles_per_run
        if not 1 <= lo <= hi:
            raise ValueError("cycles_per_run must satisfy 1 <= lo <= hi")
        for name in ("setup_s", "idle_gap_s", "feed_hold_s", "alarm_s"):
            a, b = getattr(self, name)
            if not 0 <= a <= b:
                raise ValueError(f"{name} must satisfy 0 <= lo <= hi")
        for name in ("scrap_rate", "feed_hold_prob", "alarm_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability")


@dataclass(frozen=True)
class MachineSnapshot:
    t: float  # sim time, epoch seconds
    phase: Phase
    powered: bool
    program_name: str
    program_state: str  # "Initializing" | "Running" | "Interrupted" | "Ended" | "Aborted"
    run_index: int
    cycle_in_run: int
    cycles_planned: int
    parts_total: int  # lifetime, never resets; consumers truncate to their register width
    parts_good: int
    parts_scrap: int
    parts_in_run: int  # resets at each new run
    alarm_code: int  # 0 = none
    alarm_text: str
    spindle_speed: float
    spindle_rotating: bool
    feed_override: float
    power_on_s: float  # cumulative powered time


@dataclass(frozen=True)
class MachineEvent:
    t: float
    kind: str  # "phase", "part", "alarm_raised", "alarm_cleared", "run_start", "run_end"
    detail: str


class MachineModel:
    """Advance with ``advance_to(t)``; read state with ``snapshot`` and ``totals``."""

    def __init__(self, profile: MachineProfile, seed: int, start: float) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self._t = float(start)
        self._pending: list[MachineEvent] = []
        self._snap: MachineSnapshot | None = None

        self._phase = Phase.POWER_OFF
        self._phase_end = self._t
        self._shift_end = self._t
        self._program = profile.programs[0]
        self._run_index = 0
        self._cycle_in_run = 0
        self._cycles_planned = 0
        self._speed_factor = 1.0
        # Current cycle: total work length, work done before the current RUNNING segment,
        # start of that segment, and work offsets at which a hold / alarm interrupts it.
        self._cycle_len = 0.0
        self._work_done = 0.0
        self._segment_start = self._t
        self._hold_at: float | None = None
        self._alarm_at: float | None = None
        self._stop_kind = "end"

        self._parts_good = 0
        self._parts_scrap = 0
        self._parts_in_run = 0
        self._alarm_code = 0
        self._alarm_text = ""
        self._alarms = 0
        self._power_on_s = 0.0
        self._phase_s: dict[Phase, float] = dict.fromkeys(Phase, 0.0)

        self._power_on(self._pending)

    # ------------------------------------------------------------------ public API
    def advance_to(self, t: float) -> list[MachineEvent]:
        events, self._pending = self._pending, []
        if t < self._t:
            return events
        while True:
            boundary = self._phase_end
            if self._phase is not Phase.POWER_OFF:
                boundary = min(boundary, self._shift_end)
            if boundary > t:
                break
            self._accumulate(boundary)
            if self._phase is not Phase.POWER_OFF and boundary >= self._shift_end:
                self._power_off(events)
            else:
                self._on_phase_end(events)
        self._accumulate(t)
        self._snap = None
        return events

    @property
    def now(self) -> float:
        return self._t

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def snapshot(self) -> MachineSnapshot:
        if self._snap is None:
            ph = self._phase
            running = ph is Phase.RUNNING
            self._snap = MachineSnapshot(
                t=self._t,
                phase=ph,
                powered=ph is not Phase.POWER_OFF,
                program_name=self._program,
                program_state=PROGRAM_STATE[ph],
                run_index=self._run_index,
                cycle_in_run=self._cycle_in_run,
                cycles_planned=self._cycles_planned,
                parts_total=self._parts_good + self._parts_scrap,
                parts_good=self._parts_good,
                parts_scrap=self._parts_scrap,
                parts_in_run=self._parts_in_run,
                alarm_code=self._alarm_code,
                alarm_text=self._alarm_text,
                spindle_speed=self.profile.spindle_rpm * self._speed_factor if running else 0.0,
                spindle_rotating=running,
                feed_override=0.0 if ph in (Phase.FEED_HOLD, Phase.POWER_OFF, Phase.ALARM) else 100.0,
                power_on_s=self._power_on_s,
            )
        return self._snap

    @property
    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {p.value: s for p, s in self._phase_s.items()}
        out["parts_total"] = self._parts_good + self._parts_scrap
        out["parts_good"] = self._parts_good
        out["parts_scrap"] = self._parts_scrap
        out["alarms"] = self._alarms
        return out

    # ------------------------------------------------------------------ internals
    def _accumulate(self, t: float) -> None:
        dt = t - self._t
        if dt > 0:
            self._phase_s[self._phase] += dt
            if self._phase is not Phase.POWER_OFF:
                self._power_on_s += dt
            self._t = t

    def _set_phase(self, phase: Phase, duration: float, events: list[MachineEvent]) -> None:
        self._phase = phase
        self._phase_end = self._t + duration
        events.append(MachineEvent(self._t, "phase", phase.value))

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return self._rng.uniform(bounds[0], bounds[1])

    def _power_on(self, events: list[MachineEvent]) -> None:
        self._shift_end = self._t + self.profile.shift_s
        self._program = self._rng.choice(self.profile.programs)
        self._set_phase(Phase.SETUP, self._uniform(self.profile.setup_s), events)

    def _power_off(self, events: list[MachineEvent]) -> None:
        if self._phase in (Phase.RUNNING, Phase.FEED_HOLD, Phase.ALARM):
            events.append(MachineEvent(self._t, "run_end", f"{self._program} aborted: power off"))
        if self._alarm_code:
            events.append(MachineEvent(self._t, "alarm_cleared", f"{self._alarm_code} power off"))
            self._alarm_code, self._alarm_text = 0, ""
        self._set_phase(Phase.POWER_OFF, self.profile.power_off_s, events)

    def _on_phase_end(self, events: list[MachineEvent]) -> None:
        ph = self._phase
        if ph is Phase.POWER_OFF:
            self._power_on(events)
        elif ph in (Phase.SETUP, Phase.IDLE):
            self._start_run(events)
        elif ph is Phase.FEED_HOLD:
            self._resume(events)
        elif ph is Phase.ALARM:
            events.append(MachineEvent(self._t, "alarm_cleared", str(self._alarm_code)))
            self._alarm_code, self._alarm_text = 0, ""
            self._set_phase(Phase.IDLE, self._uniform(self.profile.idle_gap_s), events)
        else:  # RUNNING: reached a hold, an alarm or the cycle end
            self._work_done += self._t - self._segment_start
            # Dispatch on the stop planned at segment start, not on float comparisons.
            if self._stop_kind == "alarm":
                self._raise_alarm(events)
            elif self._stop_kind == "hold":
                self._work_done = self._hold_at or self._work_done
                self._hold_at = None
                self._set_phase(Phase.FEED_HOLD, self._uniform(self.profile.feed_hold_s), events)
            else:
                self._end_cycle(events)

    def _start_run(self, events: list[MachineEvent]) -> None:
        self._run_index += 1
        self._cycle_in_run = 0
        self._parts_in_run = 0
        self._cycles_planned = self._rng.randint(*self.profile.cycles_per_run)
        self._speed_factor = self._rng.uniform(0.9, 1.1)
        events.append(MachineEvent(self._t, "run_start", f"{self._program} x{self._cycles_planned}"))
        self._start_cycle(events)

    def _start_cycle(self, events: list[MachineEvent]) -> None:
        p = self.profile
        self._cycle_in_run += 1
        self._cycle_len = p.cycle_time_s * (1 + self._rng.uniform(-p.cycle_jitter, p.cycle_jitter))
        self._work_done = 0.0
        self._alarm_at = (
            self._rng.uniform(0.1, 0.9) * self._cycle_len if self._rng.random() < p.alarm_prob else None
        )
        self._hold_at = (
            self._rng.uniform(0.1, 0.9) * self._cycle_len if self._rng.random() < p.feed_hold_prob else None
        )
        if self._phase is Phase.RUNNING:
            # Back-to-back cycles: stay in RUNNING without a phase event.
            self._segment_start = self._t
            self._phase_end = self._t + self._next_stop()
        else:
            self._resume(events)

    def _next_stop(self) -> float:
        """Work remaining until the next interruption or the cycle end; records which it is."""
        at, self._stop_kind = self._cycle_len, "end"
        if self._hold_at is not None and self._hold_at < at:
            at, self._stop_kind = self._hold_at, "hold"
        if self._alarm_at is not None and self._alarm_at <= at:
            at, self._stop_kind = self._alarm_at, "alarm"
        return max(0.0, at - self._work_done)

    def _resume(self, events: list[MachineEvent]) -> None:
        self._segment_start = self._t
        self._set_phase(Phase.RUNNING, self._next_stop(), events)

    def _end_cycle(self, events: list[MachineEvent]) -> None:
        scrap = self._rng.random() < self.profile.scrap_rate
        if scrap:
            self._parts_scrap += 1
        else:
            self._parts_good += 1
        self._parts_in_run += 1
        events.append(MachineEvent(self._t, "part", "scrap" if scrap else "good"))
        if self._cycle_in_run < self._cycles_planned:
            self._start_cycle(events)
        else:
            events.append(MachineEvent(self._t, "run_end", f"{self._program} completed"))
            self._set_phase(Phase.IDLE, self._uniform(self.profile.idle_gap_s), events)

    def _raise_alarm(self, events: list[MachineEvent]) -> None:
        self._alarm_at = self._hold_at = None
        self._alarm_code, self._alarm_text = self._rng.choice(ALARMS)
        self._alarms += 1
        events.append(MachineEvent(self._t, "alarm_raised", f"{self._alarm_code} {self._alarm_text}"))
        events.append(MachineEvent(self._t, "run_end", f"{self._program} aborted: alarm"))
        self._set_phase(Phase.ALARM, self._uniform(self.profile.alarm_s), events)
        log.debug("alarm %s at %.1f", self._alarm_code, self._t)
