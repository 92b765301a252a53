"""Output records of normalisation: state changes/intervals, counter deltas/events, KPI windows.

All are frozen dataclasses because they cross stage boundaries (outbox, sinks, evidence pack).
Timestamps are UTC milliseconds since the epoch; durations in KPI records are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from collector.config.state import CounterRole
from collector.normalise.kpimodel import TimeElements
from drivers.base import Scalar

Value = Scalar  # a state input: one scalar, never a list
Inputs = tuple[tuple[str, Value], ...]  # (tag, value) pairs sorted by tag: hashable and ordered


class State(IntEnum):
    """Canonical level-1 states with their published codes (docs/STANDARDS.md §2.1)."""

    OFFLINE = 0
    STOPPED = 1
    IDLE = 2
    RUNNING = 3
    ALARM = 4

    @property
    def zh(self) -> str:
        return STATE_ZH[self]

    @property
    def precedence(self) -> int:
        """Higher wins when several rules match: OFFLINE > STOPPED > ALARM > RUNNING > IDLE."""
        return _PRECEDENCE[self]


STATE_ZH = {
    State.RUNNING: "运行",
    State.IDLE: "待机",
    State.ALARM: "报警",
    State.STOPPED: "停机",
    State.OFFLINE: "离线",
}
_PRECEDENCE = {State.OFFLINE: 4, State.STOPPED: 3, State.ALARM: 2, State.RUNNING: 1, State.IDLE: 0}


class Sub(StrEnum):
    """Reason sub-states (level 2). Rules may also use other upper-case names."""

    AUTO = "AUTO"
    MANUAL = "MANUAL"
    MDI = "MDI"
    SETUP = "SETUP"
    WARMUP = "WARMUP"
    MAINTENANCE = "MAINTENANCE"
    FEED_HOLD = "FEED_HOLD"
    PROGRAM_STOP_M00 = "PROGRAM_STOP_M00"
    OPTIONAL_STOP_M01 = "OPTIONAL_STOP_M01"
    PROGRAM_COMPLETED = "PROGRAM_COMPLETED"
    CYCLE_WAIT = "CYCLE_WAIT"
    MICRO_STOP = "MICRO_STOP"
    WAIT_MATERIAL = "WAIT_MATERIAL"
    WAIT_OPERATOR = "WAIT_OPERATOR"
    HELD = "HELD"
    NO_ORDER = "NO_ORDER"
    PLANNED_STOP = "PLANNED_STOP"
    ESTOP = "ESTOP"
    FAULT = "FAULT"
    WARNING = "WARNING"
    POWER_OFF = "POWER_OFF"
    COMM_LOSS = "COMM_LOSS"
    STALE = "STALE"
    BAD_QUALITY = "BAD_QUALITY"
    UNMAPPED = "UNMAPPED"


class Bucket(StrEnum):
    """ISO 22400-2 time element an interval counts towards (UNKNOWN = OFFLINE, reported apart)."""

    APT = "APT"
    AUST = "AUST"
    ADET = "ADET"
    ADOT = "ADOT"
    APMT = "APMT"
    PDOT = "PDOT"
    UNKNOWN = "UNKNOWN"


class E10(StrEnum):
    PRD = "PRD"
    SBY = "SBY"
    ENG = "ENG"
    SDT = "SDT"
    UDT = "UDT"
    NST = "NST"


@dataclass(frozen=True, slots=True)
class StateChange:
    """A committed change: the device is in `state` since `since` (backdated to the raw change)."""

    device: str
    since: int
    ts: int  # when the change was committed (after debounce)
    state: State
    sub: str | None
    previous: State | None
    bucket: Bucket
    e10: E10 | None
    q: int  # worst quality of the rule's inputs (OPC UA StatusCode)
    inputs: Inputs
    rule: str  # "<rule id>@<hash>"
    closed: StateInterval | None = None  # the interval this change ended, if any

    @property
    def state_zh(self) -> str:
        return self.state.zh


@dataclass(frozen=True, slots=True)
class StateInterval:
    """One row of 状态时间线.csv (docs/STANDARDS.md §8.1); `end` is exclusive."""

    device: str
    start: int
    end: int
    state: State
    sub: str | None
    bucket: Bucket
    e10: E10 | None
    inputs: Inputs
    rule: str

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / 1000.0

    @property
    def state_zh(self) -> str:
        return self.state.zh


class CounterEventKind(StrEnum):
    BASELINE = "BASELINE"
    ROLLOVER = "ROLLOVER"
    RESET = "RESET"
    IMPLAUSIBLE = "IMPLAUSIBLE"


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """One row of 计数器事件.csv: ts, device, counter, event, before, after, delta_applied, reason."""

    ts: int
    device: str
    counter: str
    event: CounterEventKind
    before: int | None
    after: int
    delta_applied: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """Parts counted between `since` (previous reading) and `ts`; q is Uncertain if quarantined."""

    ts: int
    since: int | None
    device: str
    counter: str
    role: CounterRole
    delta: int
    q: int
    program: str | None = None
    quarantined: int = 0  # parts withheld by the implausible-jump check


class Period(StrEnum):
    HOUR = "hour"
    SHIFT = "shift"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class Quantities:
    pq: int
    gq: int
    sq: int
    rq: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class KpiRecord:
    """One OEE window (a row of OEE_按日.csv for period=day). Ratios are None on a zero denominator."""

    device: str
    period: Period
    label: str  # "2026-11-25", "2026-11-25T08", "2026-11-25/A"
    start: int
    end: int
    times: TimeElements
    qty: Quantities
    pri_s: float | None  # effective ideal cycle time (quantity-weighted when per program)
    ideal_s: float | None  # Σ PRI·PQ, the numerator of E
    a: float | None
    e: float | None
    qr: float | None
    oee: float | None
    nee: float | None
    te: float | None
    flags: tuple[str, ...]
    intervals: int  # how many state intervals fed the window
    calendar: str  # hash of the calendar that defined POT/PDOT
