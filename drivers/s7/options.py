"""What one S7 driver is given: where the PLC is, how to address its CPU, and the compiled tags.

Built by the configuration layer (`S7Device.driver_options()`); no protocol library is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.s7.spec import S7TagSpec

# What the client asks for at connection set-up; the CPU answers with what it grants (S7-1200: 240,
# S7-1500 and S7-300/400 CPs: 480 or 960). Requests are planned within what was granted.
DEFAULT_PDU_SIZE = 480
# Items one S7 read request may carry: the classic S7 limit most CPUs enforce.
MAX_ITEMS_PER_REQUEST = 20


class ConnectionType(IntEnum):
    """The first byte of the remote TSAP: which connection resource of the CPU is used."""

    PG = 1  # programming device: what TIA Portal uses; always available
    OP = 2  # operator panel
    S7_BASIC = 3


@dataclass(frozen=True, slots=True)
class Tsap:
    """Explicit TSAPs (S7-200 SMART, LOGO!, CPs behind routing): local and remote, as 16-bit numbers."""

    local: int
    remote: int

    def __post_init__(self) -> None:
        if not (0 <= self.local <= 0xFFFF and 0 <= self.remote <= 0xFFFF):
            raise ValueError("TSAPs are 16-bit numbers, e.g. 0x0100 / 0x0101")


@dataclass(frozen=True, slots=True)
class S7DriverOptions:
    id: str
    host: str
    tags: tuple[S7TagSpec, ...]
    port: int = 102
    rack: int = 0
    slot: int = 1
    tsap: Tsap | None = None  # instead of rack/slot
    connection_type: ConnectionType = ConnectionType.PG
    pdu_size: int = DEFAULT_PDU_SIZE
    timeout: float = 1.0  # seconds per request (and for connecting)
    max_gap: int = 16  # unused bytes one read may span to merge two tags
    string_encoding: str = "gbk"  # the code page of single-byte STRING / CHAR (Chinese HMIs: GBK)
    unreadable_ttl: float | None = 600.0  # how long a tag the CPU refused is skipped

    @property
    def remote_tsap(self) -> int:
        """The remote TSAP: explicit, or built from connection type, rack and slot."""
        if self.tsap is not None:
            return self.tsap.remote
        return (int(self.connection_type) << 8) | (self.rack << 5) | self.slot

    @property
    def endpoint(self) -> str:
        where = f"tsap {self.tsap.remote:#06x}" if self.tsap else f"rack {self.rack} slot {self.slot}"
        return f"s7://{self.host}:{self.port} {where}"
