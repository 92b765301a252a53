"""Checks across the sections of a validated device that no single model can make: counters and the
OEE program input against the device's tags (docs/STANDARDS.md §4), located in the plant file.

A counter's width must be the width of the register it reads: an int16 tag read as 32 bits turns
the step 32767 → −32768 into four billion parts. Without a plausibility limit (max_rate, given or
derived from the ideal cycle time) one misread value can add thousands of parts, so a counter
without one is refused.
"""

from __future__ import annotations

from collector.config.errors import PathT, Problem
from collector.config.modbus import ModbusOptions
from collector.config.plant import Device, PlantConfig
from collector.config.source import SourceMap
from collector.config.state import CounterConfig
from drivers.modbus.spec import DataType

# Integer register types and the width their values wrap at.
_WIDTH = {
    DataType.INT16: 16, DataType.UINT16: 16, DataType.INT32: 32, DataType.UINT32: 32,
    DataType.INT64: 64, DataType.UINT64: 64,
}  # fmt: skip
_NOT_COUNTS = (DataType.BOOL, DataType.STRING)


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
        if isinstance(device, ModbusOptions):
            out += _width_problems(device, counter, here, smap)
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


def _width_problems(
    device: ModbusOptions, counter: CounterConfig, here: PathT, smap: SourceMap
) -> list[Problem]:
    tag = next(t for t in device.tags if t.name == counter.tag)
    if tag.type in _NOT_COUNTS:
        message = f"tag {tag.name!r} is a {tag.type.value}, not a count"
        hint = "a counter reads an integer register (uint16, uint32, int32 …)"
        return [_problem(smap, (*here, "tag"), message, hint)]
    width = _WIDTH.get(tag.type)
    if width is None or width == counter.width:
        return []
    message = (
        f"width {counter.width} does not fit tag {tag.name!r} of type {tag.type.value}, "
        f"which wraps at {width} bits"
    )
    return [_problem(smap, (*here, "width"), message, f"set width: {width}")]


def _problem(smap: SourceMap, path: PathT, message: str, hint: str) -> Problem:
    return Problem(smap.locate(path), path, message, hint)
