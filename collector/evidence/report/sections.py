"""Body sections of README.html (per-device tables, charts, OEE, gaps/replays, cross-walk) and the small
HTML helpers they share with report.py. Cells are plain text escaped here; charts come from svg.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import tzinfo

from collector.evidence.report import svg, svg_oee
from collector.evidence.report.crosswalk import crosswalk_rows
from collector.evidence.report.i18n import (
    DASH,
    LABELS,
    as_map,
    as_rows,
    bi_html,
    count,
    duration,
    esc,
    millis,
    num,
    pct,
    text,
    timestamp,
)

MAX_TABLE_ROWS = 500  # gaps/replays/OEE tables; the full lists are in the pack's CSVs
TIMELINE_CHUNK, HEATMAP_CHUNK, BARS_CHUNK, OEE_CHUNK = 25, 40, 40, 6
TIMELINE_NOTE = "状态段过密时每像素按时长占比分层显示 / dense timelines stack each pixel by share of time"


def h(level: int, key: str) -> str:
    return f"<h{level}>{bi_html(key)}</h{level}>"


def bi(zh_text: str, en_text: str) -> str:
    return f'<span class="zh">{esc(zh_text)}</span> <span class="en">{esc(en_text)}</span>'


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] = (), cls: str = ""
) -> str:
    """headers are label keys (or ready markup when not a key); cells are plain text, escaped here."""
    head = "".join(f"<th>{bi_html(key) if key in LABELS else key}</th>" for key in headers)
    body: list[str] = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(c)}</td>' if i < len(numeric) and numeric[i] else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">{bi_html("no_data")}</td></tr>')
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def capped(rows: list[Mapping[str, object]], csv_path: str) -> tuple[list[Mapping[str, object]], str]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows, ""
    note = (
        f'<p class="note">{bi_html("more_rows")} <code>{esc(csv_path)}</code> '
        f"({MAX_TABLE_ROWS}/{len(rows)})</p>"
    )
    return rows[:MAX_TABLE_ROWS], note


def chunked(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def window(summary: Mapping[str, object]) -> tuple[int | None, int | None]:
    span = as_map(summary.get("window"))
    start, end = num(span.get("from_ms")), num(span.get("to_ms"))
    return (None if start is None else int(start)), (None if end is None else int(end))


def _yes_no(value: object) -> str:
    if value is True:
        return "✓ 是 yes"
    if value is False:
        return "✗ 否 no"
    return DASH


def devices_section(summary: Mapping[str, object], tz: tzinfo) -> str:
    devices = as_rows(summary.get("devices"))
    conn = [
        [
            text(d.get("id")) or DASH,
            text(d.get("name_zh")) or DASH,
            text(d.get("type")) or DASH,
            text(d.get("protocol")) or DASH,
            timestamp(d.get("first_seen_ms"), tz),
            timestamp(d.get("last_seen_ms"), tz),
            pct(d.get("state_coverage")),
            pct(d.get("online_rate")),
            _yes_no(d.get("verified")),
        ]
        for d in devices
    ]
    data = [
        [
            text(d.get("id")) or DASH,
            pct(d.get("completeness")),
            pct(d.get("good_ratio")),
            count(d.get("gaps")),
            duration(d.get("gap_s")),
            duration(d.get("longest_gap_s")),
            count(d.get("replayed")),
            count(d.get("published")),
            count(d.get("landed")),
            pct(d.get("delivery_ratio")),
            f"{millis(d.get('latency_p50_ms'))} / {millis(d.get('latency_p95_ms'))}",
        ]
        for d in devices
    ]
    conn_keys = [
        "device",
        "name",
        "type",
        "protocol",
        "first_seen",
        "last_seen",
        "state_coverage",
        "online_rate",
        "verified",
    ]
    data_keys = [
        "device",
        "completeness",
        "good_ratio",
        "gaps",
        "gap_s",
        "longest_gap",
        "replayed",
        "published",
        "landed",
        "delivery_ratio",
        "latency",
    ]
    return (
        f'<section class="major" id="devices">{h(2, "devices")}{h(3, "devices_conn")}'
        f"{html_table(conn_keys, conn, [False] * 6 + [True, True, False], 'devices-conn')}"
        f"{h(3, 'devices_data')}"
        f"{html_table(data_keys, data, [False] + [True] * 10, 'devices-data')}</section>"
    )


def _figure(chart: str, caption: str) -> str:
    return f"<figure>{chart}<figcaption>{esc(caption)}</figcaption></figure>"


def charts_section(summary: Mapping[str, object], tz: tzinfo, ids: list[str]) -> str:
    start, end = window(summary)
    timeline = as_rows(summary.get("timeline"))
    if start is None or end is None or end <= start:
        spans = [
            int(v) for r in timeline for v in (num(r.get("start_ms")), num(r.get("end_ms"))) if v is not None
        ]
        start, end = (min(spans), max(spans)) if spans else (0, 1)
    parts = [f'<section class="major" id="timeline">{h(2, "timeline")}']
    by_device: dict[str, list[Mapping[str, object]]] = {}
    for row in timeline:  # group once: each chart then reads only its own devices' rows
        by_device.setdefault(text(row.get("device")), []).append(row)
    chunks = chunked(ids, TIMELINE_CHUNK)
    for n, chunk in enumerate(chunks):
        rows = [row for device in chunk for row in by_device.get(device, [])]
        chart = svg.state_timeline(rows, chunk, start, end, tz, uid=f"tl{n}")
        span = f"{timestamp(start, tz)} – {timestamp(end, tz)}"
        parts.append(_figure(chart, f"{n + 1}/{len(chunks)} · {span} · {TIMELINE_NOTE}"))
    parts.append("</section>")

    days = as_rows(summary.get("days"))
    dates = sorted({text(r.get("date")) for r in days if r.get("date")})
    rates: dict[tuple[str, str], float | None] = {
        (text(r.get("device")), text(r.get("date"))): num(r.get("online_rate")) for r in days
    }
    parts.append(f'<section id="heatmap">{h(2, "heatmap")}')
    chunks = chunked(ids, HEATMAP_CHUNK)
    for n, chunk in enumerate(chunks):
        parts.append(_figure(svg.online_heatmap(rates, chunk, dates, uid=f"hm{n}"), f"{n + 1}/{len(chunks)}"))
    parts.append("</section>")

    per_device = {text(d.get("id")): num(d.get("completeness")) for d in as_rows(summary.get("devices"))}
    parts.append(f'<section id="completeness">{h(2, "completeness_bars")}')
    chunks = chunked(ids, BARS_CHUNK)
    for n, chunk in enumerate(chunks):
        items = [(d, per_device.get(d)) for d in chunk]
        parts.append(_figure(svg.completeness_bars(items, uid=f"cb{n}"), f"{n + 1}/{len(chunks)}"))
    parts.append("</section>")
    return "".join(parts)


def oee_section(summary: Mapping[str, object]) -> str:
    rows = as_rows(summary.get("oee"))
    shift_rows = [r for r in rows if r.get("period") == "shift"] or rows
    grouped: dict[str, list[Mapping[str, object]]] = {}
    for row in shift_rows:
        grouped.setdefault(text(row.get("device")), []).append(row)
    groups = list(grouped.items())
    parts = [f'<section class="major" id="oee">{h(2, "oee_chart")}']
    for n in range(0, max(len(groups), 1), OEE_CHUNK):
        parts.append(
            _figure(svg_oee.oee_panels(groups[n : n + OEE_CHUNK], uid=f"oee{n}"), "A / E / QR / OEE")
        )
    shown, note = capped(rows, "07_kpi/OEE_按日.csv")
    table = html_table(
        ["device", "period", "label", "a", "e", "qr", "oee"],
        [
            [
                text(r.get("device")) or DASH,
                text(r.get("period")) or DASH,
                text(r.get("label")) or DASH,
                pct(r.get("a")),
                pct(r.get("e")),
                pct(r.get("qr")),
                pct(r.get("oee")),
            ]
            for r in shown
        ],
        [False, False, False, True, True, True, True],
        "oee-table",
    )
    parts += [h(3, "oee_table"), table, note, "</section>"]
    return "".join(parts)


def gaps_section(summary: Mapping[str, object], tz: tzinfo) -> str:
    gaps, gap_note = capped(as_rows(summary.get("gaps")), "04_completeness/断点记录.csv")
    replays, replay_note = capped(as_rows(summary.get("replays")), "04_completeness/断网续传记录.csv")
    gap_table = html_table(
        ["device", "start", "end", "duration", "cause"],
        [
            [
                text(g.get("device")) or DASH,
                timestamp(g.get("start_ms"), tz),
                timestamp(g.get("end_ms"), tz),
                duration(g.get("duration_s")),
                text(g.get("cause")) or DASH,
            ]
            for g in gaps
        ],
        [False, False, False, True, False],
        "gaps",
    )
    replay_table = html_table(
        ["sink", "start", "end", "records"],
        [
            [
                text(r.get("sink")) or DASH,
                timestamp(r.get("started_ms"), tz),
                timestamp(r.get("ended_ms"), tz),
                count(r.get("records")),
            ]
            for r in replays
        ],
        [False, False, False, True],
        "replays",
    )
    return (
        f'<section class="major" id="gaps">{h(2, "gaps_table")}{gap_table}{gap_note}'
        f"{h(2, 'replays_table')}{replay_table}{replay_note}</section>"
    )


def crosswalk_section(summary: Mapping[str, object]) -> str:
    rows = [
        [r.item, r.level, "\n".join(r.artefacts), r.value + (f" ({r.note})" if r.note else "")]
        for r in crosswalk_rows(summary)
    ]
    table = html_table(["cw_item", "cw_level", "cw_artefacts", "cw_value"], rows, cls="crosswalk")
    note = '<p class="note">全文见 / full text: <code>14_crosswalk/指标对照表.md</code></p>'
    return f'<section class="major" id="crosswalk">{h(2, "crosswalk")}{table}{note}</section>'
