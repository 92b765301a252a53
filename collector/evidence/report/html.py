"""README.html of the evidence pack: a self-contained bilingual report rendered from summary.json.

No scripts, no external references (fonts come from the reader's system through a CJK-capable stack),
inline CSS and SVG only, so the page prints to A4/PDF the same on an offline laptop. Every page carries a
stamp with the key id, config hash and chain head so a printout can be matched to its pack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo

from collector.config.registerrules import UNDECLARED_FLAGS
from collector.evidence.report.i18n import (
    DASH,
    LABELS,
    as_map,
    as_rows,
    bi_html,
    count,
    duration,
    enterprise_name,
    esc,
    pct,
    ratio_counts,
    site_tz,
    text,
    timestamp,
    utc_offset,
)
from collector.evidence.report.sections import (
    bi,
    charts_section,
    crosswalk_section,
    devices_section,
    gaps_section,
    h,
    oee_section,
    window,
)

FONT_STACK = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"WenQuanYi Micro Hei", "Noto Sans SC", "SimHei", sans-serif'
)
CSS = """
* { box-sizing: border-box; }
body { font-family: %FONT%; font-size: 10.5pt; color: #111; margin: 0; background: #fff; }
main { max-width: 190mm; margin: 0 auto; padding: 8mm 4mm 16mm; }
h1 { font-size: 17pt; margin: 0 0 4pt; } h2 { font-size: 13.5pt; border-bottom: 1.5pt solid #333;
  padding-bottom: 2pt; margin: 14pt 0 6pt; } h3 { font-size: 11pt; margin: 10pt 0 4pt; }
h1 .en, h2 .en, h3 .en { font-weight: normal; color: #444; }
h1 .en { display: block; font-size: 12pt; }
th .en, td .en { display: block; font-size: 7.5pt; color: #555; font-weight: normal; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0 8pt; font-size: 8.5pt; }
th, td { border: 0.6pt solid #888; padding: 2pt 4pt; text-align: left; vertical-align: top; }
th { background: #e8e8e8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.devices-conn td:first-child, .devices-data td:first-child { white-space: nowrap; }
table.kv th { width: 32%; } code, .mono { font-family: "DejaVu Sans Mono", Consolas, monospace;
  font-size: 8pt; word-break: break-all; }
.headline td.big { font-size: 12pt; font-weight: bold; }
#headline { break-inside: avoid; page-break-inside: avoid; }
h2, h3 { break-after: avoid; page-break-after: avoid; }
figure { margin: 6pt 0 10pt; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 8.5pt; color: #333; }
table.crosswalk td { white-space: pre-line; }
.note { font-size: 8.5pt; color: #333; } .warn { color: #8a1c1c; font-weight: bold; }
.stamp { font-size: 7.5pt; color: #333; border-top: 0.6pt solid #888; padding-top: 2pt; margin-top: 10pt; }
.stamp.top { display: none; border-top: none; border-bottom: 0.6pt solid #888; margin: 0 0 4pt; }
pre { background: #f3f3f3; border: 0.6pt solid #aaa; padding: 5pt; white-space: pre-wrap; }
@page { size: A4; margin: 12mm 10mm 14mm; }
@media print {
  main { max-width: none; padding: 0; }
  section.major { break-before: page; page-break-before: always; }
  thead { display: table-header-group; } tr, svg { break-inside: avoid; page-break-inside: avoid; }
  /* every major section starts a page, so its stamp line ties each printed section to the pack
     (a fixed footer would overlap table rows in Chromium's print layout) */
  .stamp.top { display: block; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
""".replace("%FONT%", FONT_STACK)


def _chain_head(summary: Mapping[str, object]) -> str:
    head = as_map(summary.get("chain_head"))
    seq = head.get("seq", summary.get("head_seq"))
    digest = text(head.get("hash") or head.get("entry_hash") or summary.get("head_hash"))
    if seq is None and not digest:
        return DASH
    return f"#{text(seq) or DASH} {digest or DASH}"


def _device_ids(summary: Mapping[str, object]) -> list[str]:
    """Register order first, then any device that only appears in the per-day/timeline/OEE rows."""
    ids: dict[str, None] = {}
    for key in ("devices", "days", "timeline", "oee"):
        for row in as_rows(summary.get(key)):
            name = text(row.get("id") if key == "devices" else row.get("device"))
            if name:
                ids.setdefault(name)
    return list(ids)


def _scope(summary: Mapping[str, object], tz: tzinfo, devices: int) -> str:
    start, end = window(summary)
    raw = as_map(summary.get("raw"))
    days = DASH
    if start is not None and end is not None:
        days = (
            f"{(end - start) / 86_400_000:.2f}".rstrip("0").rstrip(".")
            + f" ({duration((end - start) / 1000)})"
        )
    raw_rows = count(raw.get("rows"))
    if raw.get("truncated") is True:
        raw_rows += f" ({LABELS['truncated'][0]} / {LABELS['truncated'][1]})"
    rows = [
        ("enterprise", enterprise_name(summary)),
        ("site", text(summary.get("site")) or DASH),
        ("window", f"{timestamp(start, tz)} – {timestamp(end, tz)} (UTC{utc_offset(start, tz)})"),
        ("tz", text(summary.get("tz")) or DASH),
        ("days", days),
        ("device_count", str(devices)),
        ("generated", timestamp(summary.get("generated_ms"), tz)),
        ("generator", text(summary.get("generator")) or DASH),
        ("key_id", text(summary.get("key_id")) or DASH),
        ("config_hash", text(summary.get("config_hash")) or DASH),
        ("chain_head", _chain_head(summary)),
        ("raw_rows", raw_rows),
    ]
    body = "".join(
        f'<tr><th>{bi_html(key)}</th><td class="mono">{esc(value)}</td></tr>'
        if key in ("key_id", "config_hash", "chain_head")
        else f"<tr><th>{bi_html(key)}</th><td>{esc(value)}</td></tr>"
        for key, value in rows
    )
    warn = ""
    if raw.get("truncated") is True:
        warn = (
            '<p class="warn">原始样本已按 --max-raw 截断，复算只覆盖包内样本。 '
            "Raw samples were capped by --max-raw; recomputation covers the samples in the pack.</p>"
        )
    return (
        f'<section id="scope">{h(2, "scope")}<table class="kv"><tbody>{body}</tbody></table>{warn}</section>'
    )


def _oee_excluded(devices: object) -> str:
    """The devices the headline OEE leaves out (no part counter or no PRI: E cannot be computed)."""
    if not isinstance(devices, list) or not devices:
        return DASH
    return f"不含 excluding {', '.join(str(d) for d in devices)}（无产量或节拍 no quantity or PRI）"


def _headline(summary: Mapping[str, object]) -> str:
    hl = as_map(summary.get("headline"))
    total = hl.get("devices_total")
    rows: list[tuple[str, str, str, str, str]] = [
        (
            "设备联网率（核验）",
            "Networked rate (verified)",
            pct(hl.get("networked_rate_verified")),
            ratio_counts(hl.get("verified_networked"), total),
            "核验联网设备 / 总生产设备 verified / all equipment",
        ),
        (
            "设备联网率（申报）",
            "Networked rate (declared)",
            pct(hl.get("networked_rate_declared")),
            ratio_counts(hl.get("declared_networked"), total),
            "申报联网设备 / 总生产设备 declared / all equipment",
        ),
        (
            "联网率（占数字化设备）",
            "Networked share of digital equipment",
            pct(hl.get("networked_rate_of_digital")),
            ratio_counts(hl.get("verified_networked"), hl.get("digital")),
            "次要口径 secondary figure",
        ),
        (
            "生产设备数字化率",
            "Digital equipment rate",
            pct(hl.get("digital_rate")),
            ratio_counts(hl.get("digital"), total),
            "数字化生产设备 / 总生产设备 digital / all",
        ),
        (
            "数据自动采集率",
            "Automatic collection rate",
            pct(hl.get("auto_collection_rate")),
            ratio_counts(hl.get("auto_points"), hl.get("required_points")),
            "有效自动采集点 / 应采集点 effective / required points",
        ),
        (
            "关键工序数控化率",
            "NC rate of key processes",
            pct(hl.get("key_process_nc_rate")),
            ratio_counts(hl.get("key_processes_nc"), hl.get("key_processes")),
            "数控化关键工序 / 关键工序 NC / key processes",
        ),
        (
            "设备台账",
            "Equipment register",
            f"{text(hl.get('register_rows')) or DASH} 台 rows",
            f"{text(total) or DASH} 台生产设备 production",
            "未申报 undeclared: "
            + (", ".join(f"{k} {text(hl.get(f'undeclared_{k}'))}" for k in UNDECLARED_FLAGS) or DASH)
            + "（类别未申报计入生产设备，其余按否计，见 设备台账.csv / an undeclared category counts as "
            "production, other flags as no; listed in 设备台账.csv）",
        ),
        (
            "采集完整率",
            "Sample completeness",
            pct(hl.get("completeness")),
            DASH,
            "Σ有效样本 / Σ应采样本 good / expected",
        ),
        (
            "设备在线率",
            "Online rate",
            pct(hl.get("online_rate")),
            DASH,
            "非离线时间 / 计划时间 online / scheduled",
        ),
        (
            "数据有效率",
            "Good-quality ratio",
            pct(hl.get("good_ratio")),
            DASH,
            "Good 样本 / 全部样本 good / all samples",
        ),
        (
            "端到端入库率",
            "End-to-end delivery ratio",
            pct(hl.get("delivery_ratio")),
            ratio_counts(hl.get("landed"), hl.get("published")),
            "入库 / 发布 landed / published",
        ),
        (
            "设备综合效率 OEE",
            "Overall equipment effectiveness",
            pct(hl.get("oee")),
            _oee_excluded(hl.get("oee_excluded")),
            "A × E × QR (ISO 22400-2)",
        ),
        (
            "断点次数/时长",
            "Gaps / gap time",
            f"{count(hl.get('gaps'))} / {duration(hl.get('gap_s'))}",
            DASH,
            "间隔 > max(3×周期, 10 s) gap > max(3×period, 10 s)",
        ),
        ("断网续传量", "Replayed records", count(hl.get("replayed")), DASH, "hist = true"),
    ]
    head = "".join(f"<th>{bi_html(k)}</th>" for k in ("indicator", "value", "counts", "formula"))
    body = "".join(
        f'<tr><td>{bi(zh, en)}</td><td class="num big">{esc(value)}</td><td class="num">{esc(counts)}</td>'
        f'<td class="note">{esc(formula)}</td></tr>'
        for zh, en, value, counts, formula in rows
    )
    rule = as_map(summary.get("network_rule"))
    coverage, days = esc(pct(rule.get("min_coverage"), 0)), esc(pct(rule.get("min_days"), 0))
    note = (
        '<p class="note">设备联网率按评测指标以总生产设备数量为分母；'
        f"“核验”要求评估期内状态覆盖率 ≥ {coverage} 且有数据天数占计划天数 ≥ {days}。"
        " The official networked rate divides by all production equipment; “verified” requires state coverage"
        f" ≥ {coverage} and data on ≥ {days} of the scheduled days over the window.</p>"
    )
    return (
        f'<section id="headline">{h(2, "headline")}<table class="headline"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{note}</section>"
    )


def _verify(summary: Mapping[str, object]) -> str:
    key_id = text(summary.get("key_id")) or "<key_id>"
    checks = [
        ("签名者", "the pack's key is the plant's key given with --trusted-key (compared whole)"),
        ("文件哈希", "file hashes match manifest.json"),
        ("清单签名", "manifest.sig verifies with checkpoints/signing_key.pub.pem"),
        ("审计链", "audit chain links, entry hashes and seq continuity from the anchor"),
        ("检查点签名", "checkpoint signatures and heads match the chain"),
        ("指标复算", "completeness, online rate, gaps, delivery ratio and OEE recomputed from raw data"),
    ]
    items = "".join(f"<li>{bi(zh, en)}</li>" for zh, en in checks)
    # The key a pack brings cannot vouch for the pack: a forger re-signs everything with their own.
    return (
        f'<section class="major" id="verify">{h(2, "verify")}'
        "<p>在本目录中运行（需要 Python 3 与 cryptography 包）："
        " Run in this directory (needs Python 3 and the cryptography package):</p>"
        "<pre>python -B -m verify . --trusted-key sha256:&lt;工厂公钥指纹 the plant's key fingerprint&gt;\n"
        "python -B -m verify . --trusted-key &lt;工厂公钥文件 the plant's key&gt;.pub.pem</pre>"
        "<p><strong>签名者的公钥不能取自本材料包。</strong>"
        "包内的 checkpoints/signing_key.pub.pem 只能说明签名彼此一致；"
        "任何人都可以用自己的密钥把整个材料包重新签名。请使用工厂另行提供的公钥：调试上线时由"
        " <code>shopfloor evidence key</code> 打印、写在双方签字的交接单上的指纹（sha256:…），"
        "或经可信渠道（当面、加盖公章的文件）收到的 .pub.pem 文件，用 --trusted-key 传入。"
        "未提供时，结论为“签名者未确认 SIGNER NOT PINNED”，不是“全部通过”。</p>"
        "<p><strong>The signer's key cannot be taken from this pack.</strong> checkpoints/signing_key.pub.pem"
        " only shows that the signatures agree with each other; anyone can re-sign a whole pack with a key"
        " of their own. Use the key the plant gave you separately: the fingerprint (sha256:…) printed by"
        " <code>shopfloor evidence key</code> at commissioning and written on the signed handover sheet, or"
        " the .pub.pem file received by a trusted channel (in person, a stamped document), passed with"
        " --trusted-key. Without it the verdict is “SIGNER NOT PINNED”, not “ALL PASS”.</p>"
        f'<p>本包自称由密钥 <span class="mono">{esc(key_id)}</span> 签名'
        "（仅用于与打印件对应，不能作为信任依据）。"
        " This pack names its signer as that key id: for matching a printout, not a reason to trust it.</p>"
        f"<p>逐项输出 PASS/FAIL · Prints PASS/FAIL for each check:</p><ol>{items}</ol>"
        "<p>退出码 0 = 全部通过且签名者已确认，1 = 有失败项，2 = 无法读取，3 = 各项通过但签名者未确认。"
        " Exit code 0 all PASS with the signer pinned, 1 any FAIL, 2 unreadable input, 3 every check"
        " passes but the signer is not pinned. 采集器主机上也可运行 / on the collector host:"
        " <code>shopfloor evidence verify DIR -c plant.yaml</code></p>"
        "</section>"
    )


def render_report(summary: Mapping[str, object]) -> str:
    """README.html text for a summary.json dict; extra keys are ignored and missing ones print as —."""
    tz = site_tz(summary.get("tz"))
    ids = _device_ids(summary)
    enterprise = enterprise_name(summary)
    site = text(summary.get("site")) or DASH
    key_id = text(summary.get("key_id")) or DASH
    stamp = (
        f'{esc(enterprise)} · 密钥 key <span class="mono">{esc(key_id)}'
        f'</span> · 配置 config <span class="mono">{esc(text(summary.get("config_hash")) or DASH)}</span>'
        f' · 链头 chain head <span class="mono">{esc(_chain_head(summary))}</span>'
    )
    title = f"{LABELS['title'][0]} · {enterprise} / {LABELS['title'][1]}"
    body = "".join(
        [
            f"<header>{h(1, 'title')}<p>{esc(enterprise)} · {esc(site)}</p></header>",
            _scope(summary, tz, len(ids)),
            _headline(summary),
            devices_section(summary, tz),
            charts_section(summary, tz, ids),
            oee_section(summary),
            gaps_section(summary, tz),
            crosswalk_section(summary),
            _verify(summary),
            f'<div class="stamp">{stamp}</div>',
        ]
    )
    body = re.sub(
        r'(<section class="major"[^>]*>)', lambda m: f'{m.group(1)}<div class="stamp top">{stamp}</div>', body
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>{body}</main>\n</body>\n</html>\n"
    )
