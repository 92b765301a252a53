"""A simulated PLC for a protocol other than Modbus (S7, MC) that keeps the Modbus PLC's machine model,
profiles, quirks and faults, and lays the same register image into the protocol's own memory.

The profile's four tables map to memory the way an integrator would lay them out on such a PLC
(docs/SIMULATORS.md): holding registers and input registers to two word areas, coils and discrete
inputs to two bit areas. A subclass serves the protocol and copies the image in `publish()` after
every update; the faults that need the wire (stall, drop, restart) are its own.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from simulators.clock import SimClock
from simulators.modbus.device import UnitDevice
from simulators.modbus.profiles import Profile, Table, load_profile
from simulators.modbus.quirks import Quirks
from simulators.stall import Stallable

log = logging.getLogger(__name__)


def pack_bits(bits: bytes | bytearray) -> bytearray:
    """One byte per bit (the image's bit tables) -> eight bits a byte, bit 0 first."""
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 1 << (i & 7)
    return out


class MappedPlc(Stallable):
    """Lifecycle, update loop and the image-level faults (bad, freeze, skew) of a mapped PLC."""

    kind = "plc"
    unit_id = 1

    def __init__(
        self,
        name: str,
        profile: str | Path | Profile,
        seed: int,
        *,
        clock: Any = None,
        time_scale: float = 1.0,
        update_interval: float = 1.0,
        quirks: Quirks | None = None,
        byte_order: str = "ABCD",
    ) -> None:
        if update_interval <= 0:
            raise ValueError("update_interval must be > 0")
        self.name = name
        self.update_interval = update_interval
        self.clock = clock if clock is not None else SimClock(time_scale=time_scale)
        loaded = profile if isinstance(profile, Profile) else load_profile(profile)
        self.unit = UnitDevice(loaded, seed=seed, clock=self.clock, quirks=quirks, byte_order=byte_order)
        self._updater: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def serve(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def publish(self) -> None:
        """Copy the register image into the protocol's memory."""
        raise NotImplementedError

    async def start(self) -> None:
        self.publish()
        await self.serve()
        self._updater = asyncio.create_task(self._update_loop(), name=f"plc-update-{self.name}")
        log.info(
            "%s simulator %s serving %s at %s",
            self.protocol,
            self.name,
            self.unit.profile.name,
            self.endpoint,
        )

    async def stop(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
            self._updater = None
        await self.close()

    async def __aenter__(self) -> MappedPlc:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def protocol(self) -> str:
        return type(self).__name__

    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    @property
    def port(self) -> int:
        raise NotImplementedError

    async def step(self) -> None:
        """Advance the machine to clock.now() and publish the new image."""
        self.unit.step()
        self.publish()

    async def _update_loop(self) -> None:
        while True:
            await asyncio.sleep(self.update_interval)
            try:
                await self.step()
            except Exception:  # a model bug must not kill the server; log and keep serving
                log.exception("update of %s failed", self.name)

    # ------------------------------------------------------------------ what the control endpoint reads
    def device(self, unit: int | None = None) -> UnitDevice:
        return self.unit

    def value(self, name: str) -> float:
        """Engineering value currently served for a profile register (as a correct client decodes it)."""
        return self.unit.value(name)

    def words(self, table: Table) -> bytearray:
        return self.unit.image[table]

    def bits(self, table: Table) -> bytearray:
        return pack_bits(self.unit.image[table])

    # ------------------------------------------------------------------ faults
    async def drop_connections(self) -> None:
        raise NotImplementedError

    async def restart(self) -> None:
        await self.close()
        await self.serve()
        log.info("%s simulator %s restarted at %s", self.protocol, self.name, self.endpoint)

    def set_bad(self, names: list[str] | None = None, unit: int | None = None) -> None:
        self.unit.set_bad(names)
        self.publish()

    def clear_bad(self, unit: int | None = None) -> None:
        self.unit.clear_bad()
        self.publish()

    def freeze(self, frozen: bool = True, unit: int | None = None) -> None:
        self.unit.frozen = frozen
        if not frozen:
            self.unit.refresh()
            self.publish()

    def skew_clock(self, seconds: float, unit: int | None = None) -> None:
        self.unit.clock_skew = seconds
        if not self.unit.frozen:
            self.unit.refresh()
            self.publish()
