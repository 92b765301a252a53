"""The register in force and what `config check` says about it (collector.config.register holds the
models): the equipment rows, or the devices' `asset:` without an `equipment:` section."""

from __future__ import annotations

from collector.config.errors import Problem
from collector.config.plant import PlantConfig
from collector.config.register import FLAGS, UNDECLARED_HINT, RegisterRow
from collector.config.source import SourceMap


def rows(plant: PlantConfig) -> list[RegisterRow]:
    """The register in force: `equipment:` rows, or — without that section — one row per device built
    from its `asset:` (networked via itself; flags it does not set stay undeclared)."""
    if plant.equipment is not None:
        return list(plant.equipment.rows)
    out = []
    for d in plant.devices:
        fields = d.asset.model_dump()
        out.append(
            RegisterRow(
                id=d.id,
                name=d.name,
                name_zh=d.name_zh,
                area=d.area,
                line=d.line,
                networked_via=d.id,
                **fields,
            )
        )
    return out


def warnings(plant: PlantConfig, smap: SourceMap) -> list[Problem]:
    """What `config check` points out without refusing the file: rows no connection covers, devices no
    row names, undeclared flags, and a register derived from the devices alone."""
    register, devices = plant.equipment, plant.devices
    out: list[Problem] = []
    if register is None and devices:
        out.append(
            _warn(
                smap,
                ("devices",),
                f"no equipment: section; the 设备台账 is the {len(devices)} configured devices, so the "
                "equipment indicators count only connected equipment",
                "list every piece of production equipment under equipment.rows (or equipment.file: "
                "设备台账.xlsx) and name each connection in networked_via (docs/CONFIGURATION.md)",
            )
        )
    table = rows(plant)
    if register is not None:
        out += _coverage_warnings(plant, table, smap)
    for flag in FLAGS:
        missing = [r.id for r in table if r.production and flag in r.undeclared]
        if missing:
            out.append(
                _warn(
                    smap,
                    ("equipment",) if register is not None else ("devices",),
                    f"{len(missing)} production equipment rows leave {flag} undeclared: {_listed(missing)}",
                    UNDECLARED_HINT.get(flag, "undeclared counts as no and the pack lists it; declare it"),
                )
            )
    return out


def _coverage_warnings(plant: PlantConfig, table: list[RegisterRow], smap: SourceMap) -> list[Problem]:
    """Devices no row names and production rows no device covers: both legitimate, both worth a look."""
    out: list[Problem] = []
    named = {r.networked_via for r in table if r.networked_via}
    for index, d in enumerate(plant.devices):
        if d.id not in named:
            out.append(
                _warn(
                    smap,
                    ("devices", index, "id"),
                    f"device {d.id!r} is named by no equipment row: its data is collected but it counts "
                    "in no equipment indicator",
                    f"add networked_via: {d.id} to the row of the equipment it reads",
                )
            )
    uncovered = [r.id for r in table if r.production and r.networked_via is None]
    if uncovered:
        out.append(
            _warn(
                smap,
                ("equipment",),
                f"{len(uncovered)} of {sum(r.production for r in table)} production equipment rows have no "
                f"connection (networked_via): {_listed(uncovered)}",
                "expected for machines not yet connected; they stay in the denominator of 设备联网率",
            )
        )
    return out


def _listed(ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" … (+{len(ids) - limit})" if len(ids) > limit else "")


def _warn(smap: SourceMap, path: tuple[str | int, ...], message: str, hint: str) -> Problem:
    return Problem(smap.locate(path), path, message, hint, warning=True)
