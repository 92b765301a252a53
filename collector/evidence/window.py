"""The window a pack covers, as the user writes it: 'now', an age such as '-24h', or an ISO time."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, tz: ZoneInfo, now_ms: int) -> int:
    """'now', an age ('-24h' or '24h': that long before now), or ISO 8601 (the site's zone when the
    text has no offset). argparse takes '--from -24h' for an option, hence '--from=-24h' or '24h'."""
    text = text.strip()
    if text == "now":
        return now_ms
    rel = _RELATIVE.match(text)
    if rel:
        return now_ms - round(float(rel.group(1)) * _UNIT_S[rel.group(2)] * 1000)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return round(when.timestamp() * 1000)
