"""One place that maps a fault name to the simulator call, for schedules and the control endpoint."""

from __future__ import annotations

from simulators.mapped import MappedPlc
from simulators.modbus import PlcSimulator
from simulators.opcua import CncSimulator

FAULT_KINDS = (
    "drop", "stall", "unstall", "restart", "bad", "clear_bad", "freeze", "unfreeze", "skew", "busy", "unbusy",
    "mute", "unmute",
)  # fmt: skip


async def apply_fault(
    sim: CncSimulator | PlcSimulator | MappedPlc,
    kind: str,
    *,
    seconds: float | None = None,
    tags: list[str] | None = None,
    unit: int | None = None,
) -> str:
    """Apply `kind` to `sim` (one `unit` of a shared bus when given); returns what was done."""
    if isinstance(sim, PlcSimulator) and kind in (
        "bad",
        "clear_bad",
        "freeze",
        "unfreeze",
        "skew",
        "busy",
        "unbusy",
    ):
        return _plc_unit_fault(sim, kind, seconds, tags, unit)
    if kind in ("mute", "unmute"):
        if not isinstance(sim, CncSimulator):
            raise ValueError(f"fault {kind!r} is for OPC UA servers (subscriptions); {sim.name} is not one")
        if kind == "unmute":
            await sim.unmute()
            return "publishing again"
        return f"{await sim.mute()} subscription(s) stopped publishing"
    if kind == "drop":
        await sim.drop_connections()
        return "connections dropped"
    if kind == "stall":
        await sim.stall(seconds)
        return f"stalled for {seconds}s" if seconds else "stalled until unstall"
    if kind == "unstall":
        await sim.unstall()
        return "answering again"
    if kind == "restart":
        await sim.restart()
        return "restarted" + (" with renumbered namespaces" if isinstance(sim, CncSimulator) else "")
    if kind == "bad":
        sim.set_bad(tags)
        return f"bad: {'all' if tags is None else ', '.join(tags) or 'none'}"
    if kind == "clear_bad":
        sim.clear_bad()
        return "bad cleared"
    if kind in ("freeze", "unfreeze"):
        sim.freeze(kind == "freeze")
        return f"{kind} done"
    if kind == "skew":
        sim.skew_clock(seconds or 0.0)
        return f"clock skewed by {seconds}s"
    raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")


def _plc_unit_fault(
    sim: PlcSimulator, kind: str, seconds: float | None, tags: list[str] | None, unit: int | None
) -> str:
    if kind == "bad":
        sim.set_bad(tags, unit=unit)
        return f"bad: {'all' if tags is None else ', '.join(tags) or 'none'}"
    if kind == "clear_bad":
        sim.clear_bad(unit=unit)
        return "bad cleared"
    if kind == "skew":
        sim.skew_clock(seconds or 0.0, unit=unit)
        return f"clock skewed by {seconds}s"
    if kind in ("busy", "unbusy"):
        sim.busy(kind == "busy", unit=unit)
        return "answering 06 busy to every request" if kind == "busy" else "busy cleared"
    sim.freeze(kind == "freeze", unit=unit)
    return f"{kind} done"
