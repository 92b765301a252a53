"""The window a pack covers: as the user writes it ('now', an age such as '-24h', or an ISO time), and
as it is built — within what the ledger holds and at most MAX_DAYS long.

Evidence exists only from the ledger's first entry to now: a window reaching further back adds days
with no ledger and no data, each a row in the per-day tables and a day of "no data" in the figures.
`from=-100000d` once wrote a 471 MB pack of such rows. So the window is cut to the ledger's span (and
the pack says which window it covers), and a window still longer than MAX_DAYS is refused with the fix.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collector import ledger
from collector.evidence.budget import WindowTooLarge
from collector.evidence.errors import EvidenceError

MAX_DAYS = 366  # a year and a leap day: an annual review's window; longer ones are built in parts
_DAY_MS = 86_400_000


class EmptyWindow(EvidenceError, ValueError):
    """The window holds no part of the ledger's span."""


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


def bounded(ledger_dir: Path, from_ms: int, to_ms: int, now_ms: int) -> tuple[int, int]:
    """(from, to) cut to [the ledger's first entry, now]; EmptyWindow when nothing is left,
    WindowTooLarge when more than MAX_DAYS are."""
    to_ms = min(to_ms, now_ms)
    first = ledger.first_ts(ledger_dir)
    if first is not None:
        from_ms = max(from_ms, first)
    if to_ms <= from_ms:
        begins = "it has no entries" if first is None else f"its first entry is at {_iso(first)}"
        raise EmptyWindow(f"the window holds nothing of the ledger ({ledger_dir}): {begins}; choose a window "
                          "between the ledger's first entry and now")  # fmt: skip
    days = (to_ms - from_ms) / _DAY_MS
    if days > MAX_DAYS:
        raise WindowTooLarge(
            f"the window covers {days:,.0f} days of ledger ({_iso(from_ms)} to {_iso(to_ms)}); a pack covers "
            f"at most {MAX_DAYS} days. Build one pack per month or quarter (--from/--to)"
        )
    return from_ms, to_ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
