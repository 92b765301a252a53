"""Inline SVG charts for the evidence report: pure functions from figures to SVG text.

Every chart survives greyscale printing: states and series differ by pattern or clearly by lightness
as well as by colour, and values are written as text where there is room. Large areas use plain fills,
because Chromium's PDF output grows with every patterned area. Each chart takes a `uid` so the pattern
ids of several charts inlined in one HTML page never collide. All text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from collector.evidence.report.i18n import DASH, STATE_LABELS, esc, num, pct, text, timestamp

FONT = (
    "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Hiragino Sans GB','Microsoft YaHei',"
    "'WenQuanYi Micro Hei','Noto Sans SC',sans-serif"
)
LABEL_W = 150
PLOT_W = 600
MISSING_FILL = "#eeeeee"
MAX_EXACT_SEGMENTS = 150  # per device; above this the timeline is drawn from one-pixel bins
ROW_H = 18

# state -> (fill, foreground for the pattern mark, pattern kind)
STATE_STYLE: dict[str, tuple[str, str, str]] = {
    "RUNNING": ("#2e7d32", "#2e7d32", "solid"),
    "IDLE": ("#f9a825", "#6d4c00", "dots"),
    "ALARM": ("#c62828", "#ffffff", "cross"),
    "STOPPED": ("#9e9e9e", "#9e9e9e", "solid"),
    "OFFLINE": ("#263238", "#b0bec5", "diagonal"),
}


def pattern_def(pid: str, fill: str, mark: str, kind: str) -> str:
    size = 6
    marks = {
        "solid": "",
        "dots": f'<circle cx="3" cy="3" r="1.2" fill="{mark}"/>',
        "diagonal": f'<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" stroke="{mark}" stroke-width="1.3"/>',
        "cross": f'<path d="M0,0 L6,6 M6,0 L0,6" stroke="{mark}" stroke-width="1"/>',
        "horizontal": f'<path d="M0,3 H6" stroke="{mark}" stroke-width="1.2"/>',
    }
    background = "" if fill == "none" else f'<rect width="{size}" height="{size}" fill="{fill}"/>'
    return (
        f'<pattern id="{esc(pid)}" width="{size}" height="{size}" patternUnits="userSpaceOnUse">'
        f"{background}{marks.get(kind, '')}</pattern>"
    )


def box(x: float, y: float, w: float, h: float) -> str:
    """A rectangle as a path sub-path."""
    return f"M{x:.1f},{y:.1f}h{w:.1f}v{h:.1f}h{-w:.1f}z"


class Hatches:
    """Pattern marks of one chart, drawn over plain fills as one path per pattern.

    Chromium prints every pattern-filled element as a chart-sized image, so a month of hatched OFFLINE
    segments drawn one by one made PDFs of hundreds of MB; one path per pattern keeps it to a few images.
    """

    def __init__(self, uid: str, styles: Mapping[str, tuple[str, str]]) -> None:
        self.uid = uid
        self.styles = styles  # key -> (mark colour, pattern kind)
        self.boxes: dict[str, list[str]] = {}

    def add(self, key: str, x: float, y: float, w: float, h: float) -> None:
        if key in self.styles:
            self.boxes.setdefault(key, []).append(box(x, y, w, h))

    def defs(self) -> str:
        patterns = (
            pattern_def(f"{self.uid}-{k}", "none", mark, kind) for k, (mark, kind) in self.styles.items()
        )
        return f"<defs>{''.join(patterns)}</defs>"

    def render(self) -> str:
        return "".join(
            f'<path class="hatch" data-key="{esc(key)}" d="{"".join(parts)}" fill="url(#{self.uid}-{key})"/>'
            for key, parts in self.boxes.items()
        )


def open_svg(width: float, height: float, label: str, css_class: str) -> str:
    return (
        f'<svg class="chart {css_class}" role="img" '
        f'aria-label="{esc(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" font-size="10">'
        f"<title>{esc(label)}</title>"
    )


def svg_text(x: float, y: float, value: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{esc(value)}</text>'


def shorten(value: str, limit: int = 22) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _ticks(start_ms: int, end_ms: int, tz: tzinfo) -> list[tuple[int, str]]:
    """At most ~12 ticks on local hour/day boundaries of the site's time zone."""
    span_h = (end_ms - start_ms) / 3_600_000
    step_h = next((s for s in (1, 2, 3, 6, 12, 24, 48, 72, 168, 336) if span_h / s <= 12), 720)
    first = datetime.fromtimestamp(start_ms / 1000, tz)
    if step_h >= 24:
        moment = first.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        moment = first.replace(hour=first.hour - first.hour % step_h, minute=0, second=0, microsecond=0)
    ticks: list[tuple[int, str]] = []
    while len(ticks) < 40:
        ms = int(moment.timestamp() * 1000)
        if ms > end_ms:
            break
        if ms >= start_ms:
            # dates at midnight, clock times in between
            fmt = "%m-%d" if moment.hour == 0 and moment.minute == 0 else "%H:%M"
            ticks.append((ms, moment.strftime(fmt)))
        # step on the wall clock, then normalise, so days stay aligned across offset changes
        moment = (moment.replace(tzinfo=None) + timedelta(hours=step_h)).replace(tzinfo=tz)
    return ticks


def legend(items: Sequence[tuple[str, str, str]], x: float, y: float, hatches: Hatches) -> str:
    """items: (plain fill, caption, hatch key or "")."""
    parts: list[str] = []
    for fill, caption, key in items:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{fill}" stroke="#555"/>'
        )
        hatches.add(key, x, y - 9, 14, 10)
        parts.append(svg_text(x + 18, y, caption))
        x += 26 + 6.5 * len(caption)
    return "".join(parts)


def state_timeline(
    rows: Sequence[Mapping[str, object]],
    devices: Sequence[str],
    start_ms: int,
    end_ms: int,
    tz: tzinfo,
    uid: str = "tl",
) -> str:
    """One row (<g class="tl-row">) per device in `devices`, segments coloured and patterned by state."""
    span = max(end_ms - start_ms, 1)
    row_h, top = ROW_H, 26
    height = top + row_h * max(len(devices), 1) + 34
    width = LABEL_W + PLOT_W + 24
    hatches = Hatches(uid, {s: (mark, kind) for s, (_, mark, kind) in STATE_STYLE.items() if kind != "solid"})
    out = [open_svg(width, height, "设备状态时间线 State timeline", "timeline"), hatches.defs()]
    # a window shorter than the finest tick step still gets its two ends labelled
    ticks = _ticks(start_ms, end_ms, tz) or [
        (start_ms, datetime.fromtimestamp(start_ms / 1000, tz).strftime("%H:%M:%S")),
        (end_ms, datetime.fromtimestamp(end_ms / 1000, tz).strftime("%H:%M:%S")),
    ]
    for ms, caption in ticks:
        x = LABEL_W + (ms - start_ms) / span * PLOT_W
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 30}" stroke="#bbb"/>')
        out.append(svg_text(x, top - 8, caption, "middle"))
    by_device: dict[str, list[tuple[int, int, str]]] = {d: [] for d in devices}
    for row in rows:
        device, start, end = text(row.get("device")), num(row.get("start_ms")), num(row.get("end_ms"))
        if device in by_device and start is not None and end is not None and end > start:
            by_device[device].append((int(start), int(end), text(row.get("state")).upper()))
    for index, device in enumerate(devices):
        y = top + index * row_h
        out.append(f'<g class="tl-row" data-device="{esc(device)}">')
        out.append(svg_text(LABEL_W - 6, y + 12, shorten(device), "end"))
        out.append(
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{PLOT_W}" height="{row_h - 4}" fill="{MISSING_FILL}"/>'
        )
        segments = _coalesce(by_device[device])
        if len(segments) > MAX_EXACT_SEGMENTS:
            out += _stacked_paths(_bin_totals(segments, start_ms, end_ms, PLOT_W), y + 2, hatches)
        else:
            out += _segment_rects(segments, start_ms, end_ms, y + 2, tz, hatches)
        out.append("</g>")
    if not devices:
        out.append(svg_text(LABEL_W + PLOT_W / 2, top + 12, "无数据 No data", "middle"))
    items = [(_fill(s), f"{zh_en[0]} {s}", s) for s, zh_en in STATE_LABELS.items()]
    out.append(legend([*items, (MISSING_FILL, "无记录 none", "")], LABEL_W, height - 10, hatches))
    out += [hatches.render(), "</svg>"]
    return "".join(out)


def _fill(state: str) -> str:
    style = STATE_STYLE.get(state)
    return "#bdbdbd" if style is None else style[0]


def _segment_rects(
    segments: list[tuple[int, int, str]], start_ms: int, end_ms: int, y: int, tz: tzinfo, hatches: Hatches
) -> list[str]:
    """Exact segments, each with a tooltip of its times."""
    span = max(end_ms - start_ms, 1)
    out: list[str] = []
    for seg_start, seg_end, state in segments:
        lo, hi = max(seg_start, start_ms), min(seg_end, end_ms)
        if hi <= lo:
            continue
        x = LABEL_W + (lo - start_ms) / span * PLOT_W
        w = max((hi - lo) / span * PLOT_W, 0.4)
        tip = f"{state} {timestamp(lo, tz)} – {timestamp(hi, tz)}"
        out.append(
            f'<rect class="seg" x="{x:.2f}" y="{y}" width="{w:.2f}" height="{ROW_H - 4}" '
            f'fill="{_fill(state)}"><title>{esc(tip)}</title></rect>'
        )
        hatches.add(state, x, y, w, ROW_H - 4)
    return out


def _bin_totals(
    segments: list[tuple[int, int, str]], start_ms: int, end_ms: int, bins: int
) -> list[dict[str, float]]:
    """Time per state in each bin; segments are disjoint, so the work is segments + bins."""
    width = (end_ms - start_ms) / bins
    totals: list[dict[str, float]] = [{} for _ in range(bins)]
    for seg_start, seg_end, state in segments:
        lo, hi = max(seg_start, start_ms), min(seg_end, end_ms)
        if hi <= lo:
            continue
        for index in range(int((lo - start_ms) // width), min(int((hi - start_ms) // width), bins - 1) + 1):
            bin_lo = start_ms + index * width
            overlap = min(hi, bin_lo + width) - max(lo, bin_lo)
            if overlap > 0:
                totals[index][state] = totals[index].get(state, 0.0) + overlap
    return totals


def _column(shares: dict[str, float], height: int) -> tuple[tuple[str, int], ...]:
    """Whole-pixel heights per state, in legend order; every state present keeps at least 1 px so a short
    alarm in a dense month stays visible."""
    order = [s for s in STATE_STYLE if s in shares] + sorted(s for s in shares if s not in STATE_STYLE)
    total = sum(shares.values())
    pixels = {s: max(1, round(shares[s] / total * height)) for s in order}
    largest = max(order, key=lambda s: pixels[s])
    pixels[largest] += height - sum(pixels.values())
    return tuple((s, pixels[s]) for s in order if pixels[s] > 0)


def _stacked_paths(totals: list[dict[str, float]], y: int, hatches: Hatches) -> list[str]:
    """Dense timelines: each pixel column stacks its states by share of time (runs of equal columns merged),
    drawn as one path per state so a month of short cycles stays a few kB per device."""
    step = PLOT_W / len(totals)
    runs: list[tuple[int, int, tuple[tuple[str, int], ...]]] = []
    for index, shares in enumerate(totals):
        if not shares:
            continue
        column = _column(shares, ROW_H - 4)
        if runs and runs[-1][1] == index and runs[-1][2] == column:
            runs[-1] = (runs[-1][0], index + 1, column)
        else:
            runs.append((index, index + 1, column))
    paths: dict[str, list[str]] = {}
    for first, last, column in runs:
        x, w, top = LABEL_W + first * step, (last - first) * step, y
        for state, pixels in column:
            paths.setdefault(state, []).append(box(x, top, w, pixels))
            hatches.add(state, x, top, w, pixels)
            top += pixels
    return [
        f'<path class="seg-bins" data-state="{esc(state)}" d="{"".join(parts)}" fill="{_fill(state)}"/>'
        for state, parts in paths.items()
    ]


def _coalesce(segments: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge touching segments of the same state so long windows stay small."""
    merged: list[tuple[int, int, str]] = []
    for start, end, state in sorted(segments):
        if merged and merged[-1][2] == state and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), state)
        else:
            merged.append((start, end, state))
    return merged


def _ramp(value: float) -> str:
    """Light to dark green; luminance falls monotonically so greyscale keeps the order. The fourth power
    spreads the 80-100 % range where online rates of a working plant sit."""
    low, high = (247, 252, 245), (0, 68, 27)
    t = min(max(value, 0.0), 1.0) ** 4
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def online_heatmap(
    values: Mapping[tuple[str, str], float | None],
    devices: Sequence[str],
    dates: Sequence[str],
    uid: str = "hm",
) -> str:
    """devices × dates cells (<rect class="hm-cell">); values maps (device, date) to a 0..1 online rate."""
    cell_w = max(12.0, min(40.0, PLOT_W / max(len(dates), 1)))
    cell_h, top = 16, 40
    width = LABEL_W + cell_w * len(dates) + 10
    height = top + cell_h * max(len(devices), 1) + 34
    out = [open_svg(max(width, LABEL_W + 500), height, "在线率热力图 Online-rate heatmap", "heatmap")]
    hatches = Hatches(uid, {"none": ("#9e9e9e", "diagonal")})
    out.append(hatches.defs())
    label_every = max(1, round(len(dates) / 15))
    for col, date in enumerate(dates):
        if col % label_every == 0:
            x = LABEL_W + col * cell_w + cell_w / 2
            out.append(
                svg_text(
                    x,
                    top - 6,
                    date[5:] if len(date) == 10 else date,
                    "start",
                    f' transform="rotate(-45 {x:.1f} {top - 6})"',
                )
            )
    show_text = cell_w >= 30
    for row, device in enumerate(devices):
        y = top + row * cell_h
        out.append(svg_text(LABEL_W - 6, y + 12, shorten(device), "end"))
        for col, date in enumerate(dates):
            x = LABEL_W + col * cell_w
            value = values.get((device, date))
            fill = MISSING_FILL if value is None else _ramp(value)
            if value is None:
                hatches.add("none", x, y, cell_w - 1, cell_h - 1)
            out.append(
                f'<rect class="hm-cell" data-device="{esc(device)}" data-date="{esc(date)}" x="{x:.1f}" '
                f'y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" fill="{fill}">'
                f"<title>{esc(device)} {esc(date)}: {esc(pct(value))}</title></rect>"
            )
            if show_text:
                shown = DASH if value is None else f"{value * 100:.0f}"
                colour = "#ffffff" if value is not None and value**4 > 0.5 else "#000000"
                out.append(
                    svg_text(x + cell_w / 2, y + 11, shown, "middle", f' fill="{colour}" font-size="8"')
                )
    if not devices or not dates:
        out.append(svg_text(LABEL_W + 10, top + 12, "无数据 No data"))
    steps = [(_ramp(v), f"{v * 100:.0f}%", "") for v in (0.0, 0.5, 0.8, 0.9, 0.95, 1.0)]
    out.append(legend([*steps, (MISSING_FILL, "无数据 none", "none")], LABEL_W, height - 10, hatches))
    out += [hatches.render(), "</svg>"]
    return "".join(out)


def completeness_bars(
    items: Sequence[tuple[str, float | None]], threshold: float = 0.95, uid: str = "cb"
) -> str:
    """Horizontal bars per device; bars under `threshold` are hatched so they stand out in greyscale."""
    bar_h, top = 16, 22
    width = LABEL_W + PLOT_W + 70
    height = top + bar_h * max(len(items), 1) + 30
    out = [open_svg(width, height, "采集完整率 Completeness per device", "bars")]
    hatches = Hatches(uid, {"low": ("#6d4c00", "diagonal")})
    out.append(hatches.defs())
    fills = {"ok": "#2e7d32", "low": "#f9a825"}
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = LABEL_W + frac * PLOT_W
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 26}" stroke="#ccc"/>')
        out.append(svg_text(x, top - 8, f"{frac * 100:.0f}%", "middle"))
    tx = LABEL_W + threshold * PLOT_W
    out.append(
        f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - 26}" stroke="#c62828" '
        'stroke-dasharray="3,2"/>'
    )
    for index, (device, value) in enumerate(items):
        y = top + index * bar_h
        out.append(svg_text(LABEL_W - 6, y + 12, shorten(device), "end"))
        if value is not None:
            w = min(max(value, 0.0), 1.0) * PLOT_W
            kind = "ok" if value >= threshold else "low"
            out.append(
                f'<rect class="cb-bar" data-device="{esc(device)}" x="{LABEL_W}" y="{y + 2}" '
                f'width="{w:.1f}" height="{bar_h - 4}" fill="{fills[kind]}" stroke="#333" '
                'stroke-width="0.5"/>'
            )
            hatches.add(kind, LABEL_W, y + 2, w, bar_h - 4)
        out.append(svg_text(LABEL_W + PLOT_W + 6, y + 12, pct(value)))
    if not items:
        out.append(svg_text(LABEL_W + 10, top + 12, "无数据 No data"))
    items_legend = [
        (fills["ok"], f"≥ {threshold * 100:.0f}%", ""),
        (fills["low"], f"< {threshold * 100:.0f}%", "low"),
    ]
    out += [legend(items_legend, LABEL_W, height - 8, hatches), hatches.render(), "</svg>"]
    return "".join(out)
