"""What one Modbus driver is given: where the device is and the compiled tags, as plain values.

The collector's configuration layer builds these from the plant file (`driver_options()` on the
device models); the driver never sees YAML or pydantic. No protocol library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from drivers.modbus.spec import ModbusTagSpec, Table

# Protocol ceilings per request (Modbus application protocol v1.1b3, FC1/2 and FC3/4).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How large a request may be and how much unused space it may read over to merge two tags."""

    max_registers: int = MAX_REGISTERS_PER_READ
    max_bits: int = MAX_BITS_PER_READ
    max_register_gap: int = 10
    max_bit_gap: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.max_registers <= MAX_REGISTERS_PER_READ:
            raise ValueError(f"max_registers must be 1..{MAX_REGISTERS_PER_READ}")
        if not 1 <= self.max_bits <= MAX_BITS_PER_READ:
            raise ValueError(f"max_bits must be 1..{MAX_BITS_PER_READ}")
        if self.max_register_gap < 0 or self.max_bit_gap < 0:
            raise ValueError("max gaps must be >= 0")

    def for_table(self, table: Table) -> tuple[int, int]:
        """(size limit, max gap) for requests on `table`."""
        if table.is_bit:
            return self.max_bits, self.max_bit_gap
        return self.max_registers, self.max_register_gap


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
