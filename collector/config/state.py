"""A device's `state:` section (which template derives its equipment state) and `counters:` list.

Each template is its own model so that a wrong input name or parameter is reported at its own line;
`template:` picks the model (omitted means the general `conditions` form).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from collector.config.common import Id, Strict
from collector.config.expr import ExprError, parse
from collector.config.units import Duration

StateName = Literal["RUNNING", "IDLE", "ALARM", "STOPPED", "OFFLINE"]
_SUB_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


def _check_sub(value: str) -> str:
    if not _SUB_RE.match(value):
        raise PydanticCustomError(
            "sub_state",
            "'{value}' is not a sub-state name",
            {"value": value, "hint": "sub-states are UPPER_CASE words such as FAULT, SETUP, WAIT_MATERIAL"},
        )
    return value


def _check_when(value: str) -> str:
    try:
        parse(value)
    except ExprError as exc:
        raise PydanticCustomError(
            "condition_syntax",
            "cannot parse condition: {error}",
            {
                "error": str(exc),
                "hint": "compare a tag with a value: alarm_code != 0 and mode in ['AUTO', 'MDI']; "
                "combine with and/or/not and parentheses; quote strings",
            },
        ) from None
    return value


SubName = Annotated[str, AfterValidator(_check_sub)]
When = Annotated[str, AfterValidator(_check_when)]


class CounterRole(StrEnum):
    ALL = "all"  # every part produced (PQ)
    GOOD = "good"  # good parts (GQ)
    SCRAP = "scrap"  # scrap parts (SQ)


class Debounce(Strict):
    """How long a new raw state must persist before it is committed, per target state."""

    default: Duration = 5.0
    RUNNING: Duration | None = None
    IDLE: Duration | None = None
    STOPPED: Duration | None = None
    ALARM: Duration = 0.0
    OFFLINE: Duration = 0.0

    def seconds(self, state: str) -> float:
        value: float | None = getattr(self, state)
        return self.default if value is None else value


class Condition(Strict):
    state: StateName
    sub: SubName | None = None
    when: When


class StateCommon(Strict):
    id: Id | None = Field(None, description="rule id recorded with each state change; default: the template")
    debounce: Debounce = Field(default_factory=Debounce)
    micro_stop: Duration | None = Field(180.0, description="IDLE gaps shorter than this between RUNNING")
    stale_timeout: Duration | None = Field(None, description="default: the device's stale_timeout")
    key_inputs: list[str] | None = Field(None, description="tags whose Bad quality means OFFLINE")
    conditions: list[Condition] = Field(default_factory=list, description="extra rules, by precedence")


class ConditionsState(StateCommon):
    template: Literal["conditions"] = "conditions"
    otherwise: StateName = "IDLE"
    otherwise_sub: SubName | None = None


class StacklightInputs(Strict):
    red: str
    yellow: str | None = None
    green: str
    power: str | None = None


class StacklightState(StateCommon):
    template: Literal["stacklight"]
    inputs: StacklightInputs
    blink_window: Duration = 2.0
    blink_edges: int = Field(2, ge=2)
    red_overrides_green: bool = True
    all_off: Literal["idle", "offline"] = Field(
        "offline",
        description="all lamps off and no power input: OFFLINE/POWER_OFF (switched off, not online) or IDLE",
    )


class MachineToolInputs(Strict):
    channel_state: str
    program_state: str | None = None
    operation_mode: str | None = None
    channel_mode: str | None = None
    alarm_code: str | None = None
    alarm: str | None = None
    warmup: str | None = None
    power: str | None = None
    red: str | None = None
    yellow: str | None = None


class MachineToolState(StateCommon):
    template: Literal["machinetool"]
    inputs: MachineToolInputs
    interrupted_sub: SubName = "FEED_HOLD"


class SpindleInputs(Strict):
    current: str
    power: str | None = None
    alarm: str | None = None
    counter: str | None = None


class SpindleState(StateCommon):
    template: Literal["spindle-current"]
    inputs: SpindleInputs
    run_threshold: float
    standby_threshold: float | None = None
    t_on: Duration = 10.0
    t_off: Duration = 30.0
    cycle_time: Duration | None = Field(None, description="a counter increment within k x this = RUNNING")
    cycle_factor: float = Field(2.0, gt=0)


class PackmlInputs(Strict):
    state: str
    mode: str | None = None


class PackmlState(StateCommon):
    template: Literal["packml"]
    inputs: PackmlInputs
    numbering: Literal["names", "packtags_v3"] = "names"


class MtconnectInputs(Strict):
    execution: str
    controller_mode: str | None = None
    functional_mode: str | None = None
    condition: str | None = None
    estop: str | None = None
    availability: str | None = None
    power: str | None = None


class MtconnectState(StateCommon):
    template: Literal["mtconnect-execution"]
    inputs: MtconnectInputs
    wait: Literal["running", "idle"] = Field("running", description="EXECUTION WAIT is part of the cycle")


TEMPLATES = ("conditions", "stacklight", "machinetool", "spindle-current", "packml", "mtconnect-execution")


class _UnknownTemplate(Strict):
    """Only reached for a misspelt template, so the error is about the name and nothing else."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    template: Literal[TEMPLATES]  # type: ignore[valid-type]


def _template_of(value: Any) -> str:
    name = value.get("template", "conditions") if isinstance(value, dict) else getattr(value, "template", "")
    # Tags are prefixed so they never collide with a data key when errors are located.
    return f"template={name if name in TEMPLATES else '_unknown'}"


StateConfig = Annotated[
    Annotated[ConditionsState, Tag("template=conditions")]
    | Annotated[StacklightState, Tag("template=stacklight")]
    | Annotated[MachineToolState, Tag("template=machinetool")]
    | Annotated[SpindleState, Tag("template=spindle-current")]
    | Annotated[PackmlState, Tag("template=packml")]
    | Annotated[MtconnectState, Tag("template=mtconnect-execution")]
    | Annotated[_UnknownTemplate, Tag("template=_unknown")],
    Discriminator(_template_of),
]


class CounterConfig(Strict):
    """A part counter tag turned into deltas (docs/STANDARDS.md §4)."""

    name: Id
    tag: str
    role: CounterRole = CounterRole.ALL
    width: Literal[16, 32, 64] = 32
    max_rate: float | None = Field(None, gt=0, description="most parts per second the machine can make")
    tolerance: float = Field(0.5, ge=0, description="slack on max_rate x elapsed")


def _unique_counters(counters: list[CounterConfig]) -> list[CounterConfig]:
    names = [c.name for c in counters]
    for name in names:
        if names.count(name) > 1:
            raise PydanticCustomError(
                "duplicate_counter",
                "duplicate counter name '{name}'",
                {"name": name, "hint": "each counter of a device needs its own name"},
            )
    return counters


Counters = Annotated[list[CounterConfig], AfterValidator(_unique_counters)]
