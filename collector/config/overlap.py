"""Two Modbus tags on the same registers: a typo in an address, unless the tag says it is a view.

A float32 at 40001 and a uint16 at 40002 both read register 40002; usually one address is off by one
and one of the values is garbage that nothing flags. Some devices do document the same registers two
ways (a status word and the counter it is part of, a float and its raw words): such a tag carries
`view: true` and the overlap is accepted. A bool taken from one bit of a register (`bit: N`) is always
a view of that register and needs no mark.
"""

from __future__ import annotations

from pydantic import BaseModel

from collector.config.compose import SourceMap
from collector.config.errors import PathT, Problem
from collector.config.modbus import ModbusOptions, ModbusTag
from drivers.modbus.spec import DataType, ModbusTagSpec


def overlap_problems(config: BaseModel, smap: SourceMap) -> list[Problem]:
    devices = getattr(config, "devices", [])
    out: list[Problem] = []
    for index, device in enumerate(devices):
        if isinstance(device, ModbusOptions):
            out.extend(_device(device, ("devices", index), smap))
    return out


def _device(device: ModbusOptions, path: PathT, smap: SourceMap) -> list[Problem]:
    specs = device.tag_specs()
    order = sorted(
        (i for i, s in enumerate(specs) if not s.table.is_bit),
        key=lambda i: (specs[i].table, specs[i].address),
    )
    out: list[Problem] = []
    open_: list[int] = []  # tags whose registers reach the current address, per table in turn
    for i in order:
        spec = specs[i]
        open_ = [j for j in open_ if specs[j].table is spec.table and specs[j].end > spec.address]
        for j in open_:
            if _clash(device.tags[j], specs[j], device.tags[i], spec):
                out.append(_problem(specs[j], spec, (*path, "tags"), j, i, smap))
                break
        open_.append(i)
    return out


def _clash(a_tag: ModbusTag, a: ModbusTagSpec, b_tag: ModbusTag, b: ModbusTagSpec) -> bool:
    if a_tag.view or b_tag.view or _bit_view(a) or _bit_view(b):
        return False
    return a.data_type is not b.data_type or a.address != b.address


def _bit_view(spec: ModbusTagSpec) -> bool:
    return spec.data_type is DataType.BOOL


def _span(spec: ModbusTagSpec) -> str:
    last = spec.end - 1
    where = f"{spec.address}" if last == spec.address else f"{spec.address}..{last}"
    return f"{spec.data_type.value} at {spec.table.value} {where}"


def _problem(
    first: ModbusTagSpec, later: ModbusTagSpec, tags: PathT, j: int, i: int, smap: SourceMap
) -> Problem:
    here = (*tags, i, "address")
    there = smap.locate((*tags, j, "address"))
    kind = "as a different type" if first.data_type is not later.data_type else "at a different start"
    return Problem(
        smap.locate(here),
        here,
        f"tag {later.name!r} ({_span(later)}, wire addresses) reads registers of tag {first.name!r} "
        f"({_span(first)}{f', line {there.line}' if there else ''}) {kind}",
        f"check both addresses ({first.data_type.value} takes {first.count} register"
        f"{'s' if first.count != 1 else ''}); if the device documents these registers both ways, add "
        f"view: true to {later.name!r}",
    )
