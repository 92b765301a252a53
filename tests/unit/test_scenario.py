"""Plant scenario files: the shipped one is valid, mistakes are located."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError
from simulators.scenario import load_scenario

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_shipped_scenario_has_at_least_10_cncs_and_20_plcs() -> None:
    sc = load_scenario(REPO / "configs" / "sim" / "plant.yaml")
    names = sc.device_names()
    cncs = sum(g.count for g in sc.cnc)
    plcs = len(names) - cncs
    assert cncs >= 10 and plcs >= 20
    assert len(set(names)) == len(names)


def test_scenario_mistakes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(
        "name: t\nsite: {enterprise: a, site: b}\n"
        "plc:\n  - {prefix: p, profile: energy-metre}\n"
        "faults:\n  - {at: 5, device: p-01, kind: stall}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    lines = [p.render() for p in info.value.problems]
    assert any("sc.yaml:4:" in ln and "plc[0].profile" in ln and "energy-meter" in ln for ln in lines), lines
    assert any("sc.yaml:6:" in ln and "faults[0].at" in ln and "no unit" in ln for ln in lines), lines
