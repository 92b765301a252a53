"""Run a plant scenario: start every simulated machine, a fault schedule and the control endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from simulators.clock import SimClock
from simulators.faults import apply_fault
from simulators.machine import MachineProfile
from simulators.mapped import MappedPlc
from simulators.mc import McSimulator
from simulators.modbus import PlcBusSimulator, PlcSimulator, Quirks
from simulators.opcua import CncSimulator
from simulators.s7 import S7Simulator
from simulators.scenario import BusGroup, CncGroup, McGroup, PlcGroup, S7Group, Scenario

log = logging.getLogger(__name__)

Simulator = CncSimulator | PlcSimulator | MappedPlc


@dataclass
class SimDevice:
    """One simulated device as the collector will see it."""

    name: str
    kind: str  # "cnc" | "plc"
    profile: str
    sim: Simulator
    group: CncGroup | PlcGroup | BusGroup | S7Group | McGroup
    unit_id: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return str(self.sim.endpoint)


class SimulatedPlant:
    """`async with SimulatedPlant(scenario) as plant:` — every device started, faults scheduled."""

    def __init__(self, scenario: Scenario, *, run_faults: bool = True) -> None:
        self.scenario = scenario
        self.clock = SimClock(time_scale=scenario.time_scale)
        self.devices: dict[str, SimDevice] = {}
        self._run_faults = run_faults
        self._servers: list[Simulator] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.fault_log: list[tuple[float, str, str, str]] = []  # (t, device, kind, result)

    async def __aenter__(self) -> SimulatedPlant:
        try:
            await self._start_all()
        except BaseException:
            await self._stop_all()
            raise
        if self._run_faults and self.scenario.faults:
            self._tasks.append(asyncio.create_task(self._fault_schedule(), name="sim-faults"))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop_all()

    async def _start_all(self) -> None:
        sc = self.scenario
        seed = sc.seed
        for group in sc.cnc:
            for i in range(1, group.count + 1):
                seed += 1
                await self._start_cnc(group, i, seed)
        for plc in sc.plc:
            for i in range(1, plc.count + 1):
                seed += 1
                await self._start_plc(plc, i, seed)
        for bus in sc.buses:
            seed += 1
            await self._start_bus(bus, seed)
        mapped: list[S7Group | McGroup] = [*sc.s7, *sc.mc]
        for mgroup in mapped:
            for i in range(1, mgroup.count + 1):
                seed += 1
                await self._start_mapped(mgroup, i, seed)

    async def _start_cnc(self, group: CncGroup, index: int, seed: int) -> None:
        name = f"{group.prefix}-{index:02d}"
        sim = CncSimulator(
            name=name,
            seed=seed,
            port=group.base_port + index - 1 if group.base_port else 0,
            profile=group.profile,
            update_interval=self.scenario.update_interval,
            clock=self.clock,
            machine=MachineProfile(**group.machine) if group.machine else None,
            host=self.scenario.host,
            power_off_mode=group.power_off_mode,
        )
        await sim.start()
        self._servers.append(sim)
        self.devices[name] = SimDevice(name, "cnc", group.profile, sim, group)

    async def _start_plc(self, group: PlcGroup, index: int, seed: int) -> None:
        name = f"{group.prefix}-{index:02d}"
        q = group.quirks
        quirks = Quirks(
            address_base=q.address_base,
            max_registers=q.max_registers,
            max_bits=q.max_bits,
            holes=tuple(q.holes),
            busy_every=q.busy_every,
            delay_s=q.delay,
            counter_start=q.counter_start,
        )
        sim = PlcSimulator(
            name=name,
            profile=group.profile,
            seed=seed,
            transport=group.transport,
            host=self.scenario.host,
            port=group.base_port + index - 1 if group.base_port else 0,
            unit_ids=(group.unit_id,),
            quirks=quirks,
            update_interval=self.scenario.update_interval,
            clock=self.clock,
            byte_order=group.byte_order,
        )
        await sim.start()
        self._servers.append(sim)
        self.devices[name] = SimDevice(name, "plc", group.profile, sim, group, unit_id=group.unit_id)

    async def _start_bus(self, bus: BusGroup, seed: int) -> None:
        sim = PlcBusSimulator(
            units=dict(bus.units),
            name=bus.name,
            transport="rtu-over-tcp",
            seed=seed,
            host=self.scenario.host,
            port=bus.port,
            quirks=Quirks(dead_units=frozenset(bus.dead_units)),
            update_interval=self.scenario.update_interval,
            clock=self.clock,
            byte_order=bus.byte_order,
        )
        await sim.start()
        self._servers.append(sim)
        for unit, profile in bus.units.items():
            name = f"{bus.name}-u{unit}"
            self.devices[name] = SimDevice(name, "plc", profile, sim, bus, unit_id=unit)

    async def _start_mapped(self, group: S7Group | McGroup, index: int, seed: int) -> None:
        name = f"{group.prefix}-{index:02d}"
        port = group.base_port + index - 1 if group.base_port else 0
        common: dict[str, Any] = {
            "name": name, "profile": group.profile, "seed": seed, "host": self.scenario.host, "port": port,
            "clock": self.clock, "update_interval": self.scenario.update_interval,
        }  # fmt: skip
        sim: MappedPlc
        if isinstance(group, S7Group):
            sim = S7Simulator(**common)
        else:
            sim = McSimulator(max_words=group.max_words, **common)
        await sim.start()
        self._servers.append(sim)
        self.devices[name] = SimDevice(name, "plc", group.profile, sim, group)

    async def _stop_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for sim in reversed(self._servers):
            try:
                await sim.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping simulator %s failed", getattr(sim, "name", "?"))
        self._servers.clear()

    async def _fault_schedule(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for step in sorted(self.scenario.faults, key=lambda s: s.at):
            await asyncio.sleep(max(0.0, start + step.at - loop.time()))
            result = await self.fault(step.device, step.kind.value, seconds=step.seconds, tags=step.tags)
            log.warning("fault %s on %s at %.1fs: %s", step.kind.value, step.device, step.at, result)

    async def fault(
        self, device: str, kind: str, *, seconds: float | None = None, tags: list[str] | None = None
    ) -> str:
        """Apply one fault by name; used by the schedule and the HTTP control endpoint."""
        entry = self.devices[device]
        unit = entry.unit_id if isinstance(entry.group, BusGroup) else None
        result = await apply_fault(entry.sim, kind, seconds=seconds, tags=tags, unit=unit)
        self.fault_log.append((asyncio.get_running_loop().time(), device, kind, result))
        return result

    def endpoints(self) -> list[str]:
        lines = []
        for dev in self.devices.values():
            unit = f" unit {dev.unit_id}" if dev.kind == "plc" else ""
            lines.append(f"{dev.name:<14} {dev.kind:<4} {dev.profile:<18} {dev.endpoint}{unit}")
        return lines
