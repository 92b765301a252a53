"""Per-device quirks of simulated PLCs and the Modbus exception codes they produce."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import IntEnum

from simulators.modbus.profiles import Table


class ExceptionCode(IntEnum):
    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SLAVE_DEVICE_FAILURE = 0x04
    SLAVE_DEVICE_BUSY = 0x06


@dataclass(frozen=True)
class Quirks:
    """Behaviour of one simulated device that real PLCs and meters get "wrong".

    Addresses in ``holes`` are profile (documented) addresses, so they move with
    ``address_base`` together with the rest of the map. Ranges are inclusive.
    """

    # 1: the documented register N sits at wire address N (map shifted by one).
    address_base: int = 0
    # Largest read/write quantity accepted per request (exception 03 above it).
    max_registers: int = 125
    max_bits: int = 2000
    # (table, start, end) unmapped ranges inside the map: exception 02.
    holes: Sequence[tuple[Table | str, int, int]] = ()
    # Every Nth request to the device answers 06 SLAVE DEVICE BUSY (0 = never).
    busy_every: int = 0
    # Probability of 06 per request, drawn from a seeded RNG (reproducible).
    busy_probability: float = 0.0
    # Extra latency before every answer, seconds.
    delay_s: float = 0.0
    # Unit ids on the line that never answer (request silently swallowed).
    dead_units: Collection[int] = frozenset()
    # Offset added to registers marked ``counter: true`` (start near a 16-bit wrap).
    counter_start: int = 0
    # Overrides the simulator-level byte order for 32/64-bit values when set.
    byte_order: str | None = None

    def __post_init__(self) -> None:
        if self.address_base not in (0, 1):
            raise ValueError(f"address_base must be 0 or 1, got {self.address_base}")
        if not 1 <= self.max_registers <= 125 or not 1 <= self.max_bits <= 2000:
            raise ValueError("max_registers must be 1..125 and max_bits 1..2000")
        if not 0.0 <= self.busy_probability <= 1.0:
            raise ValueError("busy_probability must be within 0..1")
        # Accept any iterable of ints from callers (sets, lists) but store a frozenset.
        object.__setattr__(self, "dead_units", frozenset(self.dead_units))
        object.__setattr__(self, "holes", tuple((Table(t), int(s), int(e)) for t, s, e in self.holes))
