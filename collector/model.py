"""Records that cross stage boundaries after the drivers (docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.base import Scalar

Value = Scalar | list[bool | int | float | str]


@dataclass(frozen=True, slots=True)
class Reading:
    """One tag value after normalisation: what every sink sees."""

    device: str
    tag: str
    value: Value
    status: int  # OPC UA StatusCode; 0 = Good
    source_ts: int | None  # device/server clock, ms since epoch
    collected_ts: int  # collector clock, UTC ms
    session: int
    seq: int  # per device, monotonic within the session
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceHealthSnapshot:
    device: str
    connected: bool
    last_good_ts: int | None
    consecutive_errors: int
    last_latency_ms: float | None
    reads: int
    overruns: int
    errors: tuple[tuple[str, int], ...]  # (kind, count)
    last_error: str | None
