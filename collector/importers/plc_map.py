"""Turn a Siemens or Mitsubishi tag table into S7 or MC device YAML (`shopfloor import s7-map|mc-map`).

S7: a TIA Portal PLC tag table (名称 / 数据类型 / 地址 such as %MW10, %DB1.DBD0) or a DB's columns
(名称 / 数据类型 / 偏移量 such as 2.0, with `--db N`). MC: a GX Works label or device-comment list
(名称 or 标签名 / 软元件 such as D100, X17 / 数据类型). Every row becomes one tag, checked by the same
address parser the plant file uses, or one numbered problem; nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.importers.table import Row, ident, norm, parse_scale, scalar, unique
from drivers.mc.spec import McType, Series
from drivers.mc.spec import parse_address as parse_mc
from drivers.s7.spec import TYPE_ALIASES, S7Type
from drivers.s7.spec import parse_address as parse_s7

# GX Works type names (English and Chinese UI) -> MC types
MC_TYPES: dict[str, McType] = {
    **dict.fromkeys(("bit", "bool", "位"), McType.BOOL),
    **dict.fromkeys(("word", "wordsigned", "int", "int16", "字有符号", "字带符号"), McType.INT16),
    **dict.fromkeys(("wordunsigned", "bitstring16bit", "uint", "uint16", "字无符号"), McType.UINT16),
    **dict.fromkeys(
        ("doubleword", "doublewordsigned", "dint", "int32", "双字有符号", "双字带符号"), McType.INT32
    ),
    **dict.fromkeys(("doublewordunsigned", "bitstring32bit", "udint", "uint32", "双字无符号"), McType.UINT32),
    **dict.fromkeys(("floatsingleprecision", "float", "float32", "real", "单精度实数"), McType.FLOAT32),
    **dict.fromkeys(("floatdoubleprecision", "double", "float64", "lreal", "双精度实数"), McType.FLOAT64),
    **dict.fromkeys(("string", "字符串"), McType.STRING),
}
_LENGTH_IN_TYPE = re.compile(r"^(?P<name>[^\[(]+)[\[(](?P<length>\d+)[\])]$")
_SIZE_LETTER = {1: "B", 2: "W", 4: "D"}


@dataclass(frozen=True, slots=True)
class PlcImportOptions:
    protocol: str  # "s7" | "mc"
    device_id: str = "device-01"
    host: str = "127.0.0.1"
    port: int | None = None
    db: int | None = None  # S7: the DB of bare offsets (a DB's 偏移量 column)
    series: Series = Series.Q  # MC: how X and Y are numbered


@dataclass
class PlcImportResult:
    tags: list[dict[str, object]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def convert_plc(rows: Iterable[tuple[int, Row]], options: PlcImportOptions) -> PlcImportResult:
    result = PlcImportResult()
    used: set[str] = set()
    for number, row in rows:
        try:
            tag = _s7_tag(row, options) if options.protocol == "s7" else _mc_tag(row, options)
        except ValueError as exc:
            result.problems.append((number, str(exc)))
            continue
        raw_name = row.get("name", "")
        tag = {"name": unique(ident(raw_name, number), used), **tag}
        if not raw_name.isascii():
            tag = {"name": tag.pop("name"), "name_zh": raw_name, **tag}
        _common(tag, row)
        result.tags.append(tag)
    return result


def _type_and_length(row: Row) -> tuple[str, int | None]:
    """The type cell normalised, and a length written inside it (String[20]) or in a length column."""
    text = norm(row.get("type", "").replace("[", "(").replace("]", ")"))
    length = int(row["length"]) if row.get("length", "").isdigit() else None
    raw = row.get("type", "").strip().lower().replace(" ", "")
    if m := _LENGTH_IN_TYPE.match(raw):
        text, length = norm(m.group("name")), int(m.group("length"))
    return text, length


def _s7_tag(row: Row, options: PlcImportOptions) -> dict[str, object]:
    if not row.get("name"):
        raise ValueError("no name")
    text, length = _type_and_length(row)
    type_ = TYPE_ALIASES.get(text) if text else None
    if text and type_ is None:
        raise ValueError(f"unknown S7 type {row.get('type')!r}")
    address = row.get("address", "") or _from_offset(row.get("offset", ""), type_, options.db)
    if not address:
        raise ValueError("no address (and no 偏移量 offset with --db)")
    parsed = parse_s7(address)  # AddressError is a ValueError: the row's problem
    tag: dict[str, object] = {"address": address.strip().lstrip("%").upper()}
    if type_ is not None and not (type_ is S7Type.BOOL and parsed.bit is not None):
        tag["type"] = type_.value
    if type_ in (S7Type.STRING, S7Type.WSTRING):
        tag["length"] = length or 254
    return tag


def _from_offset(offset: str, type_: S7Type | None, db: int | None) -> str:
    """A DB table's offset (`2.0`, `4.3`) as an address, once the DB number is known."""
    m = re.fullmatch(r"(\d+)(?:\.(\d))?", offset.strip())
    if m is None or db is None:
        return ""
    byte, bit = int(m.group(1)), int(m.group(2) or 0)
    if type_ is S7Type.BOOL:
        return f"DB{db}.DBX{byte}.{bit}"
    size = type_.size() if type_ not in (None, S7Type.STRING, S7Type.WSTRING) else 1
    return f"DB{db}.DB{_SIZE_LETTER.get(size, 'B')}{byte}"


def _mc_tag(row: Row, options: PlcImportOptions) -> dict[str, object]:
    if not row.get("name"):
        raise ValueError("no name")
    address = row.get("address", "").strip().upper()
    if not address:
        raise ValueError("no address")
    parsed = parse_mc(address, options.series)
    text, length = _type_and_length(row)
    type_ = MC_TYPES.get(text) if text else None
    if text and type_ is None:
        raise ValueError(f"unknown GX Works type {row.get('type')!r}")
    bitwise = parsed.device.is_bit or parsed.bit is not None
    if type_ is not None and bitwise != (type_ is McType.BOOL):
        raise ValueError(f"type {row.get('type')!r} does not fit {address}")
    tag: dict[str, object] = {"address": address}
    if type_ is not None and type_ is not McType.BOOL:
        tag["type"] = type_.value
    if type_ is McType.STRING:
        if length is None:
            raise ValueError("a string needs its length (a 长度 column, or String(20) as the type)")
        tag["length"] = length
    return tag


def _common(tag: dict[str, object], row: Row) -> None:
    if text := row.get("scale", ""):
        value = parse_scale(text)
        if value != 1:
            tag["scale"] = value
    if unit := row.get("unit", ""):
        tag["unit"] = unit
    if desc := row.get("description", ""):
        tag["description"] = desc


def plc_yaml(result: PlcImportResult, options: PlcImportOptions, source: str, ignored: list[str]) -> str:
    lines = [f"# imported from {source} by `shopfloor import {options.protocol}-map`"]
    if ignored:
        lines.append(f"# columns not imported: {', '.join(ignored)}")
    lines += [
        f"id: {options.device_id}",
        f"protocol: {options.protocol}",
        f"host: {json.dumps(options.host)}",
    ]
    if options.port is not None:
        lines.append(f"port: {options.port}")
    if options.protocol == "s7":
        lines += ["rack: 0", "slot: 1"]
    else:
        lines.append(f"series: {options.series.value}")
    lines.append("tags:")
    lines += ["  - {" + ", ".join(f"{k}: {scalar(v)}" for k, v in tag.items()) + "}" for tag in result.tags]
    return "\n".join(lines) + "\n"
