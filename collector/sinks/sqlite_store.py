"""The embedded local historian: the same telemetry schema in one SQLite table (`storage.backend: sqlite`).

Point identity is the primary key (device, tag, ts) — the same as the time-series store's
measurement + tags + timestamp — so a replayed reading overwrites itself (idempotent upsert).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from collector.config.plant import PlantConfig
from collector.sinks.base import DATA, Batch, RetryableSinkError, decode_points
from collector.sinks.uns import MISSING

_SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry(
    device TEXT NOT NULL, tag TEXT NOT NULL, ts INTEGER NOT NULL,
    site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL,
    value REAL, value_int INTEGER, value_str TEXT,
    status INTEGER NOT NULL, session INTEGER NOT NULL, seq INTEGER NOT NULL, source_ts INTEGER,
    PRIMARY KEY(device, tag, ts)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_seq ON telemetry(device, session, seq);
"""
_UPSERT = (
    "INSERT OR REPLACE INTO telemetry(device, tag, ts, site, area, line, value, value_int, value_str,"
    " status, session, seq, source_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

Row = tuple[str, str, int, str, str, str, float | None, int | None, str | None, int, int, int, int | None]


def _typed(value: object) -> tuple[float | None, int | None, str | None]:
    if value is None:
        return None, None, None
    if isinstance(value, bool):
        return None, int(value), None
    if isinstance(value, int | float):
        return float(value), None, None
    if isinstance(value, str):
        return None, None, value
    return None, None, json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SqliteStore:
    """Idempotent batch upserts; the file is shared by readers (WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def upsert(self, rows: Iterable[Row]) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(_UPSERT, rows)
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # disk full, locked: the outbox keeps the batch
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise RetryableSinkError(f"sqlite: {exc}") from exc

    def close(self) -> None:
        self._db.close()


class SqliteSink:
    """Outbox records into the embedded historian."""

    def __init__(self, plant: PlantConfig, path: Path, name: str = "store") -> None:
        self.name = name
        self.path = path
        self.site = plant.site.site
        self.places = {d.id: (d.area or MISSING, d.line or MISSING) for d in plant.devices}
        self._store: SqliteStore | None = None

    async def __aenter__(self) -> Self:
        self._store = SqliteStore(self.path)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._store is not None:
            self._store.close()

    def accepts(self, kind: str) -> bool:
        return kind == DATA

    async def write(self, batch: Batch) -> None:
        assert self._store is not None, "use the sink as an async context manager"
        rows: list[Row] = []
        for record in batch.records:
            area, line = self.places.get(record.device, (MISSING, MISSING))
            for p in decode_points(record.body):
                rows.append(
                    (record.device, p.tag, p.collected_ts, self.site, area, line, *_typed(p.value),
                     p.status, record.session, p.seq, p.source_ts)
                )  # fmt: skip
        self._store.upsert(rows)
