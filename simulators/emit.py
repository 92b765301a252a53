"""Write the collector plant file that matches a running simulated plant (`--emit-config`).

The file is as complete as the demo's: every device with its tags, and with the state rules, part
counters, OEE inputs and register row an integrator would add for its kind of machine
(simulators/overlay.py, shared with the demo), plus a two-shift calendar, so `simulate plant` then
`run` shows equipment state and OEE.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from simulators.machine import MachineProfile
from simulators.mapped import MappedPlc
from simulators.modbus import PlcSimulator, load_profile
from simulators.modbus.profiles import RegisterSpec, Table
from simulators.opcua import CncSimulator
from simulators.opcua.layout import LEGACY_TAGS, MACHINETOOL_TAGS
from simulators.overlay import device_overlay, ideal_cycle_s
from simulators.plant import SimDevice, SimulatedPlant
from simulators.scenario import BusGroup, McGroup, PlcGroup, S7Group

_STATIC_PREFIXES = ("Identification/",)


def tag_name(path: str) -> str:
    """'Monitoring/Spindle/ActualSpeed' -> 'spindle_actual_speed'; 'Spindle.Speed' -> 'spindle_speed'."""
    parts = re.split(r"[/.]", path)
    if len(parts) > 2 and parts[0] in ("Monitoring", "Production", "Notification"):
        parts = parts[1:]
    if len(parts) > 2 and parts[0] in ("ActiveProgram", "Statistics", "Messages", "MachineTool"):
        parts = parts[1:]
    words = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", p).lower() for p in parts]
    return "_".join(words)


def _cnc_device(dev: SimDevice) -> dict[str, Any]:
    assert isinstance(dev.sim, CncSimulator)
    uri = dev.sim.namespace_uri
    out: dict[str, Any] = {"id": dev.name, "protocol": "opcua", "endpoint": dev.endpoint}
    if dev.profile == "machinetool":
        out["namespaces"] = {"m": uri}
        tags = [
            {"name": tag_name(spec.path), "node": f"m:Machines/{dev.name}/{spec.path}"}
            for spec in MACHINETOOL_TAGS
            if not spec.path.startswith(_STATIC_PREFIXES)
        ]
    else:
        tags = [{"name": tag_name(spec.path), "node": f"nsu={uri};s={spec.path}"} for spec in LEGACY_TAGS]
    out["tags"] = tags
    return out


def _plc_device(dev: SimDevice, host: str) -> dict[str, Any]:
    group = dev.group
    assert isinstance(dev.sim, PlcSimulator) and isinstance(group, PlcGroup | BusGroup)
    over_tcp = isinstance(group, BusGroup) or group.transport == "rtu-over-tcp"
    transport = "modbus_rtu_over_tcp" if over_tcp else "modbus_tcp"
    quirks = getattr(group, "quirks", None)
    base = quirks.address_base if quirks else 0
    out: dict[str, Any] = {
        "id": dev.name,
        "protocol": transport,
        "host": host,
        "port": dev.sim.port,
        "unit_id": dev.unit_id,
        "byte_order": group.byte_order,
    }
    if base:
        out["address_base"] = base
    if quirks and quirks.max_registers < 125:
        out["max_registers"] = quirks.max_registers
    tags = []
    for reg in load_profile(dev.profile).registers:
        tag: dict[str, Any] = {
            "name": reg.name,
            "address": {"table": reg.table.value, "offset": reg.address + base},
            "type": reg.type,
        }
        if reg.scale != 1.0:
            tag["scale"] = reg.scale
        if reg.unit:
            tag["unit"] = reg.unit
        if reg.byte_order:
            tag["byte_order"] = reg.byte_order
        tags.append(tag)
    out["tags"] = tags
    return out


# the S7 type of each profile register type (S7 keeps them big-endian, as the simulator lays them)
_S7_TYPES = {"int16": "int", "uint16": "uint", "int32": "dint", "uint32": "udint", "float32": "real",
             "int64": "lint", "uint64": "ulint", "float64": "lreal"}  # fmt: skip
_S7_AREAS = {Table.HOLDING_REGISTER: 1, Table.INPUT_REGISTER: 2}


def _s7_address(reg: RegisterSpec) -> str:
    if reg.table.is_bit:
        area = "M" if reg.table is Table.COIL else "I"
        return f"{area}{reg.address // 8}.{reg.address % 8}"
    letter = {1: "W", 2: "D"}.get(reg.words, "B")
    return f"DB{_S7_AREAS[reg.table]}.DB{letter}{2 * reg.address}"


def _mc_address(reg: RegisterSpec, series: str) -> str:
    if reg.table is Table.COIL:
        return f"M{reg.address}"
    if reg.table is Table.DISCRETE_INPUT:
        return f"X{reg.address:o}" if series == "iq-f" else f"X{reg.address:X}"
    return f"D{reg.address}" if reg.table is Table.HOLDING_REGISTER else f"W{reg.address:X}"


def _mapped_device(dev: SimDevice, host: str) -> dict[str, Any]:
    """An S7 or MC device: the profile's registers at the addresses the simulator lays them."""
    group = dev.group
    assert isinstance(dev.sim, MappedPlc) and isinstance(group, S7Group | McGroup)
    out: dict[str, Any]
    if isinstance(group, S7Group):
        out = {"id": dev.name, "protocol": "s7", "host": host, "port": dev.sim.port, "rack": 0, "slot": 1}
    else:
        out = {"id": dev.name, "protocol": "mc", "host": host, "port": dev.sim.port, "series": group.series}
    tags = []
    for reg in load_profile(dev.profile).registers:
        if isinstance(group, S7Group):
            tag: dict[str, Any] = {"name": reg.name, "address": _s7_address(reg)}
            if not reg.table.is_bit:
                tag["type"] = _S7_TYPES[reg.type]
        else:
            tag = {"name": reg.name, "address": _mc_address(reg, group.series)}
            if not reg.table.is_bit:
                tag["type"] = reg.type
        if reg.scale != 1.0:
            tag["scale"] = reg.scale
        if reg.unit:
            tag["unit"] = reg.unit
        tags.append(tag)
    out["tags"] = tags
    return out


def _ideal_s(plant: SimulatedPlant) -> float:
    """The collector's ideal cycle, from the CNCs' simulated cycle as the demo sets it."""
    sc = plant.scenario
    cycle = next((float(g.machine["cycle_time_s"]) for g in sc.cnc if "cycle_time_s" in g.machine), None)
    return ideal_cycle_s(sc.time_scale, cycle or MachineProfile().cycle_time_s)


def _device(dev: SimDevice, host: str) -> dict[str, Any]:
    if dev.kind == "cnc":
        return _cnc_device(dev)
    if isinstance(dev.sim, MappedPlc):
        return _mapped_device(dev, host)
    return _plc_device(dev, host)


# Two twelve-hour shifts: planned time for OEE around the clock, whatever hour the plant is started.
CALENDAR = {
    "shifts": [
        {"name": "D", "start": "08:00", "end": "20:00"},
        {"name": "N", "start": "20:00", "end": "08:00"},
    ]
}


def plant_config(plant: SimulatedPlant) -> dict[str, Any]:
    sc = plant.scenario
    ideal = _ideal_s(plant)
    devices = []
    for dev in plant.devices.values():
        entry = {**_device(dev, sc.host), **device_overlay(dev.profile, ideal)}
        if dev.group.area:
            entry["area"] = dev.group.area
        if dev.group.line:
            entry["line"] = dev.group.line
        entry["poll_interval"] = "1s"
        devices.append(entry)
    site = sc.site.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    return {"version": 1, "site": site, "devices": devices, "calendar": CALENDAR}


def write_plant_config(plant: SimulatedPlant, path: Path) -> None:
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 200
    buf = io.StringIO()
    buf.write(f"# Generated by `shopfloor simulate plant` for scenario {plant.scenario.name!r}.\n")
    buf.write("# Endpoints match the simulators started with it; regenerate when the scenario changes.\n")
    yaml.dump(plant_config(plant), buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
