"""Everything a pack is built from, gathered once and read-only: the ledger excerpt, the registers,
the calendar and the samples the store holds. A running collector may keep writing meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector import ledger
from collector.config import LoadedPlant
from collector.evidence.registers import DataPoint, data_points
from collector.evidence.store_reader import StoredSample, read_samples
from collector.normalise.shifts import ShiftCalendar

Entry = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    plant: LoadedPlant
    from_ms: int
    to_ms: int
    tz: ZoneInfo
    anchor: dict[str, Any]
    entries: list[Entry]
    samples: list[StoredSample]  # from_ms <= ts < to_ms: the raw samples of the pack
    points: list[DataPoint]
    calendar: ShiftCalendar

    def of_type(self, *types: str) -> Iterator[Entry]:
        return (e for e in self.entries if e["type"] in types)

    @property
    def device_ids(self) -> list[str]:
        return [d.id for d in self.plant.config.devices]

    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.tz)

    def iso(self, ms: int | None) -> str:
        """ISO 8601 with the site's UTC offset, to the millisecond ('' for none)."""
        return "" if ms is None else self.local(ms).isoformat(timespec="milliseconds")


def gather(plant: LoadedPlant, from_ms: int, to_ms: int) -> Sources:
    cfg = plant.config
    anchor, entries = ledger.excerpt(plant.resolve(cfg.evidence.ledger_dir), from_ms, to_ms)
    devices = [d.id for d in cfg.devices]
    samples = read_samples(cfg.storage, plant.base_dir, from_ms, to_ms, devices, cfg.site.site)
    return Sources(
        plant=plant, from_ms=from_ms, to_ms=to_ms, tz=ZoneInfo(cfg.site.timezone), anchor=anchor,
        entries=entries, samples=samples, points=data_points(cfg),
        calendar=ShiftCalendar(cfg.calendar, cfg.site.timezone),
    )  # fmt: skip
