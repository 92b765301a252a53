"""README.html and 指标对照表.md of the evidence pack, rendered from a hand-written summary.json.

The HTML is parsed back with html.parser and checked for structure (balanced tags, one timeline row per
device, devices × days heatmap cells, unique ids), self-containment, bilingual headings (Chinese first)
and the sample's figures formatted as the reader sees them.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from collector.evidence.report import svg, svg_oee
from collector.evidence.report.crosswalk import band_points, crosswalk_rows, render_crosswalk
from collector.evidence.report.html import render_report
from collector.evidence.report.i18n import site_tz

pytestmark = pytest.mark.unit
SAMPLE = Path(__file__).parents[1] / "cases" / "evidence" / "summary-sample.json"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}
CJK = re.compile(r"[\u4e00-\u9fff]")


class Page(HTMLParser):
    """Collects what the assertions need while checking that every closed tag matches its opener."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, dict[str, str]]] = []
        self.headings: list[list[tuple[str, str]]] = []  # per h1-h3/th: [(span class, text)]
        self.tables: dict[str, list[list[str]]] = {}
        self._heading: list[tuple[str, str]] | None = None
        self._span: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.attrs.append((tag, values))
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag in ("h1", "h2", "h3", "th"):
            self._heading = []
        elif tag == "span" and self._heading is not None:
            self._span = values.get("class", "")
        elif tag == "table":
            self._table = values.get("class", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("h1", "h2", "h3", "th") and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None
        elif tag == "span":
            self._span = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None and self._span is not None and data.strip():
            self._heading.append((self._span, data.strip()))
        if self._cell is not None:
            self._cell.append(data)

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.attrs if t == tag and cls in a.get("class", "").split()]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.errors == []
    assert page.stack == [], f"unclosed: {page.stack}"
    return page


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


def check_self_contained(html: str, page: Page) -> None:
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    for _, attrs in page.attrs:
        for name in ("src", "href", "xlink:href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//"))
    ids = [a["id"] for _, a in page.attrs if "id" in a]
    assert len(ids) == len(set(ids)), "duplicate element ids"
    # every url(#id) reference points at a pattern in the page
    assert set(re.findall(r"url\(#([^)]+)\)", html)) <= set(ids)
    # Chromium prints each pattern-filled element as a chart-sized image: patterns go in one path per
    # pattern and chart, never on each segment, bar or cell
    charts = sum(1 for tag, _ in page.attrs if tag == "svg")
    patterned = [a for _, a in page.attrs if a.get("fill", "").startswith("url(")]
    assert all(a.get("class") == "hatch" for a in patterned)
    assert len(patterned) <= 3 * charts


def check_bilingual(page: Page) -> None:
    assert page.headings
    for spans in page.headings:
        classes = [cls for cls, _ in spans]
        assert classes[:2] == ["zh", "en"], spans
        assert CJK.search(spans[0][1]), spans
        assert not CJK.search(spans[1][1]), spans


def test_sample_report_structure_and_figures() -> None:
    summary = sample()
    html = render_report(summary)
    page = parse(html)
    check_self_contained(html, page)
    check_bilingual(page)
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "Noto Sans CJK SC" in html and "size: A4" in html and "break-before: page" in html

    ids = [d["id"] for d in summary["devices"]]
    rows = page.with_class("g", "tl-row")
    assert sorted(r["data-device"] for r in rows) == sorted(ids)
    dates = sorted({d["date"] for d in summary["days"]})
    cells = page.with_class("rect", "hm-cell")
    assert len(cells) == len(ids) * len(dates) == 15
    assert {(c["data-device"], c["data-date"]) for c in cells} == {(d, t) for d in ids for t in dates}
    assert len(page.with_class("rect", "cb-bar")) == 4  # grind-01 has no completeness: no bar
    assert {p["data-device"] for p in page.with_class("g", "oee-panel")} == {"cnc-01", "cnc-02"}
    assert len(page.with_class("rect", "oee-bar")) == 22  # 6 shifts × A/E/QR/OEE, two of them missing

    # headline: 0.9876 -> 98.76 %, counts as N/N, gap time as h:mm:ss
    for shown in (
        "98.76%",
        "66.67%",
        "4/6",
        "83.33%",
        "5/6",
        "93.75%",
        "30/32",
        "75.00%",
        "3/4",
        "97.12%",
        "99.54%",
        "100.00%",
        "412503/412503",
        "64.21%",
        "0:46:25",
        "80.00%",
    ):
        assert shown in html, shown
    # the page stamp ties a printout to the pack
    for ref in (summary["key_id"], summary["config_hash"], summary["chain_head"]["hash"], "#18234"):
        assert ref in html
    assert "python -B -m verify ." in html
    assert "KMJG 昆明精工机械有限公司" in html and "≥ 95%" in html and "≥ 90%" in html
    assert "2026-11-16 00:00:00 – 2026-11-19 00:00:00 (UTC+08:00)" in html
    assert "<td>3 (72:00:00)</td>" in html


def test_per_device_tables_show_dash_for_missing_figures() -> None:
    page = parse(render_report(sample()))
    data = {row[0]: row for row in page.tables["devices-data"]}
    assert data["cnc-02"][1:6] == ["97.34%", "99.21%", "1", "0:27:00", "0:27:00"]
    assert data["cnc-01"][10] == "42 ms / 118 ms"
    grind = data["grind-01"]
    assert grind[1:] == ["—"] * 6 + ["0", "0", "—", "— / —"]
    conn = {row[0]: row for row in page.tables["devices-conn"]}
    assert conn["grind-01"][1] == "磨床1号 <旧>"  # escaped in the markup, intact as text
    assert conn["grind-01"][4:9] == ["—", "—", "—", "—", "✗ 否 no"]
    assert conn["cnc-01"][6:9] == ["99.91%", "99.31%", "✓ 是 yes"]
    gaps = page.tables["gaps"]
    assert gaps[0] == ["cnc-02", "2026-11-16 10:15:00", "2026-11-16 10:42:00", "0:27:00", "comm"]
    assert page.tables["replays"] == [["mqtt", "2026-11-17 14:21:05", "2026-11-17 14:25:00", "1064"]]
    oee = {(r[0], r[2]): r for r in page.tables["oee-table"]}
    assert oee[("cnc-02", "11-17 白班 A")][3:] == ["94.00%", "—", "98.55%", "—"]


def test_missing_day_renders_a_dash_cell_and_offline_is_hatched() -> None:
    html = render_report(sample())
    page = parse(html)
    missing = [c for c in page.with_class("rect", "hm-cell") if c["data-device"] == "grind-01"]
    assert len(missing) == 3 and all(c["fill"] == svg.MISSING_FILL for c in missing)
    assert "grind-01 2026-11-16: —" in html
    hatch = {(h["fill"], h["data-key"]): h["d"] for h in page.with_class("path", "hatch")}
    assert hatch[("url(#hm0-none)", "none")].count("M") == 3 + 1  # three cells and the legend swatch
    assert re.search(r'<pattern id="tl0-OFFLINE"[^>]*>.*?<path', html)
    # OFFLINE of cnc-02 and press-01, all of grind-01, and the legend swatch
    assert hatch[("url(#tl0-OFFLINE)", "OFFLINE")].count("M") == 4
    offline = [s for s in page.with_class("rect", "seg") if s["fill"] == svg.STATE_STYLE["OFFLINE"][0]]
    assert len(offline) == 3


def test_empty_and_malformed_summaries_render() -> None:
    for summary in (
        {},
        {"headline": "x", "devices": [1, None, {"id": 5}], "window": {"from_ms": "a"}, "days": "nope"},
        {"devices": [{"id": "d1", "online_rate": float("nan"), "verified": None}], "tz": "Not/AZone"},
    ):
        html = render_report(summary)
        page = parse(html)
        check_self_contained(html, page)
        check_bilingual(page)
        assert "—" in html
        assert render_crosswalk(summary).startswith("# 评测指标对照表")
    page = parse(render_report({}))
    assert page.with_class("g", "tl-row") == [] and page.with_class("rect", "hm-cell") == []


def test_large_plant_paginates_charts() -> None:
    devices, days = 200, 30
    start = 1794758400000
    day_ms = 86_400_000
    ids = [f"line{n // 20:02d}-m{n:03d}" for n in range(devices)]
    states = ("RUNNING", "IDLE", "ALARM", "STOPPED", "OFFLINE")
    summary: dict[str, Any] = {
        "enterprise": "大型样例",
        "tz": "Asia/Shanghai",
        "window": {"from_ms": start, "to_ms": start + days * day_ms},
        "headline": {"devices_total": devices, "completeness": 0.95},
        "devices": [{"id": d, "completeness": (n % 100) / 100} for n, d in enumerate(ids)],
        "days": [
            {
                "date": f"2026-11-{16 + k:02d}" if k < 15 else f"2026-12-{k - 14:02d}",
                "device": d,
                "online_rate": ((n + k) % 10) / 10,
            }
            for n, d in enumerate(ids)
            for k in range(days)
        ],
        "timeline": [
            {
                "device": d,
                "start_ms": start + k * day_ms // 4,
                "end_ms": start + (k + 1) * day_ms // 4,
                "state": states[(n + k) % 5],
            }
            for n, d in enumerate(ids)
            for k in range(days * 4)
        ],
        "oee": [
            {
                "device": d,
                "period": "shift",
                "label": f"D{k} A",
                "a": 0.9,
                "e": 0.8,
                "qr": 0.99,
                "oee": 0.7128,
            }
            for d in ids
            for k in range(days)
        ],
        "gaps": [
            {"device": d, "start_ms": start, "end_ms": start + 60_000, "duration_s": 60} for d in ids * 3
        ],
    }
    html = render_report(summary)
    page = parse(html)
    check_self_contained(html, page)
    assert len(page.with_class("g", "tl-row")) == devices
    assert len(page.with_class("rect", "hm-cell")) == devices * days
    assert len(page.with_class("svg", "timeline")) == 8  # 25 devices per printed chart
    assert len(page.with_class("svg", "heatmap")) == 5
    assert len(page.with_class("g", "oee-panel")) == devices
    # 30 shifts per device: four lines per panel instead of 120 sub-pixel bars
    assert page.with_class("rect", "oee-bar") == []
    assert len(page.with_class("polyline", "oee-line")) == devices * 4
    assert len(page.tables["gaps"]) == 500 and "(500/600)" in html  # capped, pointing at the CSV
    assert len(html) < 30_000_000


def test_dense_timeline_is_binned_to_the_chart_resolution() -> None:
    # a month of 90-second cycles alternating RUNNING/IDLE with one 3-hour OFFLINE stretch
    start, step = 0, 90_000
    rows: list[dict[str, object]] = [
        {
            "device": "m",
            "start_ms": k * step,
            "end_ms": (k + 1) * step,
            "state": ("RUNNING", "IDLE")[k % 3 == 0],
        }
        for k in range(28_800)
    ]
    rows[10_000:10_120] = [
        {"device": "m", "start_ms": 10_000 * step, "end_ms": 10_120 * step, "state": "OFFLINE"}
    ]
    chart = svg.state_timeline(rows, ["m"], start, 28_800 * step, site_tz("UTC"))
    page = parse(chart)
    assert page.with_class("rect", "seg") == []
    paths = {p["data-state"]: p for p in page.with_class("path", "seg-bins")}
    assert set(paths) == {"RUNNING", "IDLE", "OFFLINE"}
    assert sum(p["d"].count("M") for p in paths.values()) <= svg.PLOT_W
    assert paths["OFFLINE"]["fill"] == svg.STATE_STYLE["OFFLINE"][0]
    (hatch,) = [h for h in page.with_class("path", "hatch") if h["data-key"] == "OFFLINE"]
    assert hatch["fill"] == "url(#tl-OFFLINE)"
    # 3 h of 720 h on 600 px is 2.5 px: about 35 px² of OFFLINE, with at least one full-height column
    boxes = [(float(w), float(h)) for w, h in re.findall(r"h([0-9.]+)v([0-9.]+)h", paths["OFFLINE"]["d"])]
    assert 14 in {h for _, h in boxes}
    assert 28 <= sum(w * h for w, h in boxes) <= 42
    # IDLE holds a third of each pixel's time and is drawn as about a third of the row, not dropped
    idle = re.findall(r"v([0-9.]+)h", paths["IDLE"]["d"])
    assert max(set(idle), key=idle.count) == "5.0"
    assert len(chart) < 40_000


def test_svg_escapes_text_and_attributes() -> None:
    name = '<x&"y>'
    chart = svg.state_timeline(
        [{"device": name, "start_ms": 0, "end_ms": 10, "state": "RUNNING"}], [name], 0, 10, site_tz("UTC")
    )
    assert name not in chart and "&lt;x&amp;&quot;y&gt;" in chart
    parse(chart)
    bars = svg.completeness_bars([(name, None), ("ok", 0.5)])
    assert "—" in bars and "50.00%" in bars
    parse(bars)
    parse(svg_oee.oee_panels([(name, [{"label": name, "a": None, "e": 2.0, "qr": 0.5, "oee": None}])]))
    parse(svg.online_heatmap({(name, "2026-01-01"): 0.5}, [name], ["2026-01-01"]))


def test_crosswalk_markdown() -> None:
    summary = sample()
    text = render_crosswalk(summary)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(crosswalk_rows(summary)) >= 11
    assert all(line.count(" | ") == 4 for line in table[2:])
    for shown in (
        "设备联网率",
        "66.67% (4/6)",
        "83.33% (5/6)",
        "93.75%",
        "64.21%",
        "75.00% (3/4)",
        "02_connectivity/联网核验.csv",
        "07_kpi/OEE_按日.csv",
        "设备管理",
        "L3",
        summary["key_id"],
    ):
        assert shown in text, shown
    assert "2026-11-16 00:00:00 – 2026-11-19 00:00:00 (UTC+08:00)" in text
    assert "生产管控、能耗管理、设备管理 (3/4)" in text


@pytest.mark.parametrize(
    ("rate", "points"),
    [
        (None, None),
        (0.0, 0.0),
        (0.10, 0.0),
        (0.1001, 1.5),
        (0.20, 1.5),
        (0.4, 3.0),
        (0.6, 4.5),
        (0.61, 6.0),
        (1.0, 6.0),
    ],
)
def test_six_point_score_bands(rate: float | None, points: float | None) -> None:
    assert band_points(rate) == points


def test_the_readme_sends_the_evaluator_for_the_key_out_of_band() -> None:
    """The README used to tell the evaluator to trust the key id printed in the pack itself."""
    summary = sample()
    html = render_report(summary)
    section = html[html.index('id="verify"') :]
    assert f"--trusted-key {summary['key_id']}" not in section
    assert "cannot be taken from this pack" in section and "不能取自本材料包" in section
    assert "shopfloor evidence key" in section and "handover sheet" in section and "交接单" in section
    assert "SIGNER NOT PINNED" in section and "3 every check passes but the signer is not pinned" in section
