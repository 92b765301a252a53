"""Soak accounting: every reading the collector produced (the ledger's RAW_BATCH ranges) is in the
store, or in an outbox's drops table with a reason, or it is unaccounted; and the process samples
(RSS, open file descriptors) summarised as first / last / max and a growth slope."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from collector.demo.finish import ledger_entries

Key = tuple[str, int, int]  # (device, session, seq)


@dataclass
class Accounting:
    produced: int = 0
    landed: int = 0  # produced and in the store
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> produced readings dropped
    waiting: int = 0  # still in an outbox, unconfirmed: sent again at the collector's next start
    unaccounted: int = 0
    unaccounted_sample: list[Key] = field(default_factory=list)
    landed_unledgered: int = 0  # in the store, but their RAW_BATCH was never written (collector killed)
    holes_stated: int = 0  # RAW_BATCH ranges whose count is below their seq span


def produced_keys(ledger_dir: Path, from_ms: int, to_ms: int) -> tuple[set[Key], int]:
    keys: set[Key] = set()
    holes = 0
    for entry in ledger_entries(ledger_dir, from_ms, to_ms, "RAW_BATCH"):
        payload = entry.get("payload") or {}
        session = int(payload.get("session", 0))
        for device, part in (payload.get("devices") or {}).items():
            if not part.get("count") or part.get("seq_first") is None:
                continue  # a device that only failed in this interval: errors, no readings
            first, last = int(part["seq_first"]), int(part["seq_last"])
            missing = {s for lo, hi in _ranges(part.get("holes")) for s in range(lo, hi + 1)}
            if missing:
                holes += 1
            keys.update((device, session, seq) for seq in range(first, last + 1) if seq not in missing)
    return keys, holes


def _ranges(holes: object) -> list[tuple[int, int]]:
    """RAW_BATCH `holes`: [[first, last], ...] seqs never handed to delivery (older ledgers: a count)."""
    if not isinstance(holes, list):
        return []
    return [(int(r[0]), int(r[1])) for r in holes if isinstance(r, list | tuple) and len(r) == 2]


def dropped_keys(outbox: Path) -> dict[Key, str]:
    """Telemetry readings an outbox dropped on purpose, with the reason."""
    out: dict[Key, str] = {}
    if not outbox.exists():
        return out
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute(
            "SELECT reason, device, session, seq_first, seq_last FROM drops WHERE kind = 'data'"
        )
        for reason, device, session, first, last in rows:
            for seq in range(int(first), int(last) + 1):
                out[(str(device), int(session), seq)] = str(reason)
    finally:
        db.close()
    return out


def outbox_keys(outbox: Path) -> tuple[set[Key], int | None]:
    """Telemetry readings still in an outbox, and the creation time (ms) of its oldest record."""
    keys: set[Key] = set()
    if not outbox.exists():
        return keys, None
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT device, session, seq_first, seq_last FROM records WHERE kind = 'data'")
        for device, session, first, last in rows:
            keys.update((str(device), int(session), seq) for seq in range(int(first), int(last) + 1))
        (oldest,) = db.execute("SELECT MIN(created_ms) FROM records").fetchone()
    finally:
        db.close()
    return keys, None if oldest is None else int(oldest)


def account(
    produced: set[Key], landed: set[Key], dropped: dict[Key, str], waiting: set[Key] | None = None
) -> Accounting:
    acc = Accounting(produced=len(produced))
    acc.landed = len(produced & landed)
    acc.landed_unledgered = len(landed - produced)
    missing = produced - landed
    for key in sorted(missing):
        reason = dropped.get(key)
        if reason is not None:
            acc.dropped[reason] += 1
        elif waiting is not None and key in waiting:
            acc.waiting += 1
        else:
            acc.unaccounted += 1
            if len(acc.unaccounted_sample) < 10:
                acc.unaccounted_sample.append(key)
    return acc


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the collector first started
    incarnation: int  # collector start number (a SIGKILL and restart makes a new one)
    rss_kb: int
    fds: int


def sample_process(pid: int) -> tuple[int, int] | None:
    """(VmRSS in kB, open file descriptors) of a live process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]), fds
    return None


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of value over time, per hour; None with fewer than three points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


def steady_series(samples: list[Sample], warmup_s: float = 30.0) -> list[Sample]:
    """The longest collector incarnation, without its first `warmup_s` when enough remains."""
    by_run: dict[int, list[Sample]] = {}
    for s in samples:
        by_run.setdefault(s.incarnation, []).append(s)
    if not by_run:
        return []
    longest = max(by_run.values(), key=lambda run: run[-1].t - run[0].t)
    warm = [s for s in longest if s.t - longest[0].t >= warmup_s]
    return warm if len(warm) >= 3 else longest
