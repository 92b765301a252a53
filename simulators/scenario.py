"""Plant scenarios: many simulated machines in one YAML file (configs/sim/, simulators/scenarios/)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import Id, Strict
from collector.config.loader import load_model
from collector.config.site import Site
from collector.config.units import Duration
from simulators.modbus import available_profiles

ByteOrder4 = Literal["ABCD", "BADC", "CDAB", "DCBA"]


class Placement(Strict):
    area: Id | None = None
    line: Id | None = None


class CncGroup(Placement):
    prefix: Id = "cnc"
    count: int = Field(1, ge=1, le=500)
    profile: Literal["machinetool", "legacy-cnc"] = "machinetool"
    base_port: int = Field(0, ge=0, le=65535, description="first port; 0 = a free port for each")
    power_off_mode: Literal["bad", "down"] = "bad"
    machine: dict[str, Any] = Field(default_factory=dict, description="MachineProfile overrides")


class QuirkSettings(Strict):
    address_base: Literal[0, 1] = 0
    max_registers: int = Field(125, ge=1, le=125)
    max_bits: int = Field(2000, ge=1, le=2000)
    holes: list[tuple[str, int, int]] = Field(default_factory=list)
    busy_every: int = Field(0, ge=0)
    delay: Duration = 0.0
    counter_start: int = Field(0, ge=0)


def _check_profile(value: str) -> str:
    known = available_profiles()
    if value not in known:
        raise PydanticCustomError(
            "plc_profile",
            "unknown PLC profile '{value}'",
            {"value": value, "hint": f"known: {', '.join(known)}"},
        )
    return value


class PlcGroup(Placement):
    prefix: Id = "plc"
    count: int = Field(1, ge=1, le=500)
    profile: str
    transport: Literal["tcp", "rtu-over-tcp"] = "tcp"
    base_port: int = Field(0, ge=0, le=65535)
    unit_id: int = Field(1, ge=1, le=247)
    byte_order: ByteOrder4 = "ABCD"
    quirks: QuirkSettings = Field(default_factory=QuirkSettings)

    _profile = field_validator("profile")(_check_profile)


class BusGroup(Placement):
    """Several units on one RS-485 line, reached through a serial device server (RTU over TCP)."""

    name: Id
    port: int = Field(0, ge=0, le=65535)
    units: dict[int, str] = Field(description="unit id -> PLC profile")
    dead_units: list[int] = Field(default_factory=list)
    byte_order: ByteOrder4 = "ABCD"

    @field_validator("units")
    @classmethod
    def _profiles(cls, value: dict[int, str]) -> dict[int, str]:
        for unit, profile in value.items():
            if not 1 <= unit <= 247:
                raise PydanticCustomError("unit_id", "unit id {unit} is outside 1..247", {"unit": unit})
            _check_profile(profile)
        return value


class S7Group(Placement):
    """Siemens CPUs: the profile laid into DB1/DB2/M/I, served by python-snap7's server."""

    prefix: Id = "s7"
    count: int = Field(1, ge=1, le=500)
    profile: str
    base_port: int = Field(0, ge=0, le=65535)

    _profile = field_validator("profile")(_check_profile)


class McGroup(Placement):
    """Mitsubishi CPUs: the profile laid into D/W/M/X, served over the MC protocol's 3E binary frame."""

    prefix: Id = "mc"
    count: int = Field(1, ge=1, le=500)
    profile: str
    base_port: int = Field(0, ge=0, le=65535)
    series: Literal["iq-r", "q", "l", "iq-f"] = Field("q", description="decides how X is numbered")
    max_words: int = Field(960, ge=1, le=960, description="words per read the CPU accepts (C051 above)")

    _profile = field_validator("profile")(_check_profile)


class FaultKind(StrEnum):
    DROP = "drop"
    STALL = "stall"
    UNSTALL = "unstall"
    RESTART = "restart"
    BAD = "bad"
    CLEAR_BAD = "clear_bad"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    SKEW = "skew"
    BUSY = "busy"
    UNBUSY = "unbusy"


class FaultStep(Strict):
    at: Duration = Field(description="real time after the scenario started")
    device: Id
    kind: FaultKind
    seconds: float | None = Field(None, description="stall length, or clock skew in seconds")
    tags: list[str] | None = Field(None, description="for bad: names (PLC) or paths (CNC); all when absent")


class Scenario(Strict):
    name: Id
    seed: int = 1
    time_scale: float = Field(1.0, gt=0, le=10000)
    update_interval: Duration = 1.0
    host: str = "127.0.0.1"
    control_port: int | None = Field(0, ge=0, le=65535, description="HTTP fault control; 0 = free port")
    site: Site
    cnc: list[CncGroup] = Field(default_factory=list)
    plc: list[PlcGroup] = Field(default_factory=list)
    buses: list[BusGroup] = Field(default_factory=list)
    s7: list[S7Group] = Field(default_factory=list)
    mc: list[McGroup] = Field(default_factory=list)
    faults: list[FaultStep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fault_targets_exist(self) -> Scenario:
        names = set(self.device_names())
        for step in self.faults:
            if step.device not in names:
                raise PydanticCustomError(
                    "fault_device", "fault targets unknown device '{device}'", {"device": step.device}
                )
        return self

    def device_names(self) -> list[str]:
        out = [f"{g.prefix}-{i:02d}" for g in self.cnc for i in range(1, g.count + 1)]
        out += [f"{g.prefix}-{i:02d}" for g in self.plc for i in range(1, g.count + 1)]
        out += [f"{b.name}-u{u}" for b in self.buses for u in b.units]
        mapped: list[S7Group | McGroup] = [*self.s7, *self.mc]
        out += [f"{g.prefix}-{i:02d}" for g in mapped for i in range(1, g.count + 1)]
        return out


def load_scenario(path: Path | str) -> Scenario:
    """The scenario, or ConfigError with located problems."""
    return load_model(path, Scenario)
