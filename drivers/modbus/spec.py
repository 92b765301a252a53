"""The vocabulary of a Modbus tag: tables, data types, byte orders and the compiled tag spec.

The configuration layer (collector/config) validates YAML into these types; the planner, decoder and
driver work only with them, so the driver never sees YAML and the config never sees pymodbus.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Table(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    INPUT_REGISTER = "input_register"
    HOLDING_REGISTER = "holding_register"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)


# Modicon prefix digit of each table (0xxxx coils, 1xxxx inputs, 3xxxx input regs, 4xxxx holding regs).
MODICON_PREFIX: dict[int, Table] = {
    0: Table.COIL,
    1: Table.DISCRETE_INPUT,
    3: Table.INPUT_REGISTER,
    4: Table.HOLDING_REGISTER,
}


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"
    BCD16 = "bcd16"
    BCD32 = "bcd32"

    def register_count(self, length: int | None = None) -> int:
        """Registers this type occupies; strings take `length` registers."""
        if self is DataType.STRING:
            return length or 1
        return _REGISTERS[self]


_REGISTERS: dict[DataType, int] = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.BCD16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.BCD32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT64: 4,
}


class ByteOrder(StrEnum):
    """Order of the value's bytes on the wire, A being the most significant byte.

    The 4-letter names apply to 32-bit values; for 64-bit values each maps to its 8-byte equivalent
    (ABCD→ABCDEFGH, BADC→BADCFEHG, CDAB→GHEFCDAB, DCBA→HGFEDCBA), which may also be named directly.
    For strings, AB/BA (the 16-bit orders) say whether the first character is the high or low byte.
    """

    AB = "AB"
    BA = "BA"
    ABCD = "ABCD"
    BADC = "BADC"
    CDAB = "CDAB"
    DCBA = "DCBA"
    ABCDEFGH = "ABCDEFGH"
    BADCFEHG = "BADCFEHG"
    GHEFCDAB = "GHEFCDAB"
    HGFEDCBA = "HGFEDCBA"


@dataclass(frozen=True, slots=True)
class ModbusTagSpec:
    """One tag after validation: where it lives on the wire and how to decode it."""

    name: str
    unit_id: int
    table: Table
    address: int  # 0-based wire address
    data_type: DataType
    byte_order: ByteOrder = ByteOrder.ABCD
    bit: int | None = None  # for bool in a register: bit 0 (LSB) .. 15
    length: int | None = None  # registers, strings only
    scale: float = 1.0
    offset: float = 0.0
    range_min: float | None = None
    range_max: float | None = None
    writable: bool = False

    @property
    def count(self) -> int:
        """Registers (or bits) read for this tag."""
        if self.table.is_bit:
            return 1
        return self.data_type.register_count(self.length)

    @property
    def end(self) -> int:
        """Exclusive end address."""
        return self.address + self.count
