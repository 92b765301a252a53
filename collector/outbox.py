"""A durable, bounded outbox per sink: SQLite in WAL mode, at-least-once, oldest-first drops.

    box = Outbox(path, max_bytes=1 << 30, max_age=30 * 86400)
    box.append([Entry("data", "plc-01", session, 17, 42, 26, body)])   # one transaction
    records = box.fetch(after_id=0, limit=500)
    box.ack(records, hist=False)                                       # only after the sink acked
    # store-confirmed MQTT (docs/DELIVERY.md): the PUBACK marks, the store's confirmation removes
    box.published(records, hist=False)
    box.confirm([SeqRun("plc-01", session, 17, 42)])

A record is opaque to the outbox: `kind` (e.g. "data", "state", "event/alarm") says which renderer a
sink uses, `body` is what the producer encoded. New kinds need no change here.

Durability: WAL with synchronous=NORMAL by default. A commit is in the WAL file before `append`
returns, so a killed process (SIGKILL, crash) loses nothing that was accepted; only an OS crash or
power loss can roll back the last commits since the previous checkpoint (the file stays consistent).
`synchronous="full"` fsyncs every commit for power-loss durability at ~3.6x fewer appends per wall-second.

Counters are kept in the same file and updated in the same transaction as the records they count,
so they stay exact across crashes. Counts are in points:

    accepted   appended
    acked      taken by the sink's far side the first time: a broker's PUBACK, or the store's answer
    confirmed  held by the store: the store sink's write, or a historian's confirmation (then removed)
    replayed   acked while sent as `hist` (a replay after an outage)
    resent     published again after a PUBACK because no confirmation came (or the broker went away)
    dropped    removed without delivery, with the reason in the drops table

accepted == confirmed + dropped + pending for a sink whose records wait for the store; a sink that
removes at the PUBACK (`mqtt.confirm.mode: broker`) confirms nothing: accepted == acked + dropped + pending.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

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
_COLUMNS = "id, kind, device, session, seq_first, seq_last, count, created_ms, body, sent"
# a historian's confirmation names (device, session, seq range): found through this index
_CONFIRM_INDEX = "CREATE INDEX IF NOT EXISTS records_seq ON records(device, session, seq_first)"
UNCONFIRMED = " (published, unconfirmed)"  # appended to a drop reason: the store may hold these
_BUMP = (
    "INSERT INTO counters(device, name, value) VALUES (?, ?, ?)"
    " ON CONFLICT(device, name) DO UPDATE SET value = value + excluded.value"
)
COUNTERS = ("accepted", "acked", "confirmed", "replayed", "resent", "dropped")  # the module docstring's
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
    sent: int = 0  # PUBACKs it got while waiting for the store's confirmation


class SeqRun(NamedTuple):
    """Readings seq first..last of one device and session (a historian confirms these)."""

    device: str
    session: int
    first: int
    last: int


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
        confirmable: bool = False,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_ms = int(max_age * 1000)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        if "sent" not in columns:  # an outbox written before store confirmation existed
            self._db.execute("ALTER TABLE records ADD COLUMN sent INTEGER NOT NULL DEFAULT 0")
        if confirmable:  # only sinks that wait for confirmations pay for the index on every append
            self._db.execute(_CONFIRM_INDEX)
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM records").fetchone()
        self.bytes, self.depth = int(row[0]), int(row[1])
        self._dropping: set[str] = set()
        self.on_drop: Callable[[list[int]], None] | None = None  # ids a bound removed: nothing to wait for

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
        with self._tx():
            self._db.executemany(
                "INSERT INTO records(kind, device, session, seq_first, seq_last, count, created_ms, size,"
                " body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._bump((d, "accepted", n) for d, n in _points(entries).items())
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

    def fetch_ids(self, ids: Sequence[int]) -> list[OutboxRecord]:
        """The records of `ids` still stored, oldest first (a bound may have dropped some)."""
        out: list[OutboxRecord] = []
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM records WHERE id IN ({marks})", chunk)
            out += [OutboxRecord(*row) for row in rows]
        return sorted(out, key=lambda r: r.id)

    def next_id(self) -> int:
        """The id the next appended record will get (records below it exist now)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def ack(self, records: Sequence[OutboxRecord], *, hist: bool, stored: bool = False) -> int:
        """Remove records the sink acknowledged; returns the points removed (a dropped one counts 0).
        `stored`: the acknowledgement was the store's own (a direct or embedded store sink)."""
        return self._remove(records, "replayed" if hist else None, "acked", "confirmed" if stored else None)

    def published(self, records: Sequence[OutboxRecord], *, hist: bool) -> int:
        """The broker took records that stay until the store confirms them: the first PUBACK of a
        record counts `acked` (and `replayed` when hist), a later one `resent`. Returns the points
        counted as resent."""
        present = self._present_sent(records)
        first = _points(r for r in records if present.get(r.id) == 0)
        again = _points(r for r in records if present.get(r.id, 0) > 0)
        with self._tx():
            self._db.executemany("UPDATE records SET sent = sent + 1 WHERE id = ?", [(i,) for i in present])
            self._bump((d, "acked", n) for d, n in first.items())
            if hist:
                self._bump((d, "replayed", n) for d, n in first.items())
            self._bump((d, "resent", n) for d, n in again.items())
        return sum(again.values())

    def confirm(self, runs: Iterable[SeqRun]) -> list[OutboxRecord]:
        """Remove the telemetry records a store confirmation covers; returns them. A record the
        confirmation overtook before its PUBACK was counted (the store holds it, so the broker
        took it) also counts `acked`."""
        gone = self.covered(runs)
        with self._tx():
            self._delete_rows(gone)
            self._bump((d, "confirmed", n) for d, n in _points(gone).items())
            self._bump((d, "acked", n) for d, n in _points(r for r in gone if r.sent == 0).items())
        return gone

    def reject(self, records: Sequence[OutboxRecord], reason: str) -> int:
        """Remove records the sink refused for good, recording why in the drops table."""
        gone = self._select_present(records)
        with self._tx():
            self._delete_rows(gone)
            self._record_drops(gone, f"rejected: {reason}", now_ms())
        return sum(r.count for r in gone)

    # -- metrics ------------------------------------------------------------------------------

    def counters(self) -> dict[tuple[str, str], int]:
        """Exact counts in points: {(device, name): value}; names as in the module docstring."""
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

    def _present_sent(self, records: Sequence[OutboxRecord]) -> dict[int, int]:
        """{id: sent} of the records still stored: a bound may have dropped a record while it was
        in flight, and a confirmation may have removed it."""
        present: dict[int, int] = {}
        for chunk in _chunks([r.id for r in records]):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT id, sent FROM records WHERE id IN ({marks})", chunk)
            present.update((int(i), int(n)) for i, n in rows)
        return present

    def _select_present(self, records: Sequence[OutboxRecord]) -> list[OutboxRecord]:
        present = self._present_sent(records)
        return [r for r in records if r.id in present]

    def covered(self, runs: Iterable[SeqRun]) -> list[OutboxRecord]:
        """The telemetry records whose seqs lie inside `runs` (a confirmation or a rejection)."""
        sql = (
            f"SELECT {_COLUMNS} FROM records WHERE device = ? AND session = ? AND seq_first >= ?"
            " AND seq_first <= ? AND seq_last <= ? AND kind = 'data'"
        )
        out: list[OutboxRecord] = []
        for run in runs:
            args = (run.device, run.session, run.first, run.last, run.last)
            out += [OutboxRecord(*row) for row in self._db.execute(sql, args)]
        return out

    def _remove(self, records: Sequence[OutboxRecord], *names: str | None) -> int:
        gone = self._select_present(records)
        self._dropping.clear()
        per_device = _points(gone)
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
        """Delete and record; a record the broker took but the store never confirmed is recorded
        under its own reason, because the store may well hold it."""
        if not victims:
            return
        self._delete_rows(victims)
        self._record_drops([v for v in victims if not v.sent], reason, at)
        self._record_drops([v for v in victims if v.sent], reason + UNCONFIRMED, at)
        if self.on_drop is not None:
            self.on_drop([v.id for v in victims])

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


def _points(records: Iterable[Entry | OutboxRecord]) -> dict[str, int]:
    """Points per device."""
    out: dict[str, int] = {}
    for r in records:
        out[r.device] = out.get(r.device, 0) + r.count
    return out


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    """SQLite caps the parameters of one statement: ids in slices."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


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
