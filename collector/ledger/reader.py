"""Reading a ledger directory: its day files, the complete entries in them, excerpts of the chain."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.ledger.chain import GENESIS

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})\.jsonl$")
Entry = dict[str, Any]


def utc_day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def ledger_files(directory: Path) -> list[Path]:
    """The day files, oldest first (the names sort by date)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _FILE_RE.match(p.name))


def day_of(path: Path) -> str:
    match = _FILE_RE.match(path.name)
    assert match is not None
    return match.group(1)


def _parse(line: bytes) -> Entry | None:
    try:
        entry = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int) or "entry_hash" not in entry:
        return None
    return entry


def read_complete(path: Path) -> tuple[list[Entry], int, int]:
    """(entries, bytes up to the end of the last good line, file size): what follows is a torn tail.

    A bad line followed by good ones is skipped, not cut: only a torn tail is the writer's to repair."""
    data = path.read_bytes()
    entries: list[Entry] = []
    good = pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            break
        entry = _parse(data[pos:end])
        if entry is not None:
            entries.append(entry)
            good = end + 1
        elif data[pos:end].strip(b"\0 \t\r"):
            log.warning("%s: unreadable line at byte %d", path, pos)
        pos = end + 1
    return entries, good, len(data)


def first_ts(directory: Path) -> int | None:
    """The time of the ledger's first readable entry (its oldest day file, read line by line)."""
    for path in ledger_files(directory):
        with path.open("rb") as lines:
            for line in lines:
                entry = _parse(line.rstrip(b"\n"))
                if entry is not None:
                    return int(entry["ts"])
    return None


def iter_entries(directory: Path, from_ms: int | None = None, to_ms: int | None = None) -> Iterator[Entry]:
    """Entries with from_ms <= ts < to_ms, in chain order (unreadable lines are logged and skipped)."""
    first_day = utc_day(from_ms) if from_ms is not None else ""
    for path in ledger_files(directory):
        if day_of(path) < first_day:  # a day file only holds entries of that day or earlier
            continue
        for entry in read_complete(path)[0]:
            ts = int(entry["ts"])
            if (from_ms is None or ts >= from_ms) and (to_ms is None or ts < to_ms):
                yield entry


def excerpt(directory: Path, from_ms: int, to_ms: int) -> tuple[dict[str, Any], list[Entry]]:
    """The contiguous run of the chain from the first entry at/after from_ms to the last before to_ms,
    and its anchor {first_seq, prev_hash} (the link to the entry before it)."""
    chosen: list[Entry] = []
    before: Entry | None = None
    pending: list[Entry] = []  # entries inside the run whose ts lies outside (a clock step back)
    files = ledger_files(directory)
    first_day = utc_day(from_ms)
    skipped = [p for p in files if day_of(p) < first_day]  # all of their entries lie before from_ms
    if skipped:
        before = next(reversed(read_complete(skipped[-1])[0]), None)
    for path in files[len(skipped) :]:
        for entry in read_complete(path)[0]:
            ts = int(entry["ts"])
            if not chosen:
                if ts >= from_ms and ts < to_ms:
                    chosen.append(entry)
                elif ts < from_ms:
                    before = entry
                continue
            pending.append(entry)
            if from_ms <= ts < to_ms:
                chosen.extend(pending)
                pending.clear()
    if chosen:
        anchor = {"first_seq": int(chosen[0]["seq"]), "prev_hash": str(chosen[0]["prev_hash"])}
    elif before is not None:
        anchor = {"first_seq": int(before["seq"]) + 1, "prev_hash": str(before["entry_hash"])}
    else:
        anchor = {"first_seq": 0, "prev_hash": GENESIS}
    return anchor, chosen
