"""What one Modbus driver is given: where the device is and the compiled tags, as plain values.

The collector's configuration layer builds these from the plant file (`driver_options()` on the
device models); the driver never sees YAML or pydantic. No protocol library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from drivers.modbus.planner import PlanLimits
from drivers.modbus.spec import ModbusTagSpec


class Kind(StrEnum):
    TCP = "tcp"
    RTU = "rtu"
    RTU_OVER_TCP = "rtu_over_tcp"


@dataclass(frozen=True, slots=True)
class SerialSettings:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a link goes; equal endpoints of a shared kind share one bus."""

    kind: Kind
    host: str = ""
    port: int = 0
    serial: SerialSettings | None = None

    @property
    def shared(self) -> bool:
        """Several unit ids behind one line: requests are serialised and units quarantined."""
        return self.kind is not Kind.TCP

    def __str__(self) -> str:
        if self.serial is not None:
            s = self.serial
            return f"rtu://{s.port}?{s.baudrate}{s.parity}{s.bytesize}{s.stopbits}"
        return f"{self.kind.value}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ModbusDriverOptions:
    """One device (one unit id) behind an endpoint."""

    id: str
    endpoint: Endpoint
    unit_id: int
    timeout: float  # seconds per request
    retries: int
    tags: tuple[ModbusTagSpec, ...]
    limits: PlanLimits = field(default_factory=PlanLimits)
    hole_ttl: float | None = 600.0  # how long an unreadable range (exception 02) is skipped
