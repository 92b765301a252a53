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
from pathlib import Path

from collector.config.sheet import SheetError, find_columns, header_row, normalise_header, read_grid
from drivers.modbus.spec import DataType, Table

Row = dict[str, str]

# Header synonyms (compared after lower-casing and dropping spaces, '_', '-', brackets).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "tag", "tagname", "variable", "点位", "点位名", "名称", "变量名", "变量", "标签"),
    "address": ("address", "addr", "register", "registeraddress", "地址", "寄存器地址", "寄存器", "偏移"),
    "table": ("table", "area", "registertype", "functioncode", "fc", "区域", "寄存器类型", "功能码"),
    "type": ("type", "datatype", "format", "数据类型", "类型", "格式"),
    "scale": ("scale", "factor", "multiplier", "ratio", "倍率", "系数", "比例", "缩放"),
    "unit": ("unit", "units", "eu", "单位"),
    "description": ("description", "desc", "comment", "remark", "描述", "说明", "备注", "注释"),
    "byte_order": ("byteorder", "wordorder", "endian", "字节序", "字节顺序"),
    "access": ("access", "rw", "readwrite", "读写", "读写属性"),
}

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
ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")


class ImportFailed(Exception):
    """The file cannot be read at all (missing, wrong format, no usable header)."""


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


def _norm(text: str) -> str:
    return normalise_header(text)


def read_rows(path: Path) -> list[tuple[int, Row]]:
    """(spreadsheet row number, {canonical column: text}) for every non-empty data row."""
    try:
        grid = read_grid(path)
    except SheetError as exc:
        raise ImportFailed(str(exc)) from exc
    index = header_row(grid, COLUMNS, ("name", "address"))
    if index is None:
        raise ImportFailed(f"{path}: no header row with a name and an address column (e.g. 名称, 地址)")
    columns = find_columns(grid[index], COLUMNS)
    rows = []
    for number, cells in enumerate(grid[index + 1 :], start=index + 2):
        row = {key: cells[i].strip() for key, i in columns.items() if i < len(cells)}
        if any(row.values()):
            rows.append((number, row))
    return rows


def convert(rows: Iterable[tuple[int, Row]], options: ImportOptions) -> ImportResult:
    result = ImportResult()
    used: set[str] = set()
    for number, row in rows:
        try:
            tag = _tag(row, options, number)
        except ValueError as exc:
            result.problems.append((number, str(exc)))
            continue
        tag["name"] = _unique(str(tag["name"]), used)
        result.tags.append(tag)
    if options.base == 1:
        result.assumptions.append("bare offsets are 1-based (address_base: 1)")
    return result


def _tag(row: Row, options: ImportOptions, number: int) -> dict[str, object]:
    raw_name = row.get("name", "")
    if not raw_name:
        raise ValueError("no name")
    address, bit, table = _address(row.get("address", ""), row.get("table", ""), options)
    data_type = _type(row.get("type", ""), table, bit)
    tag: dict[str, object] = {"name": _ident(raw_name, number)}
    if not raw_name.isascii():  # the id must be ASCII; keep the Chinese name for display
        tag["name_zh"] = raw_name
    tag["address"] = address
    tag["type"] = data_type.value
    if bit is not None:
        tag["bit"] = bit
    if data_type is DataType.STRING:
        raise ValueError("string tags need a length: add them by hand")
    _optional(tag, row, table)
    return tag


def _optional(tag: dict[str, object], row: Row, table: Table) -> None:
    if scale := row.get("scale", ""):
        value = _scale(scale)
        if value != 1:
            tag["scale"] = value
    if unit := row.get("unit", ""):
        tag["unit"] = unit
    if order := row.get("byte_order", "").upper():
        if order not in ("AB", "BA", "ABCD", "BADC", "CDAB", "DCBA"):
            raise ValueError(f"byte order {order!r} is not one of ABCD, BADC, CDAB, DCBA")
        tag["byte_order"] = order
    access = _norm(row.get("access", ""))
    if access in ("rw", "w", "readwrite", "读写", "可写") and table in (Table.COIL, Table.HOLDING_REGISTER):
        tag["writable"] = True
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
    table_hint = TABLES.get(_norm(table_text)) if table_text else None
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
        if text and TYPES.get(_norm(text), DataType.BOOL) is not DataType.BOOL:
            raise ValueError(f"type {text!r} at a bit address")
        return DataType.BOOL
    if not text:
        return DataType.UINT16
    key = _norm(text)
    if key.startswith("string") or key in ("str", "字符串"):
        return DataType.STRING
    found = TYPES.get(key)
    if found is None:
        raise ValueError(f"unknown data type {text!r}")
    if found is DataType.BOOL:
        raise ValueError("bool in a register needs a bit (write the address as 40010.3)")
    return found


def _scale(text: str) -> float:
    t = text.replace("×", "").replace("x", "").replace("X", "").replace("*", "").strip()
    try:
        if t.startswith(("/", "÷")):
            return 1 / float(t[1:])
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den)
        value = float(t)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"scale {text!r} is not a number") from exc
    if value == 0:
        raise ValueError("scale 0")
    return value


def _ident(name: str, number: int) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower()).strip("_-")[:64]
    # A name with no Latin letters (温度1 -> "1") makes a meaningless id: number it by row instead.
    return slug if ID_RE.match(slug) and re.search("[a-z]", slug) else f"tag_{number}"


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate = f"{name[:60]}_{n}"
        n += 1
    used.add(candidate)
    return candidate


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if ID_RE.match(text) and not text.isdigit() else json.dumps(text, ensure_ascii=False)


def to_yaml(result: ImportResult, options: ImportOptions, source: str) -> str:
    """The device as YAML (a list item ready for `devices:`, or a file for `devices_dir`)."""
    lines = [f"# imported from {source} by `shopfloor import modbus-map`"]
    lines += [f"# assumed: {a}" for a in result.assumptions]
    lines += [f"id: {options.device_id}", f"protocol: {options.protocol}"]
    if options.protocol == "modbus_rtu":
        lines.append(f"serial: {{port: {json.dumps(options.host)}}}")
    else:
        lines += [f"host: {json.dumps(options.host)}", f"port: {options.port}"]
    lines.append(f"unit_id: {options.unit_id}")
    if options.base == 1:
        lines.append("address_base: 1")
    lines.append("tags:")
    lines += ["  - {" + ", ".join(f"{k}: {_scalar(v)}" for k, v in tag.items()) + "}" for tag in result.tags]
    return "\n".join(lines) + "\n"
