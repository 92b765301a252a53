"""Tables an enterprise already keeps, read as a grid of text cells: CSV (UTF-8, or GBK/GB18030 as
Excel in China saves it) or the first (or a named) sheet of an .xlsx workbook.

Shared by the plant file's register and calendar imports and by `shopfloor import modbus-map`.
Header matching compares cells after lower-casing and dropping spaces, '_', '-', '/' and brackets, so
"是否数控(is_nc)" and "Is NC" both find their column when the synonym list names them.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any

Grid = list[list[str]]


class SheetError(ValueError):
    """The file cannot be read as a table at all (missing, wrong format, undecodable text)."""


def normalise_header(text: str) -> str:
    return re.sub(r"[\s_\-()（）\[\]【】/]+", "", text.strip().lower())


def read_grid(path: Path, sheet: str | None = None) -> Grid:
    """Every row of the table as text cells (empty string for an empty cell)."""
    if not path.exists():
        raise SheetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_grid(path, sheet)
    if suffix in (".csv", ".txt", ".tsv"):
        return _csv_grid(path)
    raise SheetError(f"{path}: expected a .csv or .xlsx file")


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) first; text that is not UTF-8 is read as GB18030, the superset of
    GBK that spreadsheet programs in China write."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError(f"{path}: not UTF-8 or GBK text")


def _csv_grid(path: Path) -> Grid:
    text = decode_text(path.read_bytes(), path)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(r) for r in csv.reader(io.StringIO(text), dialect)]


def _xlsx_grid(path: Path, sheet: str | None) -> Grid:
    # openpyxl ships no type information: imported by name and used as Any
    openpyxl: Any = importlib.import_module("openpyxl")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for a bad file
        raise SheetError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SheetError(f"{path}: no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        return [[_cell_text(c) for c in row] for row in ws.iter_rows(values_only=True)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):  # a date cell: openpyxl gives midnight of that day
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    return str(value)


def find_columns(header: Sequence[str], synonyms: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """{canonical name: column index} for the header cells that match a synonym (first match wins)."""
    found: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = normalise_header(cell)
        for canonical, names in synonyms.items():
            if key in names and canonical not in found:
                found[canonical] = i
    return found


def header_row(grid: Grid, synonyms: Mapping[str, Sequence[str]], required: Sequence[str]) -> int | None:
    """Index of the first row that names every `required` column (title rows above it are skipped)."""
    for index, row in enumerate(grid):
        columns = find_columns(row, synonyms)
        if all(name in columns for name in required):
            return index
    return None
