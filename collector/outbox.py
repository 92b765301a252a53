"""A durable, bounded outbox per sink: SQLite in WAL mode, at-least-once, oldest-first drops.

    box = Outbox(path, max_bytes=1 << 30, max_age=30 * 86400)
    box.append([Entry("data", "plc-01", session, 17, 42, 26, body)])   # one transaction
    records = box.fetch(after_id=0, limit=500)
    box.ack(records, hist=False)                                       # only after the sink acked

A record is opaque to the outbox: `kind` (e.g. "data", "state", "event/alarm") says which renderer a
sink uses, `body` is what the producer encoded. New kinds need no change here.

Durability: WAL with synchronous=NORMAL by default. A commit is in the WAL file before `append`
returns, so a killed process (SIGKILL, crash) loses nothing that was accepted; only an OS crash or
power loss can roll back the last commits since the previous checkpoint (the file stays consistent).
`synchronous="full"` fsyncs every commit for power-loss durability at ~3.6x fewer appends per wall-second.

Counters (accepted, acked, replayed, dropped) are kept in the same file and updated in the same
transaction as the records they count, so they stay exact across crashes. Counts are in points.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.clock import now_ms

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records(
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, device TEXT NOT NULL,
    session INTEGER NOT NULL, seq_first INTEGER NOT NULL, seq_last INTEGER NOT NULL,
    count INTEGER NOT NULL, created_ms INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters(
    device TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY(device, name))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drops(
    id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, reason TEXT NOT NULL, kind TEXT NOT NULL,
    device TEXT NOT NULL, session INTEGER NOT NULL, seq_first INTEGER NOT NULL,
    seq_last INTEGER NOT NULL, records INTEGER NOT NULL, points INTEGER NOT NULL);
"""
_COLUMNS = "id, kind, device, session, seq_first, seq_last, count, created_ms, body"
_BUMP = (
    "INSERT INTO counters(device, name, value) VALUES (?, ?, ?)"
    " ON CONFLICT(device, name) DO UPDATE SET value = value + excluded.value"
)
_ROW_OVERHEAD = 64  # bytes per row beyond the body: ids, seqs, index entry (an estimate)


@dataclass(frozen=True, slots=True)
class Entry:
    """What a producer hands to the outbox: `count` points of one device, seq_first..seq_last."""

    kind: str
    device: str
    session: int
    seq_first: int
    seq_last: int
    count: int
    body: bytes


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: int
    kind: str
    device: str
    session: int
    seq_first: int
    seq_last: int
    count: int
    created_ms: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Drop:
    """One run of records dropped on purpose: why, which device, which seq range, how many."""

    at_ms: int
    reason: str
    kind: str
    device: str
    session: int
    seq_first: int
    seq_last: int
    records: int
    points: int


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 1 << 30,
        max_age: float = 30 * 86400.0,
        synchronous: str = "normal",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age * 1000)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM records").fetchone()
        self.bytes, self.depth = int(row[0]), int(row[1])
        self._dropping: set[str] = set()

    def close(self) -> None:
        self._db.close()

    # -- producer side ------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry], at_ms: int | None = None) -> None:
        """Store entries durably in one transaction; then enforce the bounds (oldest dropped first)."""
        if not entries:
            return
        at = now_ms() if at_ms is None else at_ms
        rows = [
            (
                e.kind,
                e.device,
                e.session,
                e.seq_first,
                e.seq_last,
                e.count,
                at,
                len(e.body) + _ROW_OVERHEAD,
                e.body,
            )
            for e in entries
        ]
        accepted: dict[str, int] = {}
        for e in entries:
            accepted[e.device] = accepted.get(e.device, 0) + e.count
        with self._tx():
            self._db.executemany(
                "INSERT INTO records(kind, device, session, seq_first, seq_last, count, created_ms, size,"
                " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._bump((d, "accepted", n) for d, n in accepted.items())
            self.bytes += sum(r[7] for r in rows)
            self.depth += len(rows)
            self._enforce(at)

    def enforce_bounds(self, at_ms: int | None = None) -> None:
        """Apply max_age (and max_bytes) without an append: called periodically by the delivery."""
        with self._tx():
            self._enforce(now_ms() if at_ms is None else at_ms)

    # -- consumer side ------------------------------------------------------------------------

    def fetch(self, after_id: int, limit: int, before_id: int | None = None) -> list[OutboxRecord]:
        """Oldest-first records with after_id < id (< before_id)."""
        if before_id is None:
            sql = f"SELECT {_COLUMNS} FROM records WHERE id > ? ORDER BY id LIMIT ?"
            args: tuple[int, ...] = (after_id, limit)
        else:
            sql = f"SELECT {_COLUMNS} FROM records WHERE id > ? AND id < ? ORDER BY id LIMIT ?"
            args = (after_id, before_id, limit)
        return [OutboxRecord(*row) for row in self._db.execute(sql, args)]

    def next_id(self) -> int:
        """The id the next appended record will get (records below it exist now)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def ack(self, records: Sequence[OutboxRecord], *, hist: bool) -> int:
        """Remove records the sink acknowledged; returns the points removed (a dropped one counts 0)."""
        return self._remove(records, "replayed" if hist else None, "acked")

    def reject(self, records: Sequence[OutboxRecord], reason: str) -> int:
        """Remove records the sink refused for good, recording why in the drops table."""
        gone = self._select_present(records)
        with self._tx():
            self._delete_rows(gone)
            self._record_drops(gone, f"rejected: {reason}", now_ms())
        return sum(r.count for r in gone)

    # -- metrics ------------------------------------------------------------------------------

    def counters(self) -> dict[tuple[str, str], int]:
        """Exact counts in points: {(device, name): value}; names accepted, acked, replayed, dropped."""
        rows = self._db.execute("SELECT device, name, value FROM counters")
        return {(d, n): int(v) for d, n, v in rows}

    def drops(self) -> list[Drop]:
        cols = "at_ms, reason, kind, device, session, seq_first, seq_last, records, points"
        return [Drop(*row) for row in self._db.execute(f"SELECT {cols} FROM drops ORDER BY id")]

    def oldest_age_ms(self, at_ms: int | None = None) -> int:
        row = self._db.execute("SELECT created_ms FROM records ORDER BY id LIMIT 1").fetchone()
        return 0 if row is None else max(0, (now_ms() if at_ms is None else at_ms) - int(row[0]))

    def pending_by_device(self) -> dict[str, int]:
        rows = self._db.execute("SELECT device, SUM(count) FROM records GROUP BY device")
        return {d: int(n) for d, n in rows}

    # -- internals ----------------------------------------------------------------------------

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def _bump(self, rows: Iterable[tuple[str, str, int]]) -> None:
        self._db.executemany(_BUMP, [r for r in rows if r[2]])

    def _select_present(self, records: Sequence[OutboxRecord]) -> list[OutboxRecord]:
        """The subset still stored: a bound may have dropped a record while it was in flight."""
        if not records:
            return []
        ids = [r.id for r in records]
        present: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            present.update(
                i for (i,) in self._db.execute(f"SELECT id FROM records WHERE id IN ({marks})", chunk)
            )
        return [r for r in records if r.id in present]

    def _remove(self, records: Sequence[OutboxRecord], *names: str | None) -> int:
        gone = self._select_present(records)
        self._dropping.clear()
        per_device: dict[str, int] = {}
        for r in gone:
            per_device[r.device] = per_device.get(r.device, 0) + r.count
        with self._tx():
            self._delete_rows(gone)
            for name in names:
                if name:
                    self._bump((d, name, n) for d, n in per_device.items())
        return sum(per_device.values())

    def _delete_rows(self, records: Sequence[OutboxRecord]) -> None:
        if not records:
            return
        ids = [(r.id,) for r in records]
        sizes = self._db.execute(
            f"SELECT COALESCE(SUM(size), 0) FROM records WHERE id IN ({','.join(str(i) for (i,) in ids)})"
        ).fetchone()
        self._db.executemany("DELETE FROM records WHERE id = ?", ids)
        self.bytes -= int(sizes[0])
        self.depth -= len(ids)

    def _enforce(self, at: int) -> None:
        """Drop oldest records past max_age, then oldest until the total fits in max_bytes."""
        cutoff = at - self.max_age_ms
        oldest = self._db.execute("SELECT created_ms FROM records ORDER BY id LIMIT 1").fetchone()
        if oldest is not None and oldest[0] < cutoff:  # ids follow the clock: the first row is the oldest
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE created_ms < ? ORDER BY id", (cutoff,)
            )
            self._drop([OutboxRecord(*r) for r in rows], "max_age", at)
        if self.bytes <= self.max_bytes:
            return
        excess, victims = self.bytes - self.max_bytes, []
        cursor = self._db.execute(f"SELECT {_COLUMNS}, size FROM records ORDER BY id")
        for row in cursor:
            victims.append(OutboxRecord(*row[:-1]))
            excess -= int(row[-1])
            if excess <= 0:
                break
        cursor.close()
        self._drop(victims, "max_bytes", at)

    def _drop(self, victims: list[OutboxRecord], reason: str, at: int) -> None:
        if victims:
            self._delete_rows(victims)
            self._record_drops(victims, reason, at)

    def _record_drops(self, victims: Sequence[OutboxRecord], reason: str, at: int) -> None:
        """One drops row per (device, session, kind) run; the dropped counter per device."""
        runs: dict[tuple[str, int, str], list[int]] = {}
        for r in victims:
            run = runs.setdefault((r.device, r.session, r.kind), [r.seq_first, r.seq_last, 0, 0])
            run[0], run[1] = min(run[0], r.seq_first), max(run[1], r.seq_last)
            run[2] += 1
            run[3] += r.count
        self._db.executemany(
            "INSERT INTO drops(at_ms, reason, kind, device, session, seq_first, seq_last, records, points)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(at, reason, k, d, s, v[0], v[1], v[2], v[3]) for (d, s, k), v in runs.items()],
        )
        self._bump((d, "dropped", v[3]) for (d, _s, _k), v in runs.items())
        if victims and reason not in self._dropping:  # once per episode; counts are in the table
            self._dropping.add(reason)
            log.warning("%s: dropping records (%s); see the drops table", self.path.name, reason)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._nested = db.in_transaction

    def __enter__(self) -> None:
        if not self._nested:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._nested:
            return
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
