"""The equipment register (设备台账): every piece of equipment of the enterprise, connected or not.

The register is its own input, separate from the connections (`devices:`): a plant with 40 machines of
which 10 are connected declares 40 rows, and each connected row names its connection in
`networked_via`. Rows come from `equipment.rows` in the plant file and from `equipment.file` (the
CSV/XLSX the enterprise keeps, imported by sheet_import.py at load time). A plant file without an
`equipment:` section keeps the older shape: each device's `asset:` is its row (see `rows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import Field

from collector.config.common import Id, Strict
from collector.config.errors import PathT, Problem
from collector.config.registerrules import UNDECLARED_FLAGS, declared_networked, is_production, undeclared
from collector.config.site import DeviceRegister
from collector.config.source import SourceMap

# An equipment code as the enterprise writes it (JC-001, 设备001): any text without surrounding spaces.
EquipmentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
FLAGS = UNDECLARED_FLAGS  # undeclared ones are counted and listed
CONNECTION_FIELDS = {"access", "gateway_id"}  # how a device is connected: stays on the device's asset:
UNDECLARED_HINT = {"category": "an undeclared category counts as production equipment and the pack lists it"}


class RegisterRow(DeviceRegister):
    """One row of the 设备台账."""

    id: EquipmentId = Field(description="the enterprise's equipment code (资产编号)")
    name: str | None = None
    name_zh: str | None = None
    area: str | None = Field(None, description="workshop (车间) as the enterprise names it")
    line: str | None = None
    networked_via: Id | None = Field(None, description="the device (connection) that collects it; none")

    @property
    def production(self) -> bool:
        """In 总生产设备数量 (registerrules.is_production)."""
        return is_production(self.category.value if self.category else None, self.counts_as_production)

    @property
    def declared_networked(self) -> bool:
        return declared_networked(self.is_networked, self.networked_via)

    @property
    def undeclared(self) -> tuple[str, ...]:
        """The flags this row leaves unset (is_nc only on a key-process row)."""
        category = self.category.value if self.category else None
        return undeclared(category, self.is_digital, self.is_nc, self.is_key_process)


class RegisterConfig(Strict):
    file: Path | None = Field(None, description="the enterprise's 设备台账 (.csv or .xlsx), relative path")
    sheet: str | None = Field(None, description="the .xlsx sheet (default: the first)")
    rows: list[RegisterRow] = Field(default_factory=list)


def problems(data: object, smap: SourceMap, device_ids: list[str]) -> list[Problem]:
    """Errors in the raw document: a `networked_via` naming no device, a duplicate equipment code,
    and register fields in a device's `asset:` when an `equipment:` section exists (two places for one
    fact; `access` and `gateway_id` describe the connection and stay on the device)."""
    if not isinstance(data, dict) or not isinstance(data.get("equipment"), dict):
        return []
    out: list[Problem] = []
    known = set(device_ids)
    seen: dict[str, int] = {}
    for index, row in _rows(data):
        code, via = row.get("id"), row.get("networked_via")
        if isinstance(code, str):
            if code in seen:
                where: PathT = ("equipment", "rows", index, "id")
                first = smap.locate(("equipment", "rows", seen[code], "id"))
                out.append(
                    Problem(
                        smap.locate(where), where, f"duplicate equipment code {code!r}", f"first at {first}"
                    )
                )
            seen.setdefault(code, index)
        if isinstance(via, str) and via not in known:
            here: PathT = ("equipment", "rows", index, "networked_via")
            out.append(
                Problem(
                    smap.locate(here),
                    here,
                    f"networked_via {via!r} is not a device of this plant",
                    f"name a device id ({', '.join(sorted(known)) or 'none configured'}) or leave it empty",
                )
            )
    for index, device in enumerate(data.get("devices") or []):
        asset = device.get("asset") if isinstance(device, dict) else None
        if isinstance(asset, dict) and set(asset) - CONNECTION_FIELDS:
            here = ("devices", index, "asset")
            out.append(
                Problem(
                    smap.locate(here, key=True),
                    here,
                    "asset: and equipment: both describe this equipment",
                    f"move these fields to the equipment row with networked_via: {device.get('id')}",
                )
            )
    return out


def _rows(data: dict[str, object]) -> Iterator[tuple[int, dict[str, object]]]:
    section = data.get("equipment")
    table = section.get("rows") if isinstance(section, dict) else None
    if isinstance(table, list):
        for index, row in enumerate(table):
            if isinstance(row, dict):
                yield index, row
