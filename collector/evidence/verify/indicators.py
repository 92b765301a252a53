"""Plant indicators from the device register and the recomputed figures (docs/STANDARDS.md §7.2–§7.4).

STDLIB ONLY: copied into every pack as ``verify/indicators.py``; kpis.py re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .formulas import TagFigures, TagSpec, ratio
from .vendor.registerrules import UNDECLARED_FLAGS, declared_networked, is_production, undeclared


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """One row of 设备台账.csv; a flag None means "the register does not say" (undeclared), which
    counts as no and is listed."""

    equipment: str
    category: str = ""
    counts_as_production: bool | None = None
    is_digital: bool | None = None
    is_networked: bool | None = None
    is_key_process: bool | None = None
    is_nc: bool | None = None
    process: str = ""
    networked_via: str = ""  # the device (connection) that collects it, "" for none

    @property
    def production(self) -> bool:
        return is_production(self.category, self.counts_as_production)

    @property
    def declared_networked(self) -> bool:
        return declared_networked(self.is_networked, self.networked_via)

    @property
    def undeclared(self) -> tuple[str, ...]:
        """Flags left unset (is_nc only counts on a key-process row, where the NC rate reads it)."""
        return undeclared(self.category, self.is_digital, self.is_nc, self.is_key_process)


@dataclass(frozen=True, slots=True)
class Indicators:
    devices_total: int  # 总生产设备数量: production rows of the register
    declared_networked: int
    verified_networked: int
    digital: int
    digital_verified: int  # verified networked production equipment that is also digital
    key_processes: int
    key_processes_nc: int
    register_rows: int = 0  # every row, production or not
    undeclared: tuple[tuple[str, int], ...] = ()  # (flag, production rows leaving it unset)

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
        """Secondary reading: verified networked digital / digital equipment (docs/STANDARDS.md §7.2)."""
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
            "register_rows": self.register_rows,
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
            **{f"undeclared_{flag}": n for flag, n in self.undeclared},
        }


def indicators(register: Iterable[RegisterEntry], verified: Iterable[str]) -> Indicators:
    """Plant indicators on the production equipment of the register. `verified` are the device
    (connection) ids proven networked; a row is verified networked when its networked_via is one.
    A key process is the row's `process` (the equipment code when empty); it is NC-enabled when every
    key-process row of it declares is_nc (undeclared is not NC)."""
    every = list(register)
    rows = [r for r in every if r.production]
    ok = set(verified)
    processes: dict[str, bool] = {}
    for r in rows:
        if r.is_key_process:
            name = r.process or r.equipment
            processes[name] = processes.get(name, True) and r.is_nc is True
    proven = [r for r in rows if r.networked_via and r.networked_via in ok]
    return Indicators(
        devices_total=len(rows),
        declared_networked=sum(r.declared_networked for r in rows),
        verified_networked=len(proven),
        digital=sum(r.is_digital is True for r in rows),
        digital_verified=sum(r.is_digital is True for r in proven),
        key_processes=len(processes),
        key_processes_nc=sum(processes.values()),
        register_rows=len(every),
        undeclared=tuple((k, sum(k in r.undeclared for r in rows)) for k in UNDECLARED_FLAGS),
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
    """A required point is effective when its completeness over judged time ≥ min_completeness. A
    point that cannot be judged (no period or heartbeat, or no judged time) is not effective: one good
    sample proves nothing about the rest of the window."""
    by_tag = {(f.device, f.tag): f for f in figures}
    required = [s for s in specs if s.required]
    effective = 0
    for spec in required:
        fig = by_tag.get((spec.device, spec.tag))
        if fig is not None and fig.completeness is not None:
            effective += fig.completeness >= min_completeness
    return AutoCollection(effective, len(required))
