"""CSV files of the evidence pack: UTF-8 with BOM, header cells "中文(english)", one reader for all.

STDLIB ONLY: copied into every pack as ``verify/csvio.py`` next to the verifier.

    write_csv(path, [("设备编号", "device_id"), ("完整率", "completeness")], [["cnc-01", 0.98]])
    for row in read_csv(path):            # a header cell is keyed by the text in its LAST parentheses
        row.text("device_id"), row.number("completeness"), row.line   # line: 1-based line in the file

Cells are written so that they read back exactly: floats with repr() (shortest round-trip form),
booleans as true/false, None as an empty cell. Excel opens the files correctly because of the BOM.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENCODING = "utf-8-sig"
TRUE = frozenset({"true", "1", "yes", "y", "是", "t"})
UNDECLARED = frozenset({"", "未申报", "undeclared"})
FALSE = frozenset({"false", "0", "no", "n", "否", "f", ""})

Column = tuple[str, str]  # (中文, english key)
# the columns a row about a stretch of time begins with (gaps, state intervals)
SPAN: list[Column] = [
    ("设备编号", "device_id"),
    ("开始", "start"),
    ("结束", "end"),
    ("开始(毫秒)", "start_ms"),
    ("结束(毫秒)", "end_ms"),
    ("时长(秒)", "duration_s"),
]
Cell = str | int | float | bool | None


class CsvFormatError(ValueError):
    """A cell cannot be read as the type asked for; the message names file, line and column."""


def header(zh: str, en: str) -> str:
    """The header cell for a column: "设备编号(device_id)"."""
    return f"{zh}({en})"


def key_of(cell: str) -> str:
    """The english key of a header cell: the text inside its last parentheses, else the cell itself."""
    text = cell.strip().lstrip("\ufeff")
    close = text.rfind(")")
    if close == -1:
        close = text.rfind("）")  # full-width parenthesis typed by hand in a spreadsheet
    opening = max(text.rfind("(", 0, max(close, 0)), text.rfind("（", 0, max(close, 0)))
    if close == -1 or opening == -1:
        return text
    return text[opening + 1 : close].strip()


def format_cell(value: Cell) -> str:
    """Text of one cell that parses back to the same value (repr keeps every float bit)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(path: Path, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> None:
    """A pack CSV (BOM, CRLF line ends as RFC 4180 and Excel expect), written row by row: a raw
    samples file of a long window is never held whole in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width = len(columns)
    with path.open("w", encoding=ENCODING, newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([header(zh, en) for zh, en in columns])
        for row in rows:
            if len(row) != width:
                raise ValueError(f"row has {len(row)} cells, header has {width}: {row!r}")
            writer.writerow([format_cell(v) for v in row])


@dataclass(frozen=True, slots=True)
class Row:
    """One data row, keyed by english column key; typed getters raise CsvFormatError with the place."""

    source: str  # file name for messages
    line: int  # 1-based line number of the row's first line in the file
    cells: dict[str, str]

    def where(self, key: str) -> str:
        return f"{self.source} line {self.line} column {key}"

    def text(self, key: str) -> str:
        try:
            return self.cells[key]
        except KeyError:
            raise CsvFormatError(f"{self.source} line {self.line}: no column {key!r}") from None

    def has(self, key: str) -> bool:
        return key in self.cells

    def integer(self, key: str) -> int:
        value = self.opt_integer(key)
        if value is None:
            raise CsvFormatError(f"{self.where(key)}: empty, an integer is required")
        return value

    def opt_integer(self, key: str) -> int | None:
        text = self.text(key).strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise CsvFormatError(f"{self.where(key)}: {text!r} is not an integer") from None

    def number(self, key: str) -> float:
        value = self.opt_number(key)
        if value is None:
            raise CsvFormatError(f"{self.where(key)}: empty, a number is required")
        return value

    def opt_number(self, key: str) -> float | None:
        text = self.text(key).strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise CsvFormatError(f"{self.where(key)}: {text!r} is not a number") from None

    def opt_flag(self, key: str) -> bool | None:
        """A declared flag, or None for a cell left empty or marked undeclared (未申报)."""
        text = self.text(key).strip().lower()
        return None if text in UNDECLARED else self.flag(key)

    def flag(self, key: str) -> bool:
        text = self.text(key).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise CsvFormatError(f"{self.where(key)}: {text!r} is not true/false")


def parse_csv(data: bytes, source: str = "<csv>") -> list[Row]:
    """Rows of a pack CSV given as bytes (BOM optional); blank lines are skipped."""
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"{source}: not UTF-8 ({exc})") from None
    return list(_rows(csv.reader(io.StringIO(text, newline="")), source))


def _rows(reader: Any, source: str) -> Iterator[Row]:
    try:
        head = next(reader)
    except StopIteration:
        return
    keys = [key_of(cell) for cell in head]
    line = reader.line_num + 1
    for cells in reader:
        if cells:
            if len(cells) != len(keys):
                raise CsvFormatError(f"{source} line {line}: {len(cells)} cells, header has {len(keys)}")
            yield Row(source, line, dict(zip(keys, cells, strict=True)))
        line = reader.line_num + 1


def read_csv(path: Path, source: str | None = None) -> list[Row]:
    return parse_csv(path.read_bytes(), source or path.name)


def iter_csv(path: Path, source: str | None = None) -> Iterator[Row]:
    """Rows of a pack CSV read as a stream (raw-sample files can hold millions of rows)."""
    name = source or path.name
    with path.open(encoding=ENCODING, newline="") as stream:
        try:
            yield from _rows(csv.reader(stream), name)
        except UnicodeDecodeError as exc:
            raise CsvFormatError(f"{name}: not UTF-8 ({exc})") from None
