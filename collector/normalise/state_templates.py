"""Built-in state templates: OPC 40501 MachineTool, spindle current, PackML, MTConnect EXECUTION.

Each maps its named inputs (tag names from the device's `state.inputs`) to a canonical state per
docs/STANDARDS.md §2.7–§2.10; enumerations are matched by name (or by their documented number).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from collector.config.state import MachineToolState, MtconnectState, PackmlState, SpindleState
from collector.normalise.records import State, Sub, Value
from collector.normalise.state_rules import Raw, enum_name, truthy

CHANNEL_STATES = ("active", "interrupted", "reset")
OPERATION_MODES = ("manual", "automatic", "setup", "autowithmanualintervention", "service", "other")
CHANNEL_MODES = ("automatic", "mdamdi", "jogmanual", "jogincrement", "teachinghandle", "remote", "reference")


def _tags(inputs: BaseModel, key: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(all tags the rule reads, tags whose Bad quality makes the device OFFLINE)."""
    fields: dict[str, str | None] = inputs.model_dump()
    used = tuple(sorted({t for t in fields.values() if t}))
    return used, tuple(sorted({t for k, t in fields.items() if t and k in key}))


def _get(values: Mapping[str, Value], tag: str | None) -> Value:
    return values.get(tag) if tag else None


def _alarm_code(value: Value) -> bool:
    return value not in (None, 0, "0", "", False)


class MachineTool:
    def __init__(self, cfg: MachineToolState) -> None:
        self._in = cfg.inputs
        self._interrupted = cfg.interrupted_sub
        self.tags, self.key_tags = _tags(cfg.inputs, ("channel_state", "program_state"))

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw:
        i = self._in
        if truthy(_get(values, i.power)) is False:
            return Raw(State.STOPPED, Sub.POWER_OFF)
        executing = enum_name(values.get(i.channel_state), CHANNEL_STATES) == "active"
        program = enum_name(_get(values, i.program_state))
        alarm = (
            _alarm_code(_get(values, i.alarm_code))
            or truthy(_get(values, i.alarm)) is True
            or truthy(_get(values, i.red)) is True
        )
        mode = self._mode_sub(values)
        if alarm and not executing:
            return Raw(State.ALARM, Sub.FAULT)
        if executing:
            warning = alarm or truthy(_get(values, i.yellow)) is True
            return Raw(State.RUNNING, mode or (Sub.WARNING if warning else Sub.AUTO))
        if mode in (Sub.SETUP, Sub.MAINTENANCE, Sub.WARMUP):
            return Raw(State.IDLE, mode)
        if (
            enum_name(values.get(i.channel_state), CHANNEL_STATES) == "interrupted"
            or program == "interrupted"
        ):
            return Raw(State.IDLE, self._interrupted)
        if program == "ended":
            return Raw(State.IDLE, Sub.PROGRAM_COMPLETED)
        return Raw(State.IDLE, mode)

    def _mode_sub(self, values: Mapping[str, Value]) -> str | None:
        """Mode qualifiers (docs/STANDARDS.md §2.6): not APT when warming up, in setup, service or manual."""
        if truthy(_get(values, self._in.warmup)) is True:
            return Sub.WARMUP
        operation = enum_name(_get(values, self._in.operation_mode), OPERATION_MODES)
        if operation in ("setup", "service", "manual"):
            return {"setup": Sub.SETUP, "service": Sub.MAINTENANCE, "manual": Sub.MANUAL}[operation]
        channel = enum_name(_get(values, self._in.channel_mode), CHANNEL_MODES)
        if channel == "mdamdi":
            return Sub.MDI
        if channel in ("jogmanual", "jogincrement", "teachinghandle"):
            return Sub.MANUAL
        return None

    def clock_step(self, shift_ms: int) -> None:
        """The template remembers no time."""


class SpindleCurrent:
    """RUNNING once the signal stays above run_threshold for t_on, until it stays below for t_off;
    or while a part counter keeps incrementing within cycle_factor x cycle_time (docs/STANDARDS.md §2.11).
    Below run_threshold: STOPPED under standby_threshold, else IDLE. While a rise is not yet
    confirmed the previous result is held, so a confirmed run is backdated to the rising edge."""

    def __init__(self, cfg: SpindleState) -> None:
        self._cfg = cfg
        self.tags, self.key_tags = _tags(cfg.inputs, ("current",))
        self._running = False
        self._above_since: int | None = None
        self._below_since: int | None = None
        self._edge: int | None = None  # where the last confirmed run began
        self._band: str | None = None
        self._band_since: int | None = None
        self._held: Raw | None = None
        self._count: Value = None
        self._count_ts: int | None = None

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw:
        cfg = self._cfg
        signal = values.get(cfg.inputs.current)
        level = float(signal) if isinstance(signal, int | float) else None
        self._track(ts, level)
        counting = self._counting(ts, _get(values, cfg.inputs.counter))
        if self._running or counting:
            raw = Raw(State.RUNNING, Sub.AUTO, self._edge if self._running else None)
        elif self._above_since is not None and self._held is not None:
            raw = self._held
        elif self._band == "off":
            raw = Raw(State.STOPPED, Sub.POWER_OFF, self._band_since)
        else:
            raw = Raw(State.IDLE, None, self._band_since)
        self._held = raw
        if truthy(_get(values, cfg.inputs.power)) is False:
            return Raw(State.STOPPED, Sub.POWER_OFF)
        if truthy(_get(values, cfg.inputs.alarm)) is True and not self._running:
            return Raw(State.ALARM, Sub.FAULT)
        return raw

    def clock_step(self, shift_ms: int) -> None:
        """t_on, t_off, the band and the counter's last move are measured from these: move them."""

        def moved(ts: int | None) -> int | None:
            return None if ts is None else ts + shift_ms

        self._above_since, self._below_since = moved(self._above_since), moved(self._below_since)
        self._edge, self._band_since, self._count_ts = (
            moved(self._edge),
            moved(self._band_since),
            moved(self._count_ts),
        )
        if self._held is not None and self._held.since is not None:
            self._held = Raw(self._held.state, self._held.sub, self._held.since + shift_ms)

    def _track(self, ts: int, level: float | None) -> None:
        cfg = self._cfg
        standby = cfg.standby_threshold
        band = "run" if level is not None and level > cfg.run_threshold else "idle"
        if band == "idle" and level is not None and standby is not None and level < standby:
            band = "off"
        if band != self._band:
            self._band, self._band_since = band, ts
        if band == "run":
            self._below_since = None
            self._above_since = ts if self._above_since is None else self._above_since
            if not self._running and ts - self._above_since >= cfg.t_on * 1000:
                self._running, self._edge = True, self._above_since
        else:
            self._above_since = None
            self._below_since = ts if self._below_since is None else self._below_since
            if self._running and ts - self._below_since >= cfg.t_off * 1000:
                self._running = False

    def _counting(self, ts: int, count: Value) -> bool:
        cycle = self._cfg.cycle_time
        if count is None or cycle is None:
            return False
        if self._count is not None and count != self._count:
            self._count_ts = ts
        self._count = count
        return self._count_ts is not None and ts - self._count_ts <= self._cfg.cycle_factor * cycle * 1000


PACKTAGS_V3 = (
    "undefined", "clearing", "stopped", "starting", "idle", "suspended", "execute", "stopping",
    "aborting", "aborted", "holding", "held", "unholding", "suspending", "unsuspending", "resetting",
    "completing", "complete",
)  # fmt: skip
PACKTAGS_MODES = ("invalid", "production", "maintenance", "manual")
_PACKML: dict[str, Raw] = {
    **{
        n: Raw(State.RUNNING, Sub.AUTO)
        for n in ("execute", "starting", "completing", "unholding", "unsuspending")
    },
    **{n: Raw(State.IDLE) for n in ("idle", "stopped", "stopping", "resetting")},
    "complete": Raw(State.IDLE, Sub.PROGRAM_COMPLETED),
    "suspended": Raw(State.IDLE, Sub.WAIT_MATERIAL),
    "suspending": Raw(State.IDLE, Sub.WAIT_MATERIAL),
    "held": Raw(State.IDLE, Sub.HELD),
    "holding": Raw(State.IDLE, Sub.HELD),
    **{n: Raw(State.ALARM, Sub.FAULT) for n in ("aborting", "aborted", "clearing")},
    "undefined": Raw(State.OFFLINE, "UNDEFINED"),
}


class Packml:
    """PackML states mapped by NAME (numbering differs between vendors, docs/STANDARDS.md §2.9)."""

    def __init__(self, cfg: PackmlState) -> None:
        self._cfg = cfg
        self.tags, self.key_tags = _tags(cfg.inputs, ("state",))

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw:
        numbered = PACKTAGS_V3 if self._cfg.numbering == "packtags_v3" else ()
        name = enum_name(values.get(self._cfg.inputs.state), numbered)
        raw = _PACKML.get(name or "", Raw(State.OFFLINE, Sub.UNMAPPED))
        mode = enum_name(_get(values, self._cfg.inputs.mode), PACKTAGS_MODES)
        if raw.state in (State.RUNNING, State.IDLE) and mode in ("maintenance", "manual"):
            return Raw(raw.state, Sub.MAINTENANCE if mode == "maintenance" else Sub.MANUAL)
        return raw

    def clock_step(self, shift_ms: int) -> None:
        """The template remembers no time."""


_MTC_IDLE_SUB = {
    "ready": None,
    "stopped": None,
    "interrupted": Sub.WAIT_OPERATOR,
    "feedhold": Sub.FEED_HOLD,
    "optionalstop": Sub.OPTIONAL_STOP_M01,
    "programoptionalstop": Sub.OPTIONAL_STOP_M01,
    "programstopped": Sub.PROGRAM_STOP_M00,
    "programcompleted": Sub.PROGRAM_COMPLETED,
    "wait": Sub.CYCLE_WAIT,
}
_MTC_MODE_SUB = {
    "manual": Sub.MANUAL,
    "manualdatainput": Sub.MDI,
    "setup": Sub.SETUP,
    "teardown": Sub.SETUP,
    "maintenance": Sub.MAINTENANCE,
    "processdevelopment": Sub.SETUP,
}


class MtconnectExecution:
    def __init__(self, cfg: MtconnectState) -> None:
        self._cfg = cfg
        self.tags, self.key_tags = _tags(cfg.inputs, ("execution",))

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw:
        i = self._cfg.inputs
        execution = enum_name(values.get(i.execution)) or ""
        if enum_name(_get(values, i.availability)) == "unavailable" or execution == "unavailable":
            return Raw(State.OFFLINE, Sub.COMM_LOSS)
        if enum_name(_get(values, i.power)) == "off":
            return Raw(State.STOPPED, Sub.POWER_OFF)
        condition = enum_name(_get(values, i.condition))
        executing = execution == "active" or (execution == "wait" and self._cfg.wait == "running")
        if enum_name(_get(values, i.estop)) == "triggered":
            return Raw(State.ALARM, Sub.ESTOP)
        if condition == "fault" and not executing:
            return Raw(State.ALARM, Sub.FAULT)
        mode = self._mode(values)
        if executing:
            if mode:
                return Raw(State.RUNNING, mode)
            if condition in ("warning", "fault"):
                return Raw(State.RUNNING, Sub.WARNING)
            return Raw(State.RUNNING, Sub.CYCLE_WAIT if execution == "wait" else Sub.AUTO)
        if execution not in _MTC_IDLE_SUB:
            return Raw(State.IDLE, Sub.UNMAPPED)
        return Raw(State.IDLE, mode if mode in (Sub.SETUP, Sub.MAINTENANCE) else _MTC_IDLE_SUB[execution])

    def _mode(self, values: Mapping[str, Value]) -> str | None:
        functional = enum_name(_get(values, self._cfg.inputs.functional_mode))
        if functional in _MTC_MODE_SUB:
            return _MTC_MODE_SUB[functional]
        return _MTC_MODE_SUB.get(enum_name(_get(values, self._cfg.inputs.controller_mode)) or "")

    def clock_step(self, shift_ms: int) -> None:
        """The template remembers no time."""
