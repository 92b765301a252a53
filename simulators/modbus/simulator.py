"""PlcSimulator: one Modbus endpoint serving one or more simulated devices (unit ids).

Single device::

    async with PlcSimulator(profile="energy-meter", port=0) as sim:
        print(sim.endpoint)               # tcp://127.0.0.1:40123

Shared RTU bus (several unit ids, each with its own profile, machine and quirks)::

    async with PlcSimulator(transport="rtu", serial_port="/dev/pts/5",
                            units={1: "stacklight-plc", 2: UnitSpec("energy-meter", byte_order="CDAB")},
                            quirks=Quirks(dead_units={3})) as bus: ...

``PlcBusSimulator`` is the same class with ``units`` required and RTU as default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from simulators.clock import SimClock
from simulators.modbus.device import UnitDevice
from simulators.modbus.profiles import Profile, load_profile
from simulators.modbus.quirks import Quirks
from simulators.modbus.transports import SerialModbusServer, TcpModbusServer
from simulators.stall import Stallable

log = logging.getLogger(__name__)

TRANSPORTS = ("tcp", "rtu", "rtu-over-tcp")


class Clock(Protocol):
    def now(self) -> float: ...


@dataclass(frozen=True)
class UnitSpec:
    """One device on a shared bus. Unset fields inherit from the simulator."""

    profile: str | Path | Profile
    seed: int | None = None  # default: simulator seed + unit id (different machines)
    byte_order: str | None = None
    quirks: Quirks | None = None


def _as_profile(p: str | Path | Profile) -> Profile:
    return p if isinstance(p, Profile) else load_profile(p)


class PlcSimulator(Stallable):
    def __init__(
        self,
        name: str = "plc",
        profile: str | Path | Profile = "stacklight-plc",
        seed: int = 1,
        transport: str = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        unit_ids: Iterable[int] = (1,),
        quirks: Quirks | None = None,
        time_scale: float = 1.0,
        update_interval: float = 1.0,
        clock: Clock | None = None,
        byte_order: str = "ABCD",
        *,
        serial_port: str | None = None,
        baudrate: int = 19200,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
        units: Mapping[int, str | Path | Profile | UnitSpec] | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        if transport == "rtu" and not serial_port:
            raise ValueError("transport 'rtu' needs serial_port")
        if update_interval <= 0:
            raise ValueError("update_interval must be > 0")
        self.name, self.transport, self.host = name, transport, host
        self.serial_port = serial_port
        self.update_interval = update_interval
        self.quirks = quirks or Quirks()
        self.clock: Clock = clock if clock is not None else SimClock(time_scale=time_scale)
        self.devices: dict[int, UnitDevice] = {}
        if units:
            for uid, raw in units.items():
                spec = raw if isinstance(raw, UnitSpec) else UnitSpec(raw)
                self.devices[uid] = UnitDevice(
                    _as_profile(spec.profile),
                    seed=spec.seed if spec.seed is not None else seed + uid,
                    clock=self.clock,
                    quirks=spec.quirks or self.quirks,
                    byte_order=spec.byte_order or byte_order,
                )
        else:
            # Several unit ids without `units`: one device answering on each (like a gateway alias).
            shared = UnitDevice(
                _as_profile(profile), seed=seed, clock=self.clock, quirks=self.quirks, byte_order=byte_order
            )
            self.devices = dict.fromkeys(unit_ids, shared)
        if not self.devices:
            raise ValueError("no unit ids to serve")
        self.dead_units = set(self.quirks.dead_units)
        for uid, dev in self.devices.items():
            if uid in dev.quirks.dead_units:
                self.dead_units.add(uid)
        self._updater: asyncio.Task[None] | None = None
        self._server: TcpModbusServer | SerialModbusServer
        if transport == "rtu":
            assert serial_port is not None
            self._server = SerialModbusServer(
                self._dispatch, serial_port, baudrate, bytesize, parity, stopbits
            )
        else:
            framing = "mbap" if transport == "tcp" else "rtu"
            self._server = TcpModbusServer(self._dispatch, host, port, framing)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self._server.start()
        self._updater = asyncio.create_task(self._update_loop(), name=f"plc-update-{self.name}")
        log.info("PLC simulator %s serving %s at %s", self.name, self.profiles, self.endpoint)

    async def stop(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
            self._updater = None
        await self._server.stop()

    async def __aenter__(self) -> PlcSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._server.port if isinstance(self._server, TcpModbusServer) else 0

    @property
    def endpoint(self) -> str:
        if self.transport == "rtu":
            return f"rtu://{self.serial_port}"
        return f"{self.transport}://{self.host}:{self.port}"

    @property
    def profiles(self) -> dict[int, str]:
        return {uid: dev.profile.name for uid, dev in self.devices.items()}

    @property
    def connections(self) -> int:
        """Open client connections (always 0 on a serial line)."""
        return self._server.connections if isinstance(self._server, TcpModbusServer) else 0

    def status(self) -> dict[str, Any]:
        """JSON-friendly state for a control interface (GET /devices)."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "connections": self.connections,
            "stalled": self.stalled,
            "dead_units": sorted(self.dead_units),
            "units": {
                uid: {
                    "profile": dev.profile.name,
                    "requests": dev.requests,
                    "frozen": dev.frozen,
                    "clock_skew_s": dev.clock_skew,
                    "bad": dev.bad_registers(),
                    "phase": dev.machine.snapshot.phase.value,
                }
                for uid, dev in self.devices.items()
            },
        }

    # ------------------------------------------------------------------ values
    async def step(self) -> None:
        """Advance every machine to clock.now() and refresh the register images."""
        self._step_all()

    def _step_all(self) -> None:
        for dev in set(self.devices.values()):
            dev.step()

    async def _update_loop(self) -> None:
        while True:
            await asyncio.sleep(self.update_interval)
            try:
                self._step_all()
            except Exception:  # a model bug must not kill the server; log and keep serving
                log.exception("update of %s failed", self.name)

    def device(self, unit: int | None = None) -> UnitDevice:
        return self.devices[next(iter(self.devices)) if unit is None else unit]

    def value(self, name: str, unit: int | None = None) -> float:
        """Engineering value currently served for a profile register (as a correct client decodes it)."""
        return self.device(unit).value(name)

    def _targets(self, unit: int | None) -> set[UnitDevice]:
        return set(self.devices.values()) if unit is None else {self.devices[unit]}

    # ------------------------------------------------------------------ faults
    async def drop_connections(self) -> None:
        await self._server.drop_connections()

    async def restart(self) -> None:
        """Stop listening (connections reset) and listen again on the same port / device."""
        await self._server.stop()
        await self._server.start()
        log.info("PLC simulator %s restarted at %s", self.name, self.endpoint)

    def set_bad(self, names: Iterable[str] | None = None, unit: int | None = None) -> None:
        """Answer 04 SLAVE DEVICE FAILURE for requests touching these registers (None: all)."""
        for dev in self._targets(unit):
            dev.set_bad(None if names is None else list(names))

    def clear_bad(self, unit: int | None = None) -> None:
        for dev in self._targets(unit):
            dev.clear_bad()

    def busy(self, busy: bool = True, unit: int | None = None) -> None:
        """Answer every request with 06 SLAVE DEVICE BUSY (a PLC stuck in a long task) until cleared."""
        for dev in self._targets(unit):
            dev.forced_busy = busy

    def freeze(self, frozen: bool = True, unit: int | None = None) -> None:
        """Frozen devices keep serving their last image; the machine model keeps running."""
        for dev in self._targets(unit):
            dev.frozen = frozen
            if not frozen:
                dev.refresh()

    def skew_clock(self, seconds: float, unit: int | None = None) -> None:
        """Offset device-clock registers (``source: {clock: {}}``) by `seconds`."""
        found = False
        for dev in self._targets(unit):
            dev.clock_skew = seconds
            found = found or any(r.source.kind == "clock" for r in dev.profile.registers)
            if not dev.frozen:
                dev.refresh()
        if not found:
            log.warning("%s: no device-clock register to skew", self.name)

    # ------------------------------------------------------------------ protocol
    async def _dispatch(self, unit: int, pdu: bytes) -> bytes | None:
        if self.stalled:
            return None
        dev = self.devices.get(unit)
        if dev is None or unit in self.dead_units:
            return None  # a missing or dead slave simply never answers
        resp = dev.handle(pdu)
        if dev.quirks.delay_s > 0:
            await asyncio.sleep(dev.quirks.delay_s)
            if self.stalled:
                return None
        return resp


class PlcBusSimulator(PlcSimulator):
    """Several devices (unit id -> profile or UnitSpec) sharing one RTU line or socket."""

    def __init__(
        self,
        units: Mapping[int, str | Path | Profile | UnitSpec],
        name: str = "bus",
        transport: str = "rtu",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, transport=transport, units=units, **kwargs)
