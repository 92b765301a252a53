"""Checks across the sections of a validated device that no single model can make: counters and the
OEE program input against the device's tags (docs/STANDARDS.md §4.7), located in the plant file.

A counter's width must be the width of the register it reads: an int16 tag read as 32 bits turns
the step 32767 → −32768 into four billion parts. Without a plausibility limit (max_rate, given or
derived from the ideal cycle time) one misread value can add thousands of parts, so a counter
without one is refused.
"""

from __future__ import annotations

from collector.config.errors import PathT, Problem
from collector.config.mc import McDevice
from collector.config.modbus import ModbusOptions
from collector.config.plant import Device, PlantConfig
from collector.config.s7 import S7Device
from collector.config.source import SourceMap
from collector.config.state import CounterConfig

# Integer register types of Modbus, S7 (TIA Portal names) and MC, by the width their values wrap at.
_WIDTH = {
    **dict.fromkeys(("sint", "usint", "byte"), 8),
    **dict.fromkeys(("int16", "uint16", "int", "uint", "word"), 16),
    **dict.fromkeys(("int32", "uint32", "dint", "udint", "dword"), 32),
    **dict.fromkeys(("int64", "uint64", "lint", "ulint", "lword"), 64),
}
_NOT_COUNTS = ("bool", "string", "wstring", "char")


def plant_problems(config: PlantConfig, smap: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    for index, device in enumerate(config.devices):
        out += _device_problems(device, ("devices", index), smap)
    return out


def _device_problems(device: Device, path: PathT, smap: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    names = [t.name for t in device.tags]
    known = f"tags: {', '.join(names) or 'none'}"
    for j, counter in enumerate(device.counters):
        here = (*path, "counters", j)
        if counter.tag not in names:
            message = f"counter tag {counter.tag!r} is not a tag of this device"
            out.append(_problem(smap, (*here, "tag"), message, known))
            continue
        type_ = _register_type(device, counter.tag)
        if type_ is not None:
            out += _width_problems(type_, counter, here, smap)
        if counter.max_rate is None:
            out.append(_problem(smap, here, _NO_LIMIT, _NO_LIMIT_HINT))
    program = device.oee.program_input if device.oee is not None else None
    if program is not None and program not in names:
        message = f"program_input {program!r} is not a tag of this device"
        out.append(_problem(smap, (*path, "oee", "program_input"), message, known))
    return out


_NO_LIMIT = (
    "the counter has no max_rate and the device no ideal cycle time to derive it from, so a misread "
    "value could add any number of parts"
)
_NO_LIMIT_HINT = (
    "add max_rate: the most parts per second the machine can make (e.g. max_rate: 0.5), or "
    "oee: {ideal_cycle_time: 60s}"
)


def _register_type(device: Device, tag_name: str) -> str | None:
    """The type a PLC tag is decoded as (None for OPC UA, whose plant-file tags declare none)."""
    if isinstance(device, ModbusOptions):
        return next(t.type.value for t in device.tags if t.name == tag_name)
    if isinstance(device, S7Device):
        return next(t.resolved()[1].value for t in device.tags if t.name == tag_name)
    if isinstance(device, McDevice):
        return next(t.resolved(device.series)[1].value for t in device.tags if t.name == tag_name)
    return None


def _width_problems(type_: str, counter: CounterConfig, here: PathT, smap: SourceMap) -> list[Problem]:
    if type_ in _NOT_COUNTS:
        message = f"tag {counter.tag!r} is a {type_}, not a count"
        hint = "a counter reads an integer register (uint16, uint32, int32 …)"
        return [_problem(smap, (*here, "tag"), message, hint)]
    width = _WIDTH.get(type_)
    if width is None or width == counter.width:
        return []
    if width == 8:
        message = f"tag {counter.tag!r} of type {type_} is 8 bits wide; a counter wraps at 16, 32 or 64"
        return [_problem(smap, (*here, "tag"), message, "read the counter as a 16-bit word")]
    message = (
        f"width {counter.width} does not fit tag {counter.tag!r} of type {type_}, which wraps at {width} bits"
    )
    return [_problem(smap, (*here, "width"), message, f"set width: {width}")]


def _problem(smap: SourceMap, path: PathT, message: str, hint: str) -> Problem:
    return Problem(smap.locate(path), path, message, hint)
