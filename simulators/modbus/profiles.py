"""Register-map profiles: which register lives where, how it is encoded and what drives it.

Profiles are YAML files in ``profiles/`` (or any path). Each register has a
``source`` mapping with exactly one key naming its kind:

``field: parts_total``       a numeric MachineSnapshot field
``signal: lamp_red``         a derived signal (see ``SIGNALS``)
``constant: 42``             fixed value
``setpoint: 215.0``          initial value of a writable register (writes change it)
``noise: {mean, amplitude}`` mean plus uniform noise (e.g. mains voltage)
``by_phase: {levels: {phase: v}, default, noise}``  level depending on machine phase
``product: {of: [a, b], factor}``  product of earlier registers (e.g. power = V * I * pf)
``integral: {of: power, factor, initial}``  integral of an earlier register over sim time
``lag: {target, off, tau_s}``  first-order approach to ``target`` (number or register
                               name) while powered, to ``off`` when not (temperatures)
``clock: {}``                 device clock, unix seconds (offset by ``skew_clock``)
``bits: [powered, run_bit]``  status word: bit i is set when signal or earlier register i is non-zero
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from simulators.modbus.codec import BIT_TYPES, BYTE_ORDERS, REGISTER_TYPES

log = logging.getLogger(__name__)

PROFILE_DIR = Path(__file__).parent / "profiles"


class Table(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    INPUT_REGISTER = "input_register"
    HOLDING_REGISTER = "holding_register"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable_table(self) -> bool:
        return self in (Table.COIL, Table.HOLDING_REGISTER)


SOURCE_KINDS = frozenset(
    {
        "field",
        "signal",
        "constant",
        "setpoint",
        "noise",
        "by_phase",
        "product",
        "integral",
        "lag",
        "clock",
        "bits",
    }
)
# MachineSnapshot fields that are numbers (or bools) and can drive a register directly.
SNAPSHOT_FIELDS = frozenset(
    {
        "t", "powered", "run_index", "cycle_in_run", "cycles_planned", "parts_total", "parts_good",
        "parts_scrap", "parts_in_run", "alarm_code", "spindle_speed", "spindle_rotating",
        "feed_override", "power_on_s",
    }
)  # fmt: skip
SIGNALS = frozenset(
    {
        "lamp_red", "lamp_yellow", "lamp_green", "run_bit", "alarm_bit", "cycle_bit", "powered",
        "mold_closed", "mold_open", "door_closed", "cycle_toggle", "phase_code", "cycle_progress",
        "last_cycle_s",
    }
)  # fmt: skip


class ProfileError(ValueError):
    """A profile file is malformed."""


@dataclass(frozen=True)
class Source:
    kind: str
    arg: Any  # the value under the kind key: field/signal name, number or parameter mapping

    def param(self, key: str, default: Any = None) -> Any:
        return self.arg.get(key, default) if isinstance(self.arg, dict) else default


@dataclass(frozen=True)
class RegisterSpec:
    name: str
    table: Table
    address: int  # 0-based profile address; the wire address adds Quirks.address_base
    type: str
    source: Source
    scale: float = 1.0
    byte_order: str | None = None  # None: use the device's byte order
    writable: bool = False
    counter: bool = False  # Quirks.counter_start is added (start near a rollover)
    unit: str = ""
    description: str = ""

    @property
    def words(self) -> int:
        if self.table.is_bit:
            return 1
        return {"int16": 1, "uint16": 1}.get(self.type, 4 if self.type.endswith("64") else 2)


@dataclass(frozen=True)
class Profile:
    name: str
    registers: tuple[RegisterSpec, ...]
    description: str = ""
    machine: dict[str, Any] = field(default_factory=dict)  # MachineProfile overrides

    def register(self, name: str) -> RegisterSpec:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(f"profile {self.name!r} has no register {name!r}")


def _parse_source(reg_name: str, raw: Any, earlier: set[str]) -> Source:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ProfileError(f"{reg_name}: source must be a mapping with exactly one kind key")
    ((kind, arg),) = raw.items()
    if kind not in SOURCE_KINDS:
        raise ProfileError(f"{reg_name}: unknown source kind {kind!r}")
    if kind == "field" and arg not in SNAPSHOT_FIELDS:
        raise ProfileError(f"{reg_name}: {arg!r} is not a numeric snapshot field")
    if kind == "signal" and arg not in SIGNALS:
        raise ProfileError(f"{reg_name}: unknown signal {arg!r}")
    if kind in ("constant", "setpoint") and not isinstance(arg, int | float):
        raise ProfileError(f"{reg_name}: {kind} needs a number")
    if kind in ("noise", "by_phase", "product", "integral", "lag") and not isinstance(arg, dict):
        raise ProfileError(f"{reg_name}: {kind} needs a parameter mapping")
    if kind == "bits":
        if not isinstance(arg, list) or not 1 <= len(arg) <= 16:
            raise ProfileError(f"{reg_name}: bits needs a list of 1..16 signal or register names")
        unknown = [b for b in arg if b not in SIGNALS and b not in earlier]
        if unknown:
            raise ProfileError(f"{reg_name}: bits refers to unknown or later names {unknown}")
    # Derived sources are evaluated in file order, so they may only use earlier registers.
    refs: list[Any] = []
    if kind == "product":
        refs = list(arg.get("of", []))
    elif kind == "integral":
        refs = [arg.get("of")]
    elif kind == "lag" and isinstance(arg.get("target"), str):
        refs = [arg["target"]]
    for ref in refs:
        if ref not in earlier:
            raise ProfileError(f"{reg_name}: {kind} refers to {ref!r}, which is not an earlier register")
    if isinstance(arg, list):
        arg = tuple(arg)
    return Source(kind, dict(arg) if isinstance(arg, dict) else arg)


def _parse_register(raw: Any, earlier: set[str]) -> RegisterSpec:
    if not isinstance(raw, dict) or "name" not in raw:
        raise ProfileError(f"register entry without a name: {raw!r}")
    name = str(raw["name"])
    try:
        table = Table(raw["table"])
    except (KeyError, ValueError) as exc:
        raise ProfileError(f"{name}: bad or missing table") from exc
    type_name = str(raw.get("type", "bool" if table.is_bit else "uint16"))
    if table.is_bit != (type_name in BIT_TYPES) or type_name not in BIT_TYPES | REGISTER_TYPES:
        raise ProfileError(f"{name}: type {type_name!r} does not fit table {table.value}")
    address = raw.get("address")
    if not isinstance(address, int) or not 0 <= address <= 65534:
        raise ProfileError(f"{name}: address must be an integer 0..65534")
    order = raw.get("byte_order")
    if order is not None and order not in BYTE_ORDERS:
        raise ProfileError(f"{name}: byte_order must be one of {BYTE_ORDERS}")
    writable = bool(raw.get("writable", False))
    if writable and not table.writable_table:
        raise ProfileError(f"{name}: only coils and holding registers can be writable")
    scale = float(raw.get("scale", 1.0))
    if scale == 0:
        raise ProfileError(f"{name}: scale must not be 0")
    return RegisterSpec(
        name=name,
        table=table,
        address=address,
        type=type_name,
        source=_parse_source(name, raw.get("source"), earlier),
        scale=scale,
        byte_order=order,
        writable=writable,
        counter=bool(raw.get("counter", False)),
        unit=str(raw.get("unit", "")),
        description=str(raw.get("description", "")),
    )


def parse_profile(data: Any, default_name: str = "profile") -> Profile:
    """Validate a profile loaded from YAML (or built in code) and return it."""
    if not isinstance(data, dict) or not isinstance(data.get("registers"), list):
        raise ProfileError("profile must be a mapping with a 'registers' list")
    registers: list[RegisterSpec] = []
    names: set[str] = set()
    used: dict[tuple[Table, int], str] = {}
    for raw in data["registers"]:
        reg = _parse_register(raw, names)
        if reg.name in names:
            raise ProfileError(f"duplicate register name {reg.name!r}")
        for addr in range(reg.address, reg.address + reg.words):
            other = used.setdefault((reg.table, addr), reg.name)
            if other != reg.name:
                raise ProfileError(f"{reg.name} overlaps {other} at {reg.table.value} {addr}")
        names.add(reg.name)
        registers.append(reg)
    machine = data.get("machine") or {}
    if not isinstance(machine, dict):
        raise ProfileError("'machine' must be a mapping of MachineProfile fields")
    return Profile(
        name=str(data.get("name", default_name)),
        registers=tuple(registers),
        description=str(data.get("description", "")),
        machine=dict(machine),
    )


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name (``energy-meter``) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ProfileError(f"unknown profile {name_or_path!r}; shipped: {available_profiles()}")
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    try:
        profile = parse_profile(data, default_name=path.stem)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    log.debug("loaded profile %s with %d registers", profile.name, len(profile.registers))
    return profile
