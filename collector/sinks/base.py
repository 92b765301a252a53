"""The sink contract and the telemetry body every outbox stores.

A sink is an async context manager with `write(batch)`: it returns once the far side acknowledged
every record of the batch. `RetryableSinkError` means "keep the batch, try again later" (outage,
429, 5xx), and its `SinkHeld` form "keep it until I say so"; `RejectedBatchError` means "this batch
will never be accepted" (4xx, bad payload): the delivery drops it from the outbox and records the
reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from collector.config.plant import PlantConfig
from collector.model import Reading, Value
from collector.outbox import Entry, OutboxRecord

DATA = "data"  # telemetry batch of one device; other kinds ("state", "event/<k>", "kpi/<p>") carry JSON


class SinkError(Exception):
    """Base of every error a sink module raises; the two below are what `write()` may raise."""


class RetryableSinkError(SinkError):
    """The sink is unavailable for now; the batch stays in the outbox."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SinkHeld(RetryableSinkError):
    """The sink is holding back on purpose (e.g. a Sparkplug primary host is offline): the batch stays
    in the outbox, and the delivery waits for `resume` rather than retrying on a timer."""

    def __init__(self, message: str, resume: asyncio.Event) -> None:
        super().__init__(message)
        self.resume = resume


class RejectedBatchError(SinkError):
    """The sink refused the batch (or only the records `ids`) for good: dropped, counted with the reason."""

    def __init__(self, reason: str, ids: tuple[int, ...] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ids = ids


@dataclass(frozen=True, slots=True)
class Batch:
    """Records handed to a sink; `hist` marks a replay after an outage."""

    records: Sequence[OutboxRecord]
    hist: bool


class Sink(Protocol):
    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def accepts(self, kind: str) -> bool:
        """Whether records of this kind go to this sink at all (decided at fan-out)."""
        ...

    async def write(self, batch: Batch) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    """A sink that describes the plant's devices to its consumers (Sparkplug births) and so must hear
    of a reload before the restarted devices' first readings."""

    def reconfigure(self, plant: PlantConfig) -> None: ...


@dataclass(frozen=True, slots=True)
class Point:
    """One reading inside a telemetry body (device and session are on the record)."""

    tag: str
    value: Value
    unit: str | None
    source_ts: int | None
    status: int
    seq: int
    collected_ts: int


def telemetry_entry(device: str, readings: Sequence[Reading]) -> Entry:
    """One outbox entry for one engine output call (readings of one device, one session)."""
    rows = [[r.tag, r.value, r.unit, r.source_ts, r.status, r.seq, r.collected_ts] for r in readings]
    body = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()
    seqs = [r.seq for r in readings]
    return Entry(DATA, device, readings[0].session, min(seqs), max(seqs), len(readings), body)


def decode_points(body: bytes) -> list[Point]:
    return [Point(*row) for row in json.loads(body)]
