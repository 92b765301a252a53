"""S7 and MC devices in a plant file: addresses as TIA Portal and GX Works write them, and a located
error (file:line:column, field, hint) for each mistake an integrator makes with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, load_plant
from collector.config.mc import McDevice
from collector.config.s7 import S7Device
from drivers.mc.spec import Device, McType
from drivers.s7.spec import Area, S7Type

pytestmark = pytest.mark.unit

GOOD = """version: 1
site: {enterprise: t, site: s}
devices:
  - id: asm-01
    protocol: s7
    host: 10.0.0.9
    tags:
      - {name: speed, address: "%DB1.DBD2", type: real}
      - {name: run, address: DB1.DBX0.7}
      - {name: parts, address: DB1.DBD6:DINT}
      - {name: recipe, address: DB1.DBB10, type: string, length: 20}
      - {name: t5, address: T5}
      - {name: vw, address: VW100, type: int}
  - id: fx-01
    protocol: mc
    host: 10.0.0.10
    port: 5000
    series: iq-f
    tags:
      - {name: shots, address: D100, type: uint32}
      - {name: door, address: X17}
      - {name: alarm, address: D130.F}
      - {name: link, address: W1A}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "plant.yaml"
    path.write_text(text, encoding="utf-8")
    return load_plant(path)


def test_addresses_compile_to_the_drivers_specs(tmp_path: Path) -> None:
    s7, mc = load(tmp_path, GOOD).config.devices  # type: ignore[attr-defined]
    assert isinstance(s7, S7Device) and isinstance(mc, McDevice)
    specs = {t.name: t for t in s7.driver_options().tags}
    assert (specs["speed"].area, specs["speed"].db, specs["speed"].offset, specs["speed"].type) == (
        Area.DB, 1, 2, S7Type.REAL
    )  # fmt: skip
    assert (specs["run"].bit, specs["parts"].type, specs["recipe"].size) == (7, S7Type.DINT, 22)
    assert (specs["t5"].type, specs["vw"].area, specs["vw"].db) == (S7Type.TIMER, Area.V, 1)
    mspecs = {t.name: t for t in mc.driver_options().tags}
    assert (mspecs["door"].device, mspecs["door"].number) == (Device.X, 0o17)
    assert (mspecs["alarm"].type, mspecs["alarm"].bit) == (McType.BOOL, 15)
    assert (mspecs["link"].number, mspecs["shots"].type) == (0x1A, McType.UINT32)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"%DB1.DBD2", type: real', "DB1.DBD2", "needs a type"),
        ("DB1.DBX0.7", "DB1.DBX0.8", "bit 8 outside 0..7"),
        ('"%DB1.DBD2", type: real', "DB1.DBW2, type: real", "real is 4 bytes"),
        ("DB1.DBD6:DINT", "DB1.DBD6:QWORD", "unknown type"),
        ("address: X17", "address: X18", "octal"),
        ("address: D130.F", "address: M3.1", "bit device"),
        ("address: W1A", "address: Q5", "not an MC device address"),
    ],
)
def test_mistakes_are_located(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        load(tmp_path, GOOD.replace(old, new, 1))
    (problem,) = info.value.problems
    assert message in problem.render() and "plant.yaml:" in problem.render()
