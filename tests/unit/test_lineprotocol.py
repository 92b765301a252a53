"""Line protocol: escaping, fixed field types per value type, strings never turned into 0 for VM."""

from __future__ import annotations

import pytest

from collector.sinks.lineprotocol import Placement, escape_key, line

pytestmark = pytest.mark.unit

PLACE = Placement.of("s 1", "area,a", "l=1", "dev")


def test_escaping_of_tags() -> None:
    assert PLACE.prefix == "site=s\\ 1,area=area\\,a,line=l\\=1,device=dev"
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"


def test_numbers_bools_and_none() -> None:
    assert line(PLACE, "t", 1.5, 0, 2, 7, 1000, strings_as_label=False).endswith(
        " value=1.5,q=0i,seq=7i,session=2i 1000"
    )
    assert " value=3.0," in line(PLACE, "t", 3, 0, 2, 7, 1000, strings_as_label=False)
    assert " value_int=1i," in line(PLACE, "t", True, 0, 2, 7, 1000, strings_as_label=False)
    bad = line(PLACE, "t", None, 0x80310000, 2, 8, 1000, strings_as_label=False)
    assert bad.endswith(f" q={0x80310000}i,seq=8i,session=2i 1000")
    assert " " + "value" not in bad.split(" ", 1)[1].split(",")[0]
    assert "value=" not in line(PLACE, "t", float("nan"), 0, 1, 1, 1, strings_as_label=False)


def test_strings_as_field_or_label() -> None:
    text = 'say "hi"\\'
    as_field = line(PLACE, "t", text, 0, 1, 1, 5, strings_as_label=False)
    assert 'value_str="say \\"hi\\"\\\\"' in as_field
    as_label = line(PLACE, "mode", "AUTO RUN", 0, 1, 3, 5, strings_as_label=True)
    assert as_label.startswith("telemetry_str,site=")
    assert ",tag=mode,value=AUTO\\ RUN present=1i,q=0i,seq=3i,session=1i 5" in as_label


def test_arrays_are_json_strings() -> None:
    assert 'value_str="[1,2]"' in line(PLACE, "t", [1, 2], 0, 1, 1, 5, strings_as_label=False)
