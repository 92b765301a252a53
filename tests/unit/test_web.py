"""Pieces of the web side that need no server: exposition escaping, histograms, JSON-safe values."""

from __future__ import annotations

import json
import math

import pytest

from collector.web.live import Histogram
from collector.web.metrics import Exposition
from collector.web.status import json_value, quality

pytestmark = pytest.mark.unit


def test_label_values_are_escaped_and_samples_formatted() -> None:
    out = Exposition()
    out.family("x_total", "counter", "help text")
    out.family("x_total", "counter", "declared once")
    out.sample("x_total", [("device", 'a"b\\c\nd')], 3)
    out.sample("x_total", [], True)
    out.sample("x_total", [], 0.25)
    assert out.render() == (
        "# HELP x_total help text\n# TYPE x_total counter\n"
        'x_total{device="a\\"b\\\\c\\nd"} 3\nx_total 1\nx_total 0.25\n'
    )


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    hist = Histogram()
    for value in (0.001, 0.005, 0.2, 20.0):
        hist.observe(value)
    buckets = dict(hist.cumulative())
    assert buckets["0.005"] == 2  # le is inclusive
    assert buckets["0.25"] == 3 and buckets["10.0"] == 3 and buckets["+Inf"] == 4
    assert hist.count == 4 and math.isclose(hist.total, 20.206)


def test_values_are_always_valid_json() -> None:
    for value in (math.nan, math.inf, [1.0, -math.inf]):
        json.loads(json.dumps(json_value(value), allow_nan=False))
    assert json_value(1.5) == 1.5 and json_value(None) is None


def test_quality_from_severity_bits() -> None:
    assert quality(0) == "good" and quality(0x408F0000) == "uncertain" and quality(0x80310000) == "bad"
