"""The equipment register (设备台账) as its own input: YAML rows, the enterprise's CSV (UTF-8 or GBK)
and XLSX with Chinese headers, located errors, `config check` warnings, and the older per-device
`asset:` shape, whose unset flags are now undeclared instead of true."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from collector.cli import main
from collector.config import ConfigError, load_plant
from collector.config.equipment import rows
from collector.evidence.figures import register_entries

pytestmark = pytest.mark.unit

DEVICE = (
    "  - {{id: {id}, protocol: modbus_tcp, host: 127.0.0.1, port: 5020, tags: [{{name: t, address: 40001}}]}}"
)


def plant(tmp: Path, *, devices: list[str], extra: str = "") -> Path:
    lines = ["version: 1", "site: {enterprise: acme, site: s1}", "devices:"]
    lines += [DEVICE.format(id=d) for d in devices]
    path = tmp / "plant.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


HEADER = "设备编号,设备名称,设备类别,是否数字化设备,是否数控设备,是否关键工序,工序,采集设备\n"


def test_forty_machines_ten_connected_from_a_gbk_csv(tmp_path: Path) -> None:
    """Issue 15's partial plant: 40 machines in the enterprise's ledger, 10 of them connected. The
    register has 40 rows, so the denominator is 40, not the 10 connections."""
    body = "".join(
        f"JC-{i:03d},机床{i},生产设备,是,{'是' if i < 5 else '否'},{'是' if i < 3 else ''},车削,"
        f"{f'dev-{i:02d}' if i < 10 else ''}\n"
        for i in range(40)
    )
    (tmp_path / "设备台账.csv").write_bytes((HEADER + body).encode("gbk"))
    path = plant(
        tmp_path, devices=[f"dev-{i:02d}" for i in range(10)], extra="equipment: {file: 设备台账.csv}\n"
    )
    loaded = load_plant(path)
    table = rows(loaded.config)
    assert len(table) == 40 and all(r.production for r in table)
    assert [r.networked_via for r in table[:10]] == [f"dev-{i:02d}" for i in range(10)]
    assert table[0].name_zh == "机床0" and table[0].is_nc is True and table[7].is_nc is False
    assert table[5].is_key_process is None  # empty cell: undeclared, not false or true
    from collector.evidence.verify import indicators

    ind = indicators.indicators(register_entries(table), [f"dev-{i:02d}" for i in range(10)])
    assert (ind.verified_networked, ind.devices_total) == (10, 40)
    warned = [w.render() for w in loaded.warnings]
    assert any("30 of 40 production equipment rows have no connection" in w for w in warned)
    assert any("37 production equipment rows leave is_key_process undeclared" in w for w in warned)


def test_xlsx_register_with_a_title_row_and_a_meter(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "台账"
    sheet.append(["某某精密 设备台账 2026"])
    sheet.append(["资产编号", "名称", "类别", "是否数字化", "是否联网", "计入生产设备"])
    sheet.append(["JC-001", "立式加工中心", "生产设备", "是", "是", None])
    sheet.append(["DB-01", "总电表", "计量器具", "√", "否", None])
    sheet.append(["DB-02", "产线电表", "计量器具", "是", None, "是"])
    book.save(tmp_path / "台账.xlsx")
    path = plant(tmp_path, devices=["cnc-01"], extra="equipment: {file: 台账.xlsx, sheet: 台账}\n")
    table = rows(load_plant(path).config)
    assert [(r.id, r.category.value if r.category else None, r.production) for r in table] == [
        ("JC-001", "production", True),
        ("DB-01", "metering", False),
        ("DB-02", "metering", True),  # declared production: counts despite being a meter
    ]
    assert table[0].is_networked is True and table[1].is_digital is True


def test_a_bad_cell_is_located_at_its_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "台账.csv").write_text(
        HEADER + "JC-1,车床,生产设备,也许,是,是,车削,\nJC-2,x,设备,是,是,是,,\n", "utf-8"
    )
    path = plant(tmp_path, devices=["dev-01"], extra="equipment: {file: 台账.csv}\n")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    text = str(info.value)
    assert "台账.csv:2:4: equipment.rows[0].is_digital: '也许' is not yes or no" in text
    assert "台账.csv:3:3: equipment.rows[1].category: unknown equipment category '设备'" in text


def test_unknown_connection_duplicate_code_and_asset_beside_equipment_are_errors(tmp_path: Path) -> None:
    extra = (
        "equipment:\n  rows:\n"
        "    - {id: JC-1, networked_via: dev-02}\n"
        "    - {id: JC-1, networked_via: dev-01}\n"
    )
    path = plant(tmp_path, devices=["dev-01"], extra=extra)
    text = path.read_text("utf-8").replace("port: 5020,", "port: 5020, asset: {is_digital: true},")
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    messages = [p.render() for p in info.value.problems]
    assert any(
        ":7:33: equipment.rows[0].networked_via: networked_via 'dev-02' is not a device" in m
        for m in messages
    )
    assert any(":8:12: equipment.rows[1].id: duplicate equipment code 'JC-1'" in m for m in messages)
    assert any("devices[0].asset: asset: and equipment: both describe" in m for m in messages)


def test_config_check_warns_about_unnamed_connections_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = "{id: JC-1, category: production, is_digital: true, networked_via: dev-01}"
    extra = f"equipment:\n  rows:\n    - {row}\n"
    path = plant(tmp_path, devices=["dev-01", "dev-02"], extra=extra)
    assert main(["config", "check", str(path)]) == 0
    err = capsys.readouterr().err
    assert ":5:10: devices[1].id: warning: device 'dev-02' is named by no equipment row" in err
    assert "add networked_via: dev-02" in err


def test_the_older_asset_shape_still_loads_with_flags_undeclared(tmp_path: Path) -> None:
    """A plant file written before the register: each device is its row, networked via itself, and the
    flags it does not set are undeclared (they were true by default, so 数字化率 read 100 %)."""
    path = plant(tmp_path, devices=["dev-01", "dev-02"])
    text = path.read_text("utf-8").replace("port: 5020,", "port: 5020, asset: {is_digital: true},", 1)
    path.write_text(text, "utf-8")
    loaded = load_plant(path)
    table = rows(loaded.config)
    assert [(r.id, r.networked_via, r.is_digital) for r in table] == [
        ("dev-01", "dev-01", True),
        ("dev-02", "dev-02", None),
    ]
    assert table[1].undeclared == ("category", "is_digital", "is_key_process")
    from collector.evidence.verify import indicators

    ind = indicators.indicators(register_entries(table), [])
    assert (ind.digital, ind.devices_total, ind.declared_networked) == (1, 2, 2)
    assert any("no equipment: section" in w.render() for w in loaded.warnings)


def test_every_example_plant_file_still_loads() -> None:
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml")):
        load_plant(path)
