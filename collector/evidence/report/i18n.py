"""Bilingual labels and value formatting shared by the evidence report, its charts and the cross-walk.

summary.json is read loosely (the builder may add keys or leave optional ones out), so every accessor
here coerces and falls back instead of raising: a missing figure prints as an em dash, never a crash.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DASH = "—"

# key -> (简体中文, English); Chinese is always shown first.
LABELS: dict[str, tuple[str, str]] = {
    "title": ("设备联网与数据采集佐证材料", "Equipment connectivity and data-collection evidence"),
    "scope": ("范围与时间窗", "Scope and window"),
    "enterprise": ("企业", "Enterprise"),
    "site": ("站点", "Site"),
    "window": ("时间窗", "Window"),
    "tz": ("时区", "Time zone"),
    "days": ("天数", "Days"),
    "device_count": ("设备数", "Devices"),
    "generated": ("生成时间", "Generated"),
    "generator": ("生成程序", "Generator"),
    "key_id": ("签名密钥", "Signing key id"),
    "config_hash": ("配置哈希", "Config hash"),
    "chain_head": ("审计链头", "Audit chain head"),
    "raw_rows": ("原始样本行数", "Raw sample rows"),
    "truncated": ("已截断（见 summary.json）", "truncated (see summary.json)"),
    "headline": ("核心指标", "Headline indicators"),
    "indicator": ("指标", "Indicator"),
    "value": ("数值", "Value"),
    "counts": ("计数", "Counts"),
    "formula": ("口径", "Definition"),
    "devices": ("设备明细", "Per-device figures"),
    "devices_conn": ("联网核验", "Connectivity"),
    "devices_data": ("采集与入库", "Collection and delivery"),
    "device": ("设备编号", "Device"),
    "name": ("名称", "Name"),
    "type": ("类型", "Type"),
    "protocol": ("协议", "Protocol"),
    "first_seen": ("首次数据", "First seen"),
    "last_seen": ("末次数据", "Last seen"),
    "state_coverage": ("状态覆盖率", "State coverage"),
    "online_rate": ("设备在线率", "Online rate"),
    "completeness": ("采集完整率", "Completeness"),
    "good_ratio": ("数据有效率", "Good ratio"),
    "gaps": ("断点次数", "Gaps"),
    "gap_s": ("断点时长", "Gap time"),
    "longest_gap": ("最长断点", "Longest gap"),
    "replayed": ("断网续传量", "Replayed"),
    "published": ("已发布", "Published"),
    "landed": ("已入库", "Landed"),
    "delivery_ratio": ("端到端入库率", "Delivery ratio"),
    "latency": ("延迟 p50/p95", "Latency p50/p95"),
    "verified": ("已验证联网", "Verified"),
    "timeline": ("设备状态时间线", "State timeline per device"),
    "heatmap": ("在线率热力图（按日 × 设备）", "Online-rate heatmap (day × device)"),
    "completeness_bars": ("各设备采集完整率", "Completeness per device"),
    "oee_chart": ("按班次 OEE（A/E/QR/OEE）", "OEE by shift (A/E/QR/OEE)"),
    "oee_table": ("OEE 明细", "OEE figures"),
    "period": ("周期", "Period"),
    "label": ("班次/日期", "Shift / date"),
    "a": ("时间开动率 A", "Availability A"),
    "e": ("性能开动率 E", "Effectiveness E"),
    "qr": ("合格品率 QR", "Quality rate QR"),
    "oee": ("设备综合效率 OEE", "OEE"),
    "gaps_table": ("断点记录", "Gaps"),
    "replays_table": ("断网续传记录", "Replays"),
    "start": ("开始", "Start"),
    "end": ("结束", "End"),
    "duration": ("时长", "Duration"),
    "cause": ("原因", "Cause"),
    "sink": ("目标", "Sink"),
    "records": ("记录数", "Records"),
    "crosswalk": ("评测指标对照表", "Indicator cross-walk"),
    "cw_item": ("评测指标项", "Indicator item"),
    "cw_level": ("场景等级", "Scene level"),
    "cw_artefacts": ("佐证文件", "Evidence files"),
    "cw_value": ("计算值", "Computed value"),
    "verify": ("如何核验", "How to verify"),
    "no_data": ("无数据", "No data"),
    "more_rows": ("其余各行见", "Remaining rows are in"),
    "legend": ("图例", "Legend"),
}

STATE_LABELS: dict[str, tuple[str, str]] = {
    "RUNNING": ("运行", "Running"),
    "IDLE": ("空闲", "Idle"),
    "ALARM": ("报警", "Alarm"),
    "STOPPED": ("停机", "Stopped"),
    "OFFLINE": ("离线", "Offline"),
}


def esc(value: object) -> str:
    """HTML/XML-escape any value's text (quotes too, so the result is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def zh(key: str) -> str:
    return LABELS[key][0]


def en(key: str) -> str:
    return LABELS[key][1]


def bi_html(key: str) -> str:
    """Label markup: Chinese first, the English gloss in a following span."""
    zh_text, en_text = LABELS[key]
    return f'<span class="zh">{esc(zh_text)}</span> <span class="en">{esc(en_text)}</span>'


def bi_text(key: str) -> str:
    zh_text, en_text = LABELS[key]
    return f"{zh_text} / {en_text}"


# -- loose readers over summary.json ---------------------------------------------------------------


def as_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def as_rows(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [row for row in value if isinstance(row, Mapping)]


def num(value: object) -> float | None:
    """A finite number, or None (bools, strings, NaN and infinities are not figures)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def text(value: object) -> str:
    return "" if value is None else str(value)


def enterprise_name(summary: Mapping[str, object]) -> str:
    """Enterprise code and Chinese name as the builder supplies them (either may be missing)."""
    parts = [text(summary.get("enterprise")), text(summary.get("enterprise_name_zh"))]
    unique = [p for i, p in enumerate(parts) if p and p not in parts[:i]]
    return " ".join(unique) or DASH


# -- formatting ------------------------------------------------------------------------------------


def pct(value: object, digits: int = 2) -> str:
    number = num(value)
    return DASH if number is None else f"{number * 100:.{digits}f}%"


def count(value: object) -> str:
    number = num(value)
    if number is None:
        return DASH
    return str(int(number)) if number == int(number) else f"{number:.2f}"


def ratio_counts(numerator: object, denominator: object) -> str:
    if num(numerator) is None and num(denominator) is None:
        return DASH
    return f"{count(numerator)}/{count(denominator)}"


def duration(seconds: object) -> str:
    """h:mm:ss (hours may exceed 24 so totals stay comparable across rows)."""
    number = num(seconds)
    if number is None:
        return DASH
    total = round(abs(number))
    sign = "-" if number < 0 else ""
    return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def millis(value: object) -> str:
    number = num(value)
    return DASH if number is None else f"{number:.0f} ms"


def site_tz(name: object) -> tzinfo:
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def timestamp(ms: object, tz: tzinfo, with_seconds: bool = True) -> str:
    number = num(ms)
    if number is None:
        return DASH
    try:
        moment = datetime.fromtimestamp(number / 1000, tz)
    except (OverflowError, OSError, ValueError):
        return DASH
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def utc_offset(ms: object, tz: tzinfo) -> str:
    """The site's offset at that instant as +08:00 (UTC if the instant is unknown)."""
    number = num(ms)
    raw = datetime.fromtimestamp((number or 0.0) / 1000, tz).strftime("%z") or "+0000"
    return f"{raw[:3]}:{raw[3:5]}"
