"""One device's metrics as the edge node knows them: definition, current value, and what the host holds.

The current value is what the next DBIRTH reports; the host's copy (`sent_*`) is the baseline for
report by exception: a DDATA carries a metric only when its value moved past the tag's deadband, its
quality changed, or the refresh period passed since it was last sent.

A current value is `stale` when nothing vouches for it any more: after a gap in publishing (the
connection or the primary host was lost) or after the device was lost. A birth then reports it with
Quality STALE, and the first fresh reading goes out even if its value did not change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.model import Reading, Value
from collector.sinks.sparkplug import codec
from collector.sinks.sparkplug.codec import DataType, MetricValue, Quality

log = logging.getLogger(__name__)

Checked = tuple[Value, Quality]  # a reading's value as it will be sent, and its quality


class TagSpec(NamedTuple):
    """What the plant file says about a tag; `datatype` None: take the type of its first value."""

    tag: str
    datatype: str | int | None
    unit: str | None = None
    deadband: float | None = None


@dataclass(slots=True)
class Metric:
    name: str
    alias: int
    datatype: DataType
    unit: str | None = None
    deadband: float | None = None
    value: Value = None
    quality: Quality = Quality.GOOD
    timestamp: int | None = None
    stale: bool = False
    sent_value: Value = None
    sent_quality: Quality | None = None  # None: the host has not been told this metric yet
    sent_at: int = 0

    def birth_value(self, now: int) -> MetricValue:
        """The metric as a birth reports it; also the host's new baseline."""
        quality = self.quality
        if self.stale and quality is Quality.GOOD:
            quality = Quality.STALE  # not vouched for since a gap: say so rather than pass it as current
        self.sent_value, self.sent_quality, self.sent_at = self.value, quality, now
        ts = self.timestamp if self.timestamp is not None else now
        return MetricValue(
            self.alias, self.datatype, self.value, ts, name=self.name, quality=quality, unit=self.unit
        )

    def remember(self, value: Value, quality: Quality, ts: int, live: bool) -> bool:
        """Take a reading as the current value when it is newer; True when taken. Replayed readings
        never make a value fresh again, nor stale when they only repeat the current one."""
        if self.timestamp is not None and (ts < self.timestamp or (ts == self.timestamp and not live)):
            return False
        self.value, self.quality, self.timestamp = value, quality, ts
        self.stale = not live
        return True

    def report(self, value: Value, quality: Quality, now: int, refresh_ms: int) -> bool:
        """Report by exception: whether a live reading goes into DDATA (and if so, the new baseline)."""
        due = refresh_ms > 0 and now - self.sent_at >= refresh_ms
        if not (due or quality is not self.sent_quality or _moved(self.sent_value, value, self.deadband)):
            return False
        self.sent_value, self.sent_quality, self.sent_at = value, quality, now
        return True


def _moved(old: Value, new: Value, deadband: float | None) -> bool:
    numbers = isinstance(old, int | float) and isinstance(new, int | float)
    if deadband and numbers and not isinstance(old, bool) and not isinstance(new, bool):
        return abs(float(new) - float(old)) > deadband  # type: ignore[arg-type]
    return type(old) is not type(new) or old != new


@dataclass(slots=True)
class Device:
    """An edge node device: its tags, and where it stands in the Sparkplug session."""

    specs: dict[str, TagSpec] = field(default_factory=dict)  # from the plant file, by tag
    metrics: dict[str, Metric] = field(default_factory=dict)  # declared (datatype known), by tag
    born: bool = False  # DBIRTH sent since the last NBIRTH (and no DDEATH since)
    born_tags: frozenset[str] = frozenset()
    redefined: bool = False  # definitions changed since its DBIRTH: DDEATH + DBIRTH before more data
    known: bool = False  # heard from (live or replayed): births include it unless lost
    lost: bool = False  # its newest record said it stopped answering
    state_ts: int = 0  # collector time of the newest record applied

    def needs_birth(self, readings: Sequence[Reading]) -> bool:
        return not self.born or self.redefined or any(r.tag not in self.born_tags for r in readings)

    def mark_stale(self) -> None:
        for m in self.metrics.values():
            m.stale = True

    def birth_metrics(self, now: int) -> list[MetricValue]:
        """Every declared metric with its current value, oldest first (the spec's chronological order)."""
        self.born, self.redefined, self.born_tags = True, False, frozenset(self.metrics)
        return sorted((m.birth_value(now) for m in self.metrics.values()), key=lambda v: v.timestamp)

    def take(self, readings: Sequence[Reading], values: Sequence[Checked], live: bool) -> set[int]:
        """Remember the newest reading of each tag as current; the indices of the readings taken."""
        taken: dict[str, int] = {}
        for i, (r, (value, quality)) in enumerate(zip(readings, values, strict=True)):
            if self.metrics[r.tag].remember(value, quality, stamp(r), live):
                taken[r.tag] = i
        return set(taken.values())


def stamp(r: Reading) -> int:
    """A metric's timestamp: the source's clock when it has one, else the collector's."""
    return r.source_ts if r.source_ts is not None else r.collected_ts


def checked(device: str, m: Metric, r: Reading) -> Checked:
    """The reading's value and quality, or null with BAD quality when its datatype cannot carry it:
    one bad value must not cost the batch."""
    try:
        codec.check_value(m.datatype, r.value)
    except codec.CodecError as exc:
        log.warning("sparkplug: %s/%s: %s; sent as null with BAD quality", device, r.tag, exc)
        return None, Quality.BAD
    return r.value, codec.quality_of(r.status)
