"""Turn an integrator's register table (CSV, or XLSX with openpyxl) into device YAML.

Register tables arrive as spreadsheets with headers in English or Chinese, Modicon references
(40001) or bare offsets, and PLC type names (REAL, DINT, WORD). Each row becomes one tag or one
entry in `problems` with its row number, so nothing is dropped silently. The YAML is written by hand
(one flow mapping per tag, strings JSON-quoted, which YAML reads as-is) so it stays diff-friendly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.importers.table import (
    ImportFailed,
    Row,
    ident,
    norm,
    parse_scale,
    read_rows,
    read_sheet,
    scalar,
    unique,
)
from drivers.modbus.spec import DataType, Table

__all__ = ["ImportFailed", "ImportOptions", "ImportResult", "convert", "read_rows", "read_sheet", "to_yaml"]

TYPES: dict[str, DataType] = {
    **dict.fromkeys(
        ("float", "float32", "real", "single", "f32", "浮点", "浮点数", "单精度"), DataType.FLOAT32
    ),
    **dict.fromkeys(("double", "float64", "lreal", "f64", "双精度"), DataType.FLOAT64),
    **dict.fromkeys(("int", "int16", "short", "s16", "i16", "整数", "整型"), DataType.INT16),
    **dict.fromkeys(("uint", "uint16", "word", "ushort", "u16", "无符号整数"), DataType.UINT16),
    **dict.fromkeys(("dint", "int32", "long", "s32", "i32", "长整数", "双整数"), DataType.INT32),
    **dict.fromkeys(("udint", "uint32", "dword", "ulong", "u32"), DataType.UINT32),
    **dict.fromkeys(("lint", "int64", "s64"), DataType.INT64),
    **dict.fromkeys(("ulint", "uint64", "lword", "u64"), DataType.UINT64),
    **dict.fromkeys(("bool", "boolean", "bit", "coil", "位", "布尔", "开关量"), DataType.BOOL),
    **dict.fromkeys(("bcd", "bcd16"), DataType.BCD16),
    **dict.fromkeys(("bcd32",), DataType.BCD32),
}

TABLES: dict[str, Table] = {
    **dict.fromkeys(("coil", "coils", "0x", "01", "1", "线圈"), Table.COIL),
    **dict.fromkeys(("discreteinput", "di", "input", "1x", "02", "2", "离散输入"), Table.DISCRETE_INPUT),
    **dict.fromkeys(("inputregister", "ir", "3x", "04", "4", "输入寄存器"), Table.INPUT_REGISTER),
    **dict.fromkeys(
        ("holdingregister", "hr", "holding", "4x", "03", "3", "保持寄存器"), Table.HOLDING_REGISTER
    ),
}
_MODICON_PREFIX = {
    "0": Table.COIL,
    "1": Table.DISCRETE_INPUT,
    "3": Table.INPUT_REGISTER,
    "4": Table.HOLDING_REGISTER,
}


@dataclass(frozen=True, slots=True)
class ImportOptions:
    device_id: str = "device-01"
    protocol: str = "modbus_tcp"
    host: str = "127.0.0.1"
    port: int = 502
    unit_id: int = 1
    base: int = 0  # base of bare offsets (0: offset 0 is the first register; 1: offset 1 is)
    default_table: Table = Table.HOLDING_REGISTER  # for bare offsets without a table column


@dataclass
class ImportResult:
    tags: list[dict[str, object]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row number, why)
    assumptions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the integrator must decide by hand


_READ_WRITE = frozenset({"rw", "w", "readwrite", "读写", "可写"})


def convert(rows: Iterable[tuple[int, Row]], options: ImportOptions) -> ImportResult:
    result = ImportResult()
    used: set[str] = set()
    read_write: list[str] = []
    for number, row in rows:
        try:
            tag = _tag(row, options, number)
        except ValueError as exc:
            result.problems.append((number, str(exc)))
            continue
        tag["name"] = unique(str(tag["name"]), used)
        result.tags.append(tag)
        if norm(row.get("access", "")) in _READ_WRITE:
            read_write.append(str(tag["name"]))
        if _number_formatted(row.get("address", "")) and tag["type"] != DataType.BOOL.value:
            result.notes.append(f"row {number}: address {row['address']!r} read as {tag['address']!r} "
                                "(a spreadsheet's number format), not as bit 0")  # fmt: skip
    if options.base == 1:
        result.assumptions.append("bare offsets are 1-based (address_base: 1)")
    if read_write:
        # Safe default: the collector only reads unless a tag is made writable on purpose.
        result.notes.append(f"marked read-write in the sheet, imported read-only: {', '.join(read_write)} "
                            "(add writable: true by hand where the collector must write)")  # fmt: skip
    return result


def _number_formatted(address: str) -> bool:
    """'40050.0': a register number a spreadsheet showed with one decimal, unless the row is a bit."""
    return re.fullmatch(r"\d+\.0", address.strip()) is not None


def _tag(row: Row, options: ImportOptions, number: int) -> dict[str, object]:
    raw_name = row.get("name", "")
    if not raw_name:
        raise ValueError("no name")
    address_text, type_text = row.get("address", ""), row.get("type", "")
    if _number_formatted(address_text) and type_text and TYPES.get(norm(type_text)) is not DataType.BOOL:
        address_text = address_text.strip()[:-2]
    address, bit, table = _address(address_text, row.get("table", ""), options)
    data_type = _type(type_text, table, bit)
    tag: dict[str, object] = {"name": ident(raw_name, number)}
    if not raw_name.isascii():  # the id must be ASCII; keep the Chinese name for display
        tag["name_zh"] = raw_name
    tag["address"] = address
    tag["type"] = data_type.value
    if bit is not None:
        tag["bit"] = bit
    _length(tag, data_type, row.get("length", ""))
    _optional(tag, row)
    return tag


def _length(tag: dict[str, object], data_type: DataType, text: str) -> None:
    """A string's length in registers from the length column; for other types it must agree."""
    text = text.strip()
    if text and not text.isdigit():
        raise ValueError(f"length {text!r} is not a number of registers")
    if data_type is DataType.STRING:
        if not text:
            raise ValueError("a string needs its length in registers (a 长度 / length column)")
        tag["length"] = int(text)
    elif text and int(text) != data_type.register_count():
        raise ValueError(
            f"length {text} contradicts type {data_type.value} ({data_type.register_count()} registers)"
        )


def _optional(tag: dict[str, object], row: Row) -> None:
    if scale := row.get("scale", ""):
        value = parse_scale(scale)
        if value != 1:
            tag["scale"] = value
    if unit := row.get("unit", ""):
        tag["unit"] = unit
    if order := row.get("byte_order", "").upper():
        if order not in ("AB", "BA", "ABCD", "BADC", "CDAB", "DCBA"):
            raise ValueError(f"byte order {order!r} is not one of ABCD, BADC, CDAB, DCBA")
        tag["byte_order"] = order
    if desc := row.get("description", ""):
        tag["description"] = desc


def _address(text: str, table_text: str, options: ImportOptions) -> tuple[object, int | None, Table]:
    """(YAML address, bit or None, table). Modicon references stay Modicon; offsets get a table."""
    text = text.strip().replace(" ", "")
    if not text:
        raise ValueError("no address")
    bit: int | None = None
    if m := re.fullmatch(r"(.+)[.:](\d{1,2})", text):
        text, bit = m.group(1), int(m.group(2))
        if bit > 15:
            raise ValueError(f"bit {bit} outside 0..15")
    if m := re.fullmatch(r"([0134])[xX](\d{1,5})", text):  # 4x0001 / 4x00001
        text = m.group(1) + m.group(2).zfill(4 if len(m.group(2)) <= 4 else 5)
    table_hint = TABLES.get(norm(table_text)) if table_text else None
    if table_text and table_hint is None:
        raise ValueError(f"unknown register table {table_text!r}")
    if re.fullmatch(r"[0134]\d{4,5}", text) and table_hint is None:
        table = _MODICON_PREFIX[text[0]]
        if int(text[1:]) < 1:
            raise ValueError(f"Modicon reference {text} has register 0; they start at 1")
        return text, bit, table
    offset = _number(text)
    table = table_hint or options.default_table
    if offset is None or not options.base <= offset <= 65535 + options.base:
        raise ValueError(f"address {text!r} is not a register number")
    return {"table": table.value, "offset": offset}, bit, table


def _number(text: str) -> int | None:
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def _type(text: str, table: Table, bit: int | None) -> DataType:
    if table.is_bit or bit is not None:
        if text and TYPES.get(norm(text), DataType.BOOL) is not DataType.BOOL:
            raise ValueError(f"type {text!r} at a bit address")
        return DataType.BOOL
    if not text:
        return DataType.UINT16
    key = norm(text)
    if key.startswith("string") or key in ("str", "字符串"):
        return DataType.STRING
    found = TYPES.get(key)
    if found is None:
        raise ValueError(f"unknown data type {text!r}")
    if found is DataType.BOOL:
        raise ValueError("bool in a register needs a bit (write the address as 40010.3)")
    return found


def to_yaml(result: ImportResult, options: ImportOptions, source: str) -> str:
    """The device as YAML (a list item ready for `devices:`, or a file for `devices_dir`)."""
    lines = [f"# imported from {source} by `shopfloor import modbus-map`"]
    lines += [f"# assumed: {a}" for a in result.assumptions]
    lines += [f"# note: {n}" for n in result.notes]
    lines += [f"id: {options.device_id}", f"protocol: {options.protocol}"]
    if options.protocol == "modbus_rtu":
        lines.append(f"serial: {{port: {json.dumps(options.host)}}}")
    else:
        lines += [f"host: {json.dumps(options.host)}", f"port: {options.port}"]
    lines.append(f"unit_id: {options.unit_id}")
    if options.base == 1:
        lines.append("address_base: 1")
    lines.append("tags:")
    lines += ["  - {" + ", ".join(f"{k}: {scalar(v)}" for k, v in tag.items()) + "}" for tag in result.tags]
    return "\n".join(lines) + "\n"
