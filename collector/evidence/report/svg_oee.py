"""OEE by shift as small multiples (one panel per device), drawn with the helpers of svg.py.

Up to MAX_BAR_GROUPS shifts a panel shows grouped A/E/QR/OEE bars (E and QR hatched for greyscale); a longer
window (a month has ~90 shifts) switches to four lines with distinct dash patterns, which stay legible
and keep the page small instead of thousands of sub-pixel bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collector.evidence.report.i18n import DASH, esc, num, pct, text
from collector.evidence.report.svg import LABEL_W, PLOT_W, Hatches, open_svg, shorten, svg_text

MAX_BAR_GROUPS = 16
# key, caption, fill, pattern mark, pattern kind, line dash
SERIES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("a", "A", "#1565c0", "#1565c0", "solid", ""),
    ("e", "E", "#ef6c00", "#ffffff", "diagonal", "6,3"),
    ("qr", "QR", "#8e24aa", "#ffffff", "dots", "1.5,2.5"),
    ("oee", "OEE", "#212121", "#212121", "solid", ""),
)
PANEL_H, PLOT_H, TOP = 130, 80, 24


def _legend(hatches: Hatches) -> str:
    parts: list[str] = []
    x = float(LABEL_W)
    for key, name, fill, _, _, dash in SERIES:
        width = "2.6" if key == "oee" else "1.5"
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<rect x="{x:.1f}" y="5" width="14" height="10" fill="{fill}" stroke="#555"/>')
        hatches.add(key, x, 5, 14, 10)
        parts.append(
            f'<line x1="{x + 18:.1f}" y1="10" x2="{x + 38:.1f}" y2="10" stroke="{fill}" '
            f'stroke-width="{width}"{dash_attr}/>'
        )
        parts.append(svg_text(x + 42, 14, name))
        x += 80
    return "".join(parts)


def _bars(
    device: str, rows: Sequence[Mapping[str, object]], base: float, scale: float, hatches: Hatches
) -> list[str]:
    out: list[str] = []
    group_w = PLOT_W / max(len(rows), 1)
    bar_w = min(group_w * 0.8 / len(SERIES), 18.0)
    for col, row in enumerate(rows):
        gx = LABEL_W + col * group_w + group_w * 0.1
        for k, (key, name, fill, *_) in enumerate(SERIES):
            value = num(row.get(key))
            x = gx + k * bar_w
            if value is None:
                out.append(svg_text(x + bar_w / 2, base - 2, DASH, "middle", ' font-size="8"'))
                continue
            h = min(max(value, 0.0), scale) / scale * PLOT_H
            tip = f"{device} {text(row.get('label'))} {name} {pct(value)}"
            out.append(
                f'<rect class="oee-bar" x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{fill}" stroke="#333" stroke-width="0.4">'
                f"<title>{esc(tip)}</title></rect>"
            )
            hatches.add(key, x, base - h, bar_w, h)
        if group_w >= 44:
            oee = pct(row.get("oee"), 1)
            out.append(svg_text(gx + 2 * bar_w, base - PLOT_H - 2, oee, "middle", ' font-size="8"'))
    return out


def _lines(rows: Sequence[Mapping[str, object]], base: float, scale: float) -> list[str]:
    out: list[str] = []
    step = PLOT_W / max(len(rows), 1)
    for key, _, fill, _, _, dash in SERIES:
        runs: list[list[str]] = [[]]
        for col, row in enumerate(rows):
            value = num(row.get(key))
            if value is None:  # a missing shift breaks the line rather than inventing a value
                runs.append([])
                continue
            y = base - min(max(value, 0.0), scale) / scale * PLOT_H
            runs[-1].append(f"{LABEL_W + (col + 0.5) * step:.1f},{y:.1f}")
        width = "2.2" if key == "oee" else "1.3"
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="{fill}"/>')
            elif run:
                out.append(
                    f'<polyline class="oee-line" data-series="{key}" points="{" ".join(run)}" fill="none" '
                    f'stroke="{fill}" stroke-width="{width}"{dash_attr}/>'
                )
    return out


def oee_panels(groups: Sequence[tuple[str, Sequence[Mapping[str, object]]]], uid: str = "oee") -> str:
    """groups: (device, rows with label/a/e/qr/oee in time order). Missing values show as — or gaps."""
    width = LABEL_W + PLOT_W + 10
    height = TOP + PANEL_H * max(len(groups), 1) + 10
    hatches = Hatches(uid, {key: (mark, kind) for key, _, _, mark, kind, _ in SERIES if kind != "solid"})
    out = [open_svg(width, height, "按班次 OEE OEE by shift", "oee"), hatches.defs(), _legend(hatches)]
    for index, (device, rows) in enumerate(groups):
        y0 = TOP + index * PANEL_H + 16
        base = y0 + PLOT_H
        values = [num(r.get(key)) for r in rows for key, *_ in SERIES]
        scale = max([1.0] + [min(v, 1.5) for v in values if v is not None])
        out.append(f'<g class="oee-panel" data-device="{esc(device)}">')
        out.append(svg_text(4, y0 - 4, shorten(device, 20), "start", ' font-weight="bold"'))
        for frac in (0.0, 0.5, 1.0):
            gy = base - frac / scale * PLOT_H
            out.append(
                f'<line x1="{LABEL_W}" y1="{gy:.1f}" x2="{LABEL_W + PLOT_W}" y2="{gy:.1f}" stroke="#ccc"/>'
            )
            out.append(svg_text(LABEL_W - 30, gy + 3, f"{frac * 100:.0f}%", "end", ' font-size="8"'))
        if len(rows) <= MAX_BAR_GROUPS:
            out += _bars(device, rows, base, scale, hatches)
        else:
            out += _lines(rows, base, scale)
        step = PLOT_W / max(len(rows), 1)
        label_every = max(1, round(len(rows) / 10))
        for col in range(0, len(rows), label_every):
            caption = shorten(text(rows[col].get("label")), 16)
            out.append(svg_text(LABEL_W + (col + 0.5) * step, base + 12, caption, "middle", ' font-size="8"'))
        out.append("</g>")
    if not groups:
        out.append(svg_text(LABEL_W + 10, TOP + 20, "无数据 No data"))
    out += [hatches.render(), "</svg>"]
    return "".join(out)
