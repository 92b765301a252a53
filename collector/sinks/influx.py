"""The time-series store over HTTP with influxdb-client: the direct sink and the historian's writer.

Backend profiles: `influxdb` (2.x/3.x/Cloud, 1.8+ compat) keeps strings as string fields;
`victoriametrics` would store them as 0, so strings go to a separate series with the text in a label
(see lineprotocol.py). Bodies are joined line protocol sent with the synchronous write API in a
worker thread (the HTTP call blocks). 429 (with Retry-After) and 5xx and network errors are
retryable; any other 4xx rejects the batch with the server's reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from collector.config.plant import PlantConfig
from collector.config.sinks import Storage, StoreBackend
from collector.outbox import OutboxRecord
from collector.sinks.base import DATA, Batch, RejectedBatchError, RetryableSinkError, decode_points
from collector.sinks.lineprotocol import Placement, line
from collector.sinks.uns import MISSING

log = logging.getLogger(__name__)


def _retry_after(exc: ApiException) -> float | None:
    headers: Any = exc.headers
    value = headers.get("Retry-After") if headers else None
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:  # an HTTP date: fall back to the backoff
        return None


class StoreWriter:
    """One HTTP client; `write(lines)` returns when the server answered 2xx."""

    def __init__(self, storage: Storage, base: Path, timeout_ms: int = 10_000) -> None:
        if not storage.url:
            raise ValueError("storage.url is required for an HTTP store")
        self.strings_as_label = storage.backend is StoreBackend.VICTORIAMETRICS
        self.bucket = storage.bucket or "shopfloor"
        self.org = storage.org or "shopfloor"
        self._client = InfluxDBClient(
            url=storage.url, token=storage.api_token(base), org=self.org, timeout=timeout_ms, retries=False
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def write_sync(self, body: str) -> None:
        try:
            self._api.write(self.bucket, self.org, body, write_precision=WritePrecision.MS)  # type: ignore[arg-type]
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 429 or status >= 500 or status == 0:
                raise RetryableSinkError(f"HTTP {status}", _retry_after(exc)) from exc
            reason = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body)
            raise RejectedBatchError(f"HTTP {status}: {reason[:300]}") from exc
        except Exception as exc:  # urllib3 and socket errors: the store is unreachable
            raise RetryableSinkError(f"{type(exc).__name__}: {exc}") from exc

    async def write(self, lines: Sequence[str]) -> None:
        if lines:
            body = "\n".join(lines)
            await asyncio.get_running_loop().run_in_executor(None, self.write_sync, body)


class Placements:
    """Pre-escaped tag prefixes per device (site, area, line, device)."""

    def __init__(self, site: str, places: dict[str, tuple[str, str]]) -> None:
        self.site = site
        self.places = places
        self._cache: dict[tuple[str, str, str], Placement] = {}

    @classmethod
    def of(cls, plant: PlantConfig) -> Placements:
        return cls(plant.site.site, {d.id: (d.area or MISSING, d.line or MISSING) for d in plant.devices})

    def get(self, device: str, area: str | None = None, line: str | None = None) -> Placement:
        if area is None or line is None:
            area, line = self.places.get(device, (MISSING, MISSING))
        key = (device, area, line)
        place = self._cache.get(key)
        if place is None:
            place = self._cache[key] = Placement.of(self.site, area, line, device)
        return place


def record_lines(record: OutboxRecord, place: Placement, strings_as_label: bool) -> list[str]:
    return [
        line(
            place,
            p.tag,
            p.value,
            p.status,
            record.session,
            p.seq,
            p.collected_ts,
            strings_as_label=strings_as_label,
        )
        for p in decode_points(record.body)
    ]


class InfluxSink:
    """Direct store sink (`storage.direct: true`): outbox records straight to the store."""

    def __init__(self, plant: PlantConfig, base: Path, name: str = "store") -> None:
        self.name = name
        self._storage = plant.storage
        self._base = base
        self._places = Placements.of(plant)
        self._writer: StoreWriter | None = None

    async def __aenter__(self) -> Self:
        self._writer = StoreWriter(self._storage, self._base)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.close()

    def accepts(self, kind: str) -> bool:
        return kind == DATA

    async def write(self, batch: Batch) -> None:
        assert self._writer is not None, "use the sink as an async context manager"
        labels = self._writer.strings_as_label
        lines: list[str] = []
        for record in batch.records:
            lines += record_lines(record, self._places.get(record.device), labels)
        await self._writer.write(lines)


def describe(storage: Storage) -> dict[str, Any]:
    return {"backend": str(storage.backend), "url": storage.url, "bucket": storage.bucket}
