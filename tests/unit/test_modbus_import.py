"""`shopfloor import modbus-map`: golden register tables -> device YAML that passes config check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main
from collector.config import load_plant
from collector.importers.modbus_map import (
    ImportFailed,
    ImportOptions,
    convert,
    read_rows,
    to_yaml,
)
from drivers.modbus.spec import DataType, Table

pytestmark = pytest.mark.unit

CASES = Path(__file__).resolve().parent.parent / "cases" / "modbus_import"
GOLDEN: dict[str, Any] = json.loads((CASES / "cases.json").read_text(encoding="utf-8"))["cases"]
PLANT = """version: 1
site: {enterprise: acme, site: s1, edge_id: ipc-01, areas: [{id: a1, lines: [{id: l1}]}]}
devices_dir: devices
"""


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_tables_convert_to_the_expected_yaml(name: str) -> None:
    case = GOLDEN[name]
    options = ImportOptions(**case["options"])
    result = convert(read_rows(CASES / f"{name}.csv"), options)
    assert to_yaml(result, options, f"{name}.csv") == (CASES / f"{name}.expected.yaml").read_text("utf-8")
    assert [list(p) for p in result.problems] == case["problems"]


def test_imported_devices_pass_config_check(tmp_path: Path) -> None:
    (tmp_path / "devices").mkdir()
    (tmp_path / "plant.yaml").write_text(PLANT, encoding="utf-8")
    for name in GOLDEN:
        text = (CASES / f"{name}.expected.yaml").read_text("utf-8")
        (tmp_path / "devices" / f"{name}.yaml").write_text(text, encoding="utf-8")
    plant = load_plant(tmp_path / "plant.yaml")
    devices = {d.id: d for d in plant.config.devices}
    meter = devices["meter-07"]
    assert meter.protocol == "modbus_tcp"
    specs = {t.name: t for t in meter.tag_specs()}
    # Modicon 40001 is holding register 0; 40010.3 is bit 3 of holding register 9.
    assert (specs["voltage_l1"].table, specs["voltage_l1"].address) == (Table.HOLDING_REGISTER, 0)
    assert (specs["door_closed"].address, specs["door_closed"].bit) == (9, 3)
    assert specs["run_hours"].data_type is DataType.UINT32 and specs["run_hours"].scale == 0.1
    assert specs["pump_on"].table is Table.COIL and specs["pump_on"].writable
    zh = {t.name_zh: t for t in devices["imm-02"].tags}
    assert zh["总电量"].address.table is Table.INPUT_REGISTER


def test_bare_offsets_can_be_one_based(tmp_path: Path) -> None:
    sheet = tmp_path / "map.csv"
    sheet.write_text("name,address,type\nspeed,1,uint16\nload,0,uint16\n", encoding="utf-8")
    options = ImportOptions(base=1)
    result = convert(read_rows(sheet), options)
    assert [t["address"] for t in result.tags] == [{"table": "holding_register", "offset": 1}]
    assert result.problems == [(3, "address '0' is not a register number")]
    assert "address_base: 1" in to_yaml(result, options, "map.csv")


def test_cli_prints_yaml_and_lists_unmapped_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "modbus-map", str(CASES / "english.csv"), "--device-id", "meter-07"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == (CASES / "english.expected.yaml").read_text("utf-8")
    assert "row 11: not imported: unknown data type 'QWORD'" in err
    assert "row 12: not imported: no address" in err


def test_xlsx_register_table_is_read(tmp_path: Path) -> None:
    """openpyxl is a dependency: a sheet kept in Excel imports like its CSV, title rows skipped."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["一号电表点表"])
    sheet.append(["名称", "地址", "数据类型", "单位"])
    sheet.append(["电压", 40001, "REAL", "V"])
    book.save(tmp_path / "map.xlsx")
    rows = read_rows(tmp_path / "map.xlsx")
    assert rows == [(3, {"name": "电压", "address": "40001", "type": "REAL", "unit": "V"})]


def test_a_damaged_xlsx_is_refused_with_its_path(tmp_path: Path) -> None:
    book = tmp_path / "map.xlsx"
    book.write_bytes(b"PK")
    with pytest.raises(ImportFailed, match=r"not a readable \.xlsx"):
        read_rows(book)


def test_a_sheet_without_name_and_address_columns_is_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "map.csv"
    sheet.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="no header row"):
        read_rows(sheet)
