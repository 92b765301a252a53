"""The demo's closing lines say what the headline OEE aggregates: whole days or the pack window."""

from __future__ import annotations

import pytest

from collector.demo.finish import headline_lines

pytestmark = pytest.mark.unit


def oee_line(oee: float | None, periods: list[str]) -> str:
    rows = [{"device": "m1", "period": p, "label": "x", "oee": 0.5} for p in periods]
    (line,) = [x for x in headline_lines({"oee": oee}, rows) if x.startswith("OEE (headline")]
    return line


def test_the_headline_oee_label_names_its_basis() -> None:
    assert oee_line(0.61, ["shift", "day", "window"]) == "OEE (headline, whole days): 61.0%"
    window = oee_line(0.5, ["shift", "window"])
    assert window == "OEE (headline, pack window, no calendar day closed during the run): 50.0%"
    assert oee_line(None, ["window"]).endswith("during the run): n/a")
    assert oee_line(None, []) == "OEE (headline): n/a, no OEE rows in the pack"
