"""Reading an integrator's register table (CSV, or XLSX with openpyxl) into rows of known columns, and
the helpers every importer shares (ids, scales, YAML scalars).

Tables arrive with headers in English or Chinese; each header is matched against the synonyms below,
and the cells of headers that match none are reported (`Sheet.ignored`), never dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from collector.config.sheet import SheetError, find_columns, normalise_header, read_grid

Row = dict[str, str]

# Header synonyms (compared after lower-casing and dropping spaces, '_', '-', brackets).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "tag",
        "tagname",
        "variable",
        "label",
        "点位",
        "点位名",
        "名称",
        "变量名",
        "变量",
        "标签",
        "标签名",
    ),
    "address": (
        "address",
        "addr",
        "register",
        "registeraddress",
        "地址",
        "寄存器地址",
        "寄存器",
        "偏移",
        "logicaladdress",
        "逻辑地址",
        "device",
        "软元件",
        "软元件名",
        "assignment",
        "分配",
    ),
    "offset": ("offset", "偏移量"),  # a DB's byte offset column in TIA Portal (e.g. 2.0)
    "length": (
        "length",
        "len",
        "size",
        "registers",
        "registercount",
        "words",
        "characters",
        "长度",
        "寄存器数",
        "寄存器个数",
        "字数",
        "字符数",
    ),
    "table": ("table", "area", "registertype", "functioncode", "fc", "区域", "寄存器类型", "功能码"),
    "type": ("type", "datatype", "format", "数据类型", "类型", "格式"),
    "scale": ("scale", "factor", "multiplier", "ratio", "倍率", "系数", "比例", "缩放"),
    "unit": ("unit", "units", "eu", "单位"),
    "description": ("description", "desc", "comment", "remark", "描述", "说明", "备注", "注释"),
    "byte_order": ("byteorder", "wordorder", "endian", "字节序", "字节顺序"),
    "access": ("access", "rw", "readwrite", "读写", "读写属性"),
}

ID_RE = re.compile(r"^[a-z0-9_-]{1,64}$")


class ImportFailed(Exception):
    """The file cannot be read at all (missing, wrong format, no usable header)."""


norm = normalise_header  # cells and synonyms are compared in this form


def read_rows(path: Path) -> list[tuple[int, Row]]:
    """(spreadsheet row number, {canonical column: text}) for every non-empty data row."""
    return read_sheet(path).rows


@dataclass(frozen=True, slots=True)
class Sheet:
    rows: list[tuple[int, Row]]
    ignored: list[str]  # header cells that name no column the importers know: said, never dropped silently


def read_sheet(path: Path) -> Sheet:
    """The data rows, and the header cells that were not understood."""
    try:
        grid = read_grid(path)
    except SheetError as exc:
        raise ImportFailed(str(exc)) from exc
    index = next((i for i, row in enumerate(grid) if _has_name_and_address(find_columns(row, COLUMNS))), None)
    if index is None:
        raise ImportFailed(f"{path}: no header row with a name and an address column (e.g. 名称, 地址)")
    columns = find_columns(grid[index], COLUMNS)
    rows = []
    for number, cells in enumerate(grid[index + 1 :], start=index + 2):
        row = {key: cells[i].strip() for key, i in columns.items() if i < len(cells)}
        if any(row.values()):
            rows.append((number, row))
    used = set(columns.values())
    ignored = [cell.strip() for i, cell in enumerate(grid[index]) if cell.strip() and i not in used]
    return Sheet(rows, ignored)


def _has_name_and_address(columns: dict[str, int]) -> bool:
    return "name" in columns and ("address" in columns or "offset" in columns)


def parse_scale(text: str) -> float:
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


def ident(name: str, number: int) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", name.strip().lower()).strip("_-")[:64]
    # A name with no Latin letters (温度1 -> "1") makes a meaningless id: number it by row instead.
    return slug if ID_RE.match(slug) and re.search("[a-z]", slug) else f"tag_{number}"


def unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate = f"{name[:60]}_{n}"
        n += 1
    used.add(candidate)
    return candidate


def scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if ID_RE.match(text) and not text.isdigit() else json.dumps(text, ensure_ascii=False)
