"""Read plans as JSON rows for `shopfloor probe --plan --json`: one object per request on the wire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drivers.mc.plan import Read
from drivers.modbus.planner import ReadRequest
from drivers.s7.plan import Request


def modbus_plan_rows(plan: Sequence[ReadRequest]) -> list[dict[str, Any]]:
    return [
        {"unit": r.unit_id, "table": r.table.value, "start": r.start, "count": r.count,
         "tags": [t.name for t in r.tags]}
        for r in plan
    ]  # fmt: skip


def s7_plan_rows(plan: Sequence[Request]) -> list[dict[str, Any]]:
    return [
        {"items": [{"area": b.area.value, "db": b.db, "start": b.start, "length": b.length,
                    "tags": [t.name for t in b.tags]} for b in r.blocks]}
        for r in plan
    ]  # fmt: skip


def mc_plan_rows(plan: Sequence[Read]) -> list[dict[str, Any]]:
    return [
        {"device": r.device.value, "head": r.head, "words": r.count, "tags": [t.name for t in r.tags]}
        for r in plan
    ]
