"""Tables named in the plant file, read into it at load time: the enterprise's 设备台账
(`equipment.file`) and the dated calendar exceptions (`calendar.exceptions_file`).

Each data row becomes an entry of the document (`equipment.rows`, `calendar.holidays` /
`calendar.workdays`) whose fields are located at the file's row and column, so a bad cell is reported
as `设备台账.csv:14:6: equipment.rows[13].is_nc: …` like any YAML error. Cells are text; yes/no,
categories and dates are read in the forms Chinese spreadsheets use, and an empty cell stays
undeclared (never a default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collector.config.errors import Location, PathT, Problem
from collector.config.sheet import SheetError, find_columns, header_row, normalise_header, read_grid
from collector.config.source import Document

EQUIPMENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("设备编号", "资产编号", "设备编码", "资产编码", "编号", "id", "equipmentid", "assetno", "code"),
    "name_zh": ("设备名称", "名称", "资产名称"),
    "name": ("name", "englishname", "英文名称"),
    "category": ("设备类别", "类别", "设备分类", "分类", "category"),
    "type": ("设备类型", "类型", "type"),
    "vendor": ("品牌", "厂家", "生产厂家", "制造商", "vendor", "manufacturer"),
    "model": ("型号", "规格型号", "model"),
    "serial": ("出厂编号", "序列号", "serial"),
    "controller": ("控制系统", "数控系统", "controller"),
    "process": ("工序", "所属工序", "process"),
    "area": ("车间", "所属车间", "area", "workshop"),
    "line": ("产线", "生产线", "line"),
    "is_key_process": ("是否关键工序", "关键工序", "iskeyprocess", "keyprocess"),
    "is_digital": (
        "是否数字化设备",
        "数字化设备",
        "是否数字化",
        "是否数控数字化设备",
        "isdigital",
        "digital",
    ),
    "is_nc": ("是否数控设备", "是否数控", "数控设备", "数控", "isnc", "nc"),
    "is_networked": ("是否联网", "联网", "已联网", "isnetworked", "networked"),
    "networked_via": ("采集设备", "接入设备", "采集连接", "接入点", "networkedvia", "connection"),
    "counts_as_production": ("计入生产设备", "是否生产设备", "countsasproduction"),
    "access": ("接入方式", "access"),
    "gateway_id": ("网关", "gatewayid", "gateway"),
    "onboarded_at": ("接入日期", "onboardedat"),
    "identifier": ("标识码", "identifier"),
    "photo_ref": ("资产照片", "照片", "photoref", "photo"),
    "notes": ("备注", "说明", "notes", "remark"),
}
BOOLEAN_FIELDS = ("is_key_process", "is_digital", "is_nc", "is_networked", "counts_as_production")
YES = {"是", "y", "yes", "true", "1", "√", "✓", "✔", "有", "t"}
NO = {"否", "n", "no", "false", "0", "×", "✗", "✘", "无", "f"}
CATEGORIES = {
    "production": ("production", "生产设备", "生产", "主要生产设备", "主要设备"),
    "auxiliary": ("auxiliary", "辅助设备", "辅助生产设备", "辅助"),
    "metering": ("metering", "meter", "计量器具", "计量设备", "计量", "仪表", "能源计量"),
    "facility": ("facility", "公用设施", "设施", "动力设施", "公用设备", "动力设备"),
}
ACCESS = {"native": ("native", "原生", "直连"), "gateway": ("gateway", "网关"),
          "retrofit_sensor": ("retrofitsensor", "加装传感器", "传感器改造", "改造")}  # fmt: skip

CALENDAR_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("日期", "date"),
    "kind": ("类型", "类别", "type", "kind"),
    "name": ("名称", "节日", "说明", "备注", "name"),
    "shifts_of": ("按星期", "对应星期", "班次同", "shiftsof"),
}
HOLIDAY = ("holiday", "节假日", "法定节假日", "假日", "休", "休息", "放假", "off")
WORKDAY = ("workday", "调休", "调休上班", "补班", "上班", "班", "工作日", "work")
WEEKDAY_NAMES = {
    "mon": ("mon", "monday", "周一", "星期一", "一"), "tue": ("tue", "tuesday", "周二", "星期二", "二"),
    "wed": ("wed", "wednesday", "周三", "星期三", "三"), "thu": ("thu", "thursday", "周四", "星期四", "四"),
    "fri": ("fri", "friday", "周五", "星期五", "五"), "sat": ("sat", "saturday", "周六", "星期六", "六"),
    "sun": ("sun", "sunday", "周日", "星期日", "星期天", "日", "天"),
}  # fmt: skip


def _lookup(table: dict[str, tuple[str, ...]], text: str) -> str | None:
    key = normalise_header(text)
    return next((canonical for canonical, names in table.items() if key in names), None)


class _Table:
    """One imported file: its display name, located cells, and where problems go."""

    def __init__(self, doc: Document, base: Path, key: PathT, problems: list[Problem]) -> None:
        self.doc, self.key, self.problems = doc, key, problems
        rel = str(_get(doc.data, key))
        self.path = Path(rel) if Path(rel).is_absolute() else base / rel
        self.display = rel

    def grid(self, sheet: str | None = None) -> list[list[str]] | None:
        try:
            return read_grid(self.path, sheet)
        except SheetError as exc:
            self.fail(
                self.doc.smap.locate(self.key),
                self.key,
                str(exc),
                "check the path (relative to the plant file)",
            )
            return None

    def fail(self, where: Location | None, path: PathT, message: str, hint: str) -> None:
        self.problems.append(Problem(where, path, message, hint))

    def at(self, row: int, col: int) -> Location:
        return Location(self.display, row, col)


def import_tables(doc: Document, base: Path, problems: list[Problem]) -> None:
    data = doc.data
    if isinstance(data.get("equipment"), dict) and isinstance(data["equipment"].get("file"), str):
        _import_equipment(_Table(doc, base, ("equipment", "file"), problems))
    if isinstance(data.get("calendar"), dict) and isinstance(data["calendar"].get("exceptions_file"), str):
        _import_calendar(_Table(doc, base, ("calendar", "exceptions_file"), problems))


def _import_equipment(t: _Table) -> None:
    section = t.doc.data["equipment"]
    sheet = section.get("sheet") if isinstance(section.get("sheet"), str) else None
    grid = t.grid(sheet)
    if grid is None:
        return
    head = header_row(grid, EQUIPMENT_COLUMNS, ("id",))
    if head is None:
        hint = "name the column 设备编号 (or 资产编号, id); docs/CONFIGURATION.md lists the others"
        t.fail(t.at(1, 1), t.key, "no header row with an equipment code column", hint)
        return
    columns = find_columns(grid[head], EQUIPMENT_COLUMNS)
    table = section.setdefault("rows", [])
    if not isinstance(table, list):
        return
    for number, cells in enumerate(grid[head + 1 :], start=head + 2):
        values = _cells(cells, columns)
        if not values:
            continue
        index = len(table)
        row_path: PathT = ("equipment", "rows", index)
        t.doc.smap.values[row_path] = t.at(number, 1)
        row: dict[str, Any] = {}
        for name, text in values.items():
            where = t.at(number, columns[name] + 1)
            t.doc.smap.values[(*row_path, name)] = where
            row[name] = _equipment_value(t, name, text, where, (*row_path, name))
        table.append(row)


def _equipment_value(t: _Table, name: str, text: str, where: Location, path: PathT) -> object:
    if name in BOOLEAN_FIELDS:
        key = normalise_header(text)
        if key in YES or key in NO:
            return key in YES
        t.fail(
            where, path, f"{text!r} is not yes or no", "write 是 or 否 (or leave the cell empty: undeclared)"
        )
        return None
    if name == "category":
        found = _lookup(CATEGORIES, text)
        if found is None:
            t.fail(
                where,
                path,
                f"unknown equipment category {text!r}",
                "use 生产设备, 辅助设备, 计量器具 or 公用设施",
            )
        return found
    if name == "access":
        return _lookup(ACCESS, text) or text
    if name == "onboarded_at":
        return _iso_date(text) or text
    return text


def _iso_date(text: str) -> str | None:
    """2026-10-01, 2026/10/1, 2026.10.1 or 2026年10月1日 as ISO; None if it is none of them."""
    m = re.fullmatch(
        r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]00:00(?::00)?)?", text.strip()
    )
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else None


def _import_calendar(t: _Table) -> None:
    grid = t.grid()
    if grid is None:
        return
    head = header_row(grid, CALENDAR_COLUMNS, ("date", "kind"))
    if head is None:
        t.fail(t.at(1, 1), t.key, "no header row with a date and a type column", "name them 日期 and 类型")
        return
    columns = find_columns(grid[head], CALENDAR_COLUMNS)
    calendar = t.doc.data["calendar"]
    for number, cells in enumerate(grid[head + 1 :], start=head + 2):
        values = _cells(cells, columns)
        if not values:
            continue
        kind_text = values.get("kind", "")
        key = normalise_header(kind_text)
        kind = "holidays" if key in HOLIDAY else "workdays" if key in WORKDAY else None
        if kind is None:
            where = t.at(number, columns["kind"] + 1)
            t.fail(
                where,
                t.key,
                f"unknown day type {kind_text!r}",
                "write 节假日 (a day off) or 调休 (a make-up workday)",
            )
            continue
        entries = calendar.setdefault(kind, [])
        if not isinstance(entries, list):
            continue
        path: PathT = ("calendar", kind, len(entries))
        entry: dict[str, Any] = {}
        t.doc.smap.values[path] = t.at(number, 1)
        for name in ("date", "name", "shifts_of"):
            if name not in values or (name == "shifts_of" and kind == "holidays"):
                continue
            t.doc.smap.values[(*path, name)] = t.at(number, columns[name] + 1)
            text = values[name]
            entry[name] = (
                _iso_date(text) or text if name == "date"
                else _lookup(WEEKDAY_NAMES, text) or text if name == "shifts_of" else text
            )  # fmt: skip
        entries.append(entry)


def _cells(cells: list[str], columns: dict[str, int]) -> dict[str, str]:
    """The row's non-empty cells by canonical column name."""
    return {name: cells[i].strip() for name, i in columns.items() if i < len(cells) and cells[i].strip()}


def _get(data: Any, path: PathT) -> Any:
    for part in path:
        data = data[part]
    return data
