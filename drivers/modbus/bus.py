"""The line a device talks over: one connection, requests one at a time, sick units set aside.

A Modbus TCP device gets a bus of its own. On an RS-485 line (or an RTU-over-TCP gateway in front of
one) many unit ids share a single connection and the line can carry one request at a time, so every
device configured on the same serial port, or the same gateway host:port, shares one `Bus`.

A dead unit on a shared line costs every other unit a full timeout per request (docs/STANDARDS.md §9.3), so a
unit that times out `quarantine_after` times in a row is quarantined: its requests fail at once
without touching the line, and one probe request per quarantine period (5 s doubling to 5 min)
checks whether it is back. Other units are never affected: quarantine is per unit id, and a timeout
on a shared line does not reset the connection they are using.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from drivers.backoff import Backoff
from drivers.modbus.errors import (
    ExceptionResponse,
    GarbledResponse,
    LinkDown,
    RequestTimeout,
    UnitQuarantined,
)
from drivers.modbus.options import Endpoint, Kind
from drivers.modbus.transport import Link

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[Link], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class QuarantinePolicy:
    after: int = 3  # consecutive timeouts before a unit is set aside
    base_s: float = 5.0
    cap_s: float = 300.0


@dataclass(slots=True)
class UnitHealth:
    """Per unit id on a line: how it has been answering, for quarantine and metrics."""

    backoff: Backoff
    consecutive_timeouts: int = 0
    timeouts: int = 0
    quarantines: int = 0
    until: float | None = None  # quarantined until this monotonic time; None = healthy

    @property
    def quarantined(self) -> bool:
        return self.until is not None


@dataclass(slots=True)
class BusStats:
    requests_by_fc: Counter[int] = field(default_factory=Counter)
    connects: int = 0


class Bus:
    """One link shared by the devices on it; see the module doc."""

    def __init__(
        self,
        endpoint: Endpoint,
        timeout: float,
        policy: QuarantinePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy or QuarantinePolicy()
        self.stats = BusStats()
        self.link = Link(endpoint, timeout, on_request=self._count)
        self.generation = 0  # bumped on every successful (re)connect
        self._clock = clock
        self._lock = asyncio.Lock()
        self._units: dict[int, UnitHealth] = {}
        self._users = 0

    def _count(self, fc: int) -> None:
        self.stats.requests_by_fc[fc] += 1

    def health(self, unit: int) -> UnitHealth:
        h = self._units.get(unit)
        if h is None:
            p = self.policy
            h = self._units[unit] = UnitHealth(Backoff(p.base_s, p.cap_s, jitter=0.0))
        return h

    @property
    def connected(self) -> bool:
        return self.link.connected

    async def acquire(self) -> None:
        """A device starts using the bus (connects it if it is the first)."""
        self._users += 1
        try:
            await self.ensure_open()
        except BaseException:
            self._users -= 1
            raise

    def release(self) -> None:
        """A device stops using the bus; the last one closes the connection."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.link.close()

    async def ensure_open(self) -> None:
        """Connect if not connected; LinkDown if that fails. Devices sharing the line wait in turn."""
        if self.link.connected:
            return
        async with self._lock:
            if not self.link.connected:
                await self.link.open()
                self.generation += 1
                self.stats.connects += 1

    def check_unit(self, unit: int) -> None:
        """UnitQuarantined while the unit's quarantine runs; once it ends, the next request probes."""
        h = self._units.get(unit)
        if h is None or h.until is None:
            return
        left = h.until - self._clock()
        if left > 0:
            raise UnitQuarantined(unit, left)

    async def request(self, unit: int, op: Op[T]) -> T:
        """Run one request for `unit` with the line to itself, keeping the unit's health."""
        self.check_unit(unit)
        async with self._lock:
            self.check_unit(unit)  # it may have been quarantined while we waited for the line
            try:
                result = await op(self.link)
            except ExceptionResponse:
                self._answered(unit)  # an exception is an answer: the unit is alive
                raise
            except RequestTimeout:
                self._timed_out(unit)
                if not self.endpoint.shared:
                    await self._reopen()  # a late answer must not meet the next request
                raise
            except GarbledResponse:
                self._timed_out(unit)  # no usable answer either: counts towards quarantine
                await self._reopen()  # resynchronise: drop whatever is half-read
                raise
            except LinkDown:
                self.link.close()
                raise
        self._answered(unit)
        return result

    async def _reopen(self) -> None:
        """Clean reconnect after a timeout or a garbled answer; the next request reports failure."""
        try:
            await self.link.open()
        except LinkDown:
            return
        self.generation += 1
        self.stats.connects += 1

    def _answered(self, unit: int) -> None:
        h = self.health(unit)
        h.consecutive_timeouts = 0
        if h.quarantined:
            log.info("%s unit %d answers again after quarantine", self.endpoint, unit)
            h.until = None
            h.backoff.reset()

    def _timed_out(self, unit: int) -> None:
        h = self.health(unit)
        h.timeouts += 1
        h.consecutive_timeouts += 1
        if not self.endpoint.shared:
            return
        if h.quarantined or h.consecutive_timeouts >= self.policy.after:
            if not h.quarantined:
                h.quarantines += 1
                log.warning(
                    "%s unit %d quarantined after %d timeouts in a row; probing every %.0f s or less",
                    self.endpoint, unit, h.consecutive_timeouts, h.backoff.step,
                )  # fmt: skip
            h.until = self._clock() + h.backoff.next()


class BusRegistry:
    """Hands out the bus for each device: shared per serial port or gateway, private for TCP."""

    def __init__(self, policy: QuarantinePolicy | None = None) -> None:
        self.policy = policy
        self._buses: dict[tuple[str, ...], Bus] = {}

    def bus_for(self, endpoint: Endpoint, timeout: float, device_id: str) -> Bus:
        key = _key(endpoint, device_id)
        bus = self._buses.get(key)
        if bus is None:
            bus = self._buses[key] = Bus(endpoint, timeout, self.policy)
        elif bus.endpoint != endpoint:
            raise ValueError(
                f"device {device_id!r}: {endpoint} conflicts with {bus.endpoint} on the same line "
                "(every device on one serial port needs the same baud rate, parity and framing)"
            )
        return bus

    def buses(self) -> list[Bus]:
        return list(self._buses.values())


def _key(endpoint: Endpoint, device_id: str) -> tuple[str, ...]:
    if endpoint.serial is not None:
        return ("serial", endpoint.serial.port)
    if endpoint.kind is Kind.RTU_OVER_TCP:
        return ("gateway", endpoint.host, str(endpoint.port))
    return ("tcp", device_id)
