"""Plant indicators from the device register and the recomputed figures (docs/STANDARDS.md §7.2–§7.4).

STDLIB ONLY: copied into every pack as ``verify/indicators.py``; kpis.py re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .formulas import TagFigures, TagSpec, ratio


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """The 设备台账 fields the indicators need; is_nc None means "the register does not say"."""

    device: str
    is_digital: bool
    is_networked: bool
    is_key_process: bool
    process: str = ""
    is_nc: bool | None = None

    @property
    def nc(self) -> bool:
        return self.is_digital if self.is_nc is None else self.is_nc


@dataclass(frozen=True, slots=True)
class Indicators:
    devices_total: int
    declared_networked: int
    verified_networked: int
    digital: int
    digital_verified: int  # verified networked devices that are also digital
    key_processes: int
    key_processes_nc: int

    @property
    def networked_rate_declared(self) -> float | None:
        """设备联网率 (申报) = declared networked / all production equipment."""
        return ratio(self.declared_networked, self.devices_total)

    @property
    def networked_rate_verified(self) -> float | None:
        """设备联网率 (核验) = verified networked / all production equipment (the official figure)."""
        return ratio(self.verified_networked, self.devices_total)

    @property
    def networked_rate_of_digital(self) -> float | None:
        """Secondary reading: verified networked digital / digital devices (docs/STANDARDS.md §7.2)."""
        return ratio(self.digital_verified, self.digital)

    @property
    def digital_rate(self) -> float | None:
        """生产设备数字化率 = digital / all production equipment."""
        return ratio(self.digital, self.devices_total)

    @property
    def key_process_nc_rate(self) -> float | None:
        """关键工序数控化率 = NC-enabled key processes / key processes (docs/STANDARDS.md §7.3)."""
        return ratio(self.key_processes_nc, self.key_processes)

    def headline(self) -> dict[str, int | float | None]:
        """The summary.json headline keys these indicators fill: summary.py writes them and the pack's
        recompute.py checks every one of them."""
        return {
            "devices_total": self.devices_total,
            "declared_networked": self.declared_networked,
            "verified_networked": self.verified_networked,
            "digital": self.digital,
            "key_processes": self.key_processes,
            "key_processes_nc": self.key_processes_nc,
            "networked_rate_declared": self.networked_rate_declared,
            "networked_rate_verified": self.networked_rate_verified,
            "networked_rate_of_digital": self.networked_rate_of_digital,
            "digital_rate": self.digital_rate,
            "key_process_nc_rate": self.key_process_nc_rate,
        }


def indicators(register: Iterable[RegisterEntry], verified: Iterable[str]) -> Indicators:
    """Plant indicators from the register. A key process is its `process` name (the device id when
    empty); it is NC-enabled when every key device of that process is NC (is_nc, else is_digital)."""
    rows = list(register)
    ok = set(verified)
    processes: dict[str, bool] = {}
    for r in rows:
        if r.is_key_process:
            name = r.process or r.device
            processes[name] = processes.get(name, True) and r.nc
    return Indicators(
        devices_total=len(rows),
        declared_networked=sum(r.is_networked for r in rows),
        verified_networked=sum(r.device in ok for r in rows),
        digital=sum(r.is_digital for r in rows),
        digital_verified=sum(r.is_digital and r.device in ok for r in rows),
        key_processes=len(processes),
        key_processes_nc=sum(processes.values()),
    )


@dataclass(frozen=True, slots=True)
class AutoCollection:
    effective: int
    required: int

    @property
    def rate(self) -> float | None:
        """数据自动采集率 = effective auto-collected points / points that should be collected."""
        return ratio(self.effective, self.required)


def auto_collection(
    specs: Iterable[TagSpec], figures: Iterable[TagFigures], min_completeness: float = 0.95
) -> AutoCollection:
    """A required point is effective when its completeness ≥ min_completeness; a point that is not
    judged for completeness (subscribe) is effective when it produced at least one good sample."""
    by_tag = {(f.device, f.tag): f for f in figures}
    required = [s for s in specs if s.required]
    effective = 0
    for spec in required:
        fig = by_tag.get((spec.device, spec.tag))
        if fig is None:
            continue
        if fig.completeness is not None:
            effective += fig.completeness >= min_completeness
        else:
            effective += fig.received_good > 0
    return AutoCollection(effective, len(required))
