"""`shopfloor import s7-map|mc-map`: Siemens and Mitsubishi tag tables with Chinese headers -> device YAML
that passes config check, with the rows it cannot map numbered."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.config import load_plant
from collector.config.mc import McDevice
from collector.config.s7 import S7Device

pytestmark = pytest.mark.unit

TIA = """名称,数据类型,地址,注释,保持性
主轴转速,Real,%DB1.DBD2,r/min,
running,Bool,%DB1.DBX0.0,,
mode,Int,%MW20,,
recipe,String[20],%DB1.DBB10,,
door,Bool,%I0.3,,
bad,Int,%DB1.DBX0.9,,
"""
DB_OFFSETS = """名称,数据类型,偏移量,注释
speed,Real,2.0,
run,Bool,0.1,
count,DInt,6.0,
"""
GX = """标签名,软元件,数据类型,长度,单位
shots,D100,Double Word[Unsigned],,
温度1,D110,FLOAT[Single Precision],,°C
mould,D120,String,16,
running,M8,Bit,,
door,X17,Bit,,
wrong,X18,Bit,,
"""


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *args: str) -> tuple[int, str, str]:
    sheet = tmp_path / "table.csv"
    sheet.write_bytes(text.encode("gbk"))  # as Excel in China saves it
    code = main(["import", *args[:1], str(sheet), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def loads(tmp_path: Path, name: str, text: str) -> object:
    (tmp_path / "devices").mkdir(exist_ok=True)
    (tmp_path / "devices" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "plant.yaml").write_text("version: 1\nsite: {enterprise: t, site: s}\ndevices_dir: devices\n")
    (device,) = load_plant(tmp_path / "plant.yaml").config.devices
    return device


def test_a_tia_portal_tag_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, capsys, TIA, "s7-map", "--device-id", "asm-01", "--host", "10.0.0.9")
    assert code == 0
    assert "row 7: not imported" in err and "bit 9 outside 0..7" in err
    assert "columns not imported: 保持性" in err
    device = loads(tmp_path, "asm-01", out)
    assert isinstance(device, S7Device)
    specs = {t.name: t.spec() for t in device.tags}
    assert (specs["tag_2"].db, specs["tag_2"].offset, specs["tag_2"].type.value) == (1, 2, "real")
    assert device.tags[0].name_zh == "主轴转速"
    assert specs["recipe"].length == 20 and specs["door"].bit == 3


def test_a_db_offset_column_with_its_db_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, DB_OFFSETS, "s7-map", "--db", "7")
    assert code == 0
    device = loads(tmp_path, "device-01", out)
    assert isinstance(device, S7Device)
    assert [t.spec().address for t in device.tags] == ["DB7.DBD2", "DB7.DBX0.1", "DB7.DBD6"]


def test_a_gx_works_label_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, capsys, GX, "mc-map", "--port", "5000", "--series", "iq-f")
    assert code == 0
    assert "row 7: not imported" in err and "octal" in err  # X18 does not exist on an FX5
    device = loads(tmp_path, "device-01", out)
    assert isinstance(device, McDevice)
    specs = {t.name: t.spec(device.series) for t in device.tags}
    assert specs["shots"].type.value == "uint32" and specs["mould"].length == 16
    assert specs["door"].number == 0o17 and device.tags[1].name_zh == "温度1"
