"""Shipped device templates describe the same registers the simulators serve (no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from collector.config.modbus import ModbusTag
from simulators.modbus import available_profiles, load_profile

pytestmark = pytest.mark.unit
TEMPLATES = Path(__file__).resolve().parents[2] / "configs" / "templates"


@pytest.mark.parametrize("name", [p for p in available_profiles() if (TEMPLATES / f"{p}.yaml").exists()])
def test_template_tags_match_the_simulator_profile(name: str) -> None:
    template = YAML(typ="safe").load((TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8"))
    profile = load_profile(name)
    assert template["tags"], "a template without tags"
    for raw in template["tags"]:
        tag = ModbusTag.model_validate(raw)
        reg = profile.register(tag.name)
        assert tag.address.table.value == reg.table.value, tag.name
        assert tag.address.offset == reg.address, tag.name  # Modicon references are 1-based
        assert tag.type.value == reg.type, tag.name
        assert tag.scale == reg.scale, tag.name
        assert (tag.unit or "") == reg.unit, tag.name
