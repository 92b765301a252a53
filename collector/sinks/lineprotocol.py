"""Telemetry as InfluxDB line protocol, built as text (9x cheaper than influxdb-client `Point`s).

Schema (docs/STANDARDS.md §6.1): measurement `telemetry`, tags site, area, line, device, tag; timestamp = the
collector's ms clock of the reading, so a replayed reading has the same identity (measurement + tags
+ timestamp) and overwrites itself. Fields, fixed per type so no field ever changes type:

    value      float     int and float readings (ints are exact up to 2**53)
    value_int  integer   bools as 0/1
    value_str  string    strings and arrays (JSON) — backends with string fields (InfluxDB)
    q, seq, session      integers on every point, also when the value is None (a Bad reading)

VictoriaMetrics stores string fields as 0, so for it (`strings="label"`) a string reading becomes a
point of measurement `telemetry_str` with the text in the `value` label and `present=1i`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from collector.model import Value

MEASUREMENT = "telemetry"
STRING_MEASUREMENT = "telemetry_str"
MAX_LABEL = 1024  # VictoriaMetrics refuses longer labels; a longer string is cut and marked


def escape_key(text: str) -> str:
    """Measurement names, tag keys/values and field keys: escape comma, equals, space."""
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
        .replace("\n", "\\n")
    )


def escape_str(text: str) -> str:
    """String field values: escape backslash and double quote."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Placement:
    """The fixed tags of one device's series, pre-escaped."""

    prefix: str  # "site=..,area=..,line=..,device=.."

    @classmethod
    def of(cls, site: str, area: str, line: str, device: str) -> Placement:
        return cls(
            f"site={escape_key(site)},area={escape_key(area)},line={escape_key(line)},device={escape_key(device)}"
        )


def value_field(value: Value, strings_as_label: bool) -> tuple[str, str | None]:
    """(field text, label text): one of them empty/None, or ("", None) for no value."""
    if value is None:
        return "", None
    if isinstance(value, bool):
        return f"value_int={int(value)}i", None
    if isinstance(value, int):
        return f"value={float(value)!r}", None
    if isinstance(value, float):
        return ("", None) if not math.isfinite(value) else (f"value={value!r}", None)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if strings_as_label:
        return "", text[:MAX_LABEL]
    return f'value_str="{escape_str(text)}"', None


def line(
    place: Placement,
    tag: str,
    value: Value,
    status: int,
    session: int,
    seq: int,
    ts_ms: int,
    *,
    strings_as_label: bool,
) -> str:
    """One point; Bad readings without a value keep their q/seq so continuity checks see them."""
    field, label = value_field(value, strings_as_label)
    meta = f"q={status}i,seq={seq}i,session={session}i"
    if label is not None:
        tags = f"{place.prefix},tag={escape_key(tag)},value={escape_key(label) or '_'}"
        return f"{STRING_MEASUREMENT},{tags} present=1i,{meta} {ts_ms}"
    fields = f"{field},{meta}" if field else meta
    return f"{MEASUREMENT},{place.prefix},tag={escape_key(tag)} {fields} {ts_ms}"
