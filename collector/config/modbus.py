"""Modbus devices (TCP, RTU, RTU over TCP) and their tags."""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import BusinessLink, Id, Strict
from collector.config.device import DeviceBase
from collector.config.units import Duration
from drivers.modbus.options import Endpoint, Kind, ModbusDriverOptions, PlanLimits, SerialSettings
from drivers.modbus.spec import MODICON_PREFIX, ByteOrder, DataType, ModbusTagSpec, Table

_ADDRESS_HINT = (
    "write a Modicon reference such as 40001 / 300001 (1-based, table from the first digit), "
    "or {table: holding_register, offset: 0}"
)


class Notation(StrEnum):
    MODICON = "modicon"  # 40001-style, always 1-based
    OFFSET = "offset"  # table + offset, base from the device's address_base


# An offset in these ranges is what a Modicon reference of the table looks like: {table:
# holding_register, offset: 40001} is almost always "40001" copied from a manual into the wrong form.
_MODICON_LOOKALIKE = {
    Table.HOLDING_REGISTER: range(40000, 50000),
    Table.INPUT_REGISTER: range(30000, 40000),
    Table.DISCRETE_INPUT: range(10000, 20000),
}


class ModbusAddress(Strict):
    table: Table
    offset: int = Field(ge=0, le=65535)
    notation: Notation = Notation.OFFSET
    literal: bool = Field(
        False, description="the offset is meant as written even though it looks like a Modicon reference"
    )

    @model_validator(mode="after")
    def _not_a_modicon_reference(self) -> ModbusAddress:
        lookalike = _MODICON_LOOKALIKE.get(self.table)
        if self.notation is Notation.OFFSET and not self.literal and lookalike and self.offset in lookalike:
            first = lookalike.start + 1
            ref = max(self.offset, first)
            raise PydanticCustomError(
                "modbus_modicon_offset",
                "offset {offset} in {table} looks like the Modicon reference {ref}, which is "
                "{table} {wire} on the wire",
                {
                    "offset": self.offset,
                    "table": self.table.value,
                    "ref": ref,
                    "wire": ref - first,
                    "hint": f"write address: {ref} (the Modicon form), or {{table: {self.table.value}, "
                    f"offset: {ref - first}}} with address_base 0; if the device really has registers "
                    f"numbered {self.offset} on the wire (SunSpec maps start at 40000), add literal: true",
                },
            )
        return self


@functools.lru_cache(maxsize=1 << 16)  # frozen, so shared: devices of one model repeat one address map
def _parse_modicon(text: str) -> ModbusAddress:
    digits = len(text)
    number = int(text)
    if digits in (5, 6):
        prefix = int(text[0])
        ref = int(text[1:])
        if prefix in MODICON_PREFIX and 1 <= ref <= (9999 if digits == 5 else 65536):
            return ModbusAddress(table=MODICON_PREFIX[prefix], offset=ref - 1, notation=Notation.MODICON)
    raise PydanticCustomError(
        "modbus_address", "'{value}' is not a Modicon reference", {"value": number, "hint": _ADDRESS_HINT}
    )


def _parse_address(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("modbus_address", "not an address", {"hint": _ADDRESS_HINT})
    if isinstance(value, int):
        if value < 10000:
            raise PydanticCustomError(
                "modbus_address",
                "{value} is ambiguous: a plain number below 10000 is neither a Modicon reference nor a table",
                {
                    "value": value,
                    "hint": f"for coils write the string '0{value:04d}'; otherwise {_ADDRESS_HINT}",
                },
            )
        return _parse_modicon(str(value))
    if isinstance(value, str) and value.strip().isdigit():
        return _parse_modicon(value.strip())
    return value  # a mapping: validated as ModbusAddress


Address = Annotated[ModbusAddress, BeforeValidator(_parse_address)]


class ModbusTag(Strict):
    name: Id
    name_zh: str | None = None
    description: str | None = None
    address: Address
    type: DataType = DataType.UINT16
    byte_order: ByteOrder | None = Field(None, description="defaults to the device's byte_order")
    bit: int | None = Field(None, ge=0, le=15, description="bool taken from bit N (0 = LSB) of a register")
    length: int | None = Field(None, ge=1, le=125, description="registers of a string tag")
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    range: tuple[float, float] | None = Field(None, description="engineering range; outside is Uncertain")
    deadband: float | None = Field(None, ge=0)
    writable: bool = False
    business_link: BusinessLink | None = None
    required: bool = True
    view: bool = Field(
        False, description="reads registers another tag also reads, as another type, on purpose (overlap.py)"
    )

    @property
    def value_type(self) -> DataType:
        """The type of the values the decoder returns: raw × scale + offset is a float64."""
        scaled = self.scale != 1.0 or self.offset != 0.0
        if scaled and self.type not in (DataType.BOOL, DataType.STRING):
            return DataType.FLOAT64
        return self.type

    @model_validator(mode="after")
    def _type_fits_table(self) -> ModbusTag:
        table = self.address.table
        if table.is_bit and self.type is not DataType.BOOL:
            raise PydanticCustomError(
                "modbus_type", f"a {table.value} holds one bit", {"hint": "use type: bool"}
            )
        if not table.is_bit and self.type is DataType.BOOL and self.bit is None:
            raise PydanticCustomError(
                "modbus_type", "a bool in a register needs the bit number", {"hint": "add bit: 0..15"}
            )
        if self.bit is not None and (table.is_bit or self.type is not DataType.BOOL):
            raise PydanticCustomError(
                "modbus_type", "bit applies only to type bool in a register", {"hint": "remove bit"}
            )
        if self.type is DataType.STRING and self.length is None:
            raise PydanticCustomError(
                "modbus_type", "a string tag needs its length in registers", {"hint": "add length: N"}
            )
        if self.writable and table in (Table.DISCRETE_INPUT, Table.INPUT_REGISTER):
            raise PydanticCustomError(
                "modbus_writable",
                f"a {table.value} is read-only on every device",
                {"hint": "remove writable"},
            )
        if self.range is not None and self.range[0] > self.range[1]:
            raise PydanticCustomError("range_order", "range is [min, max] with min <= max", {})
        return self


class ModbusOptions(Strict):
    """What every Modbus device shares, whatever the transport."""

    unit_id: int = Field(1, ge=0, le=255)
    address_base: Literal[0, 1] = Field(0, description="base of table+offset addresses; Modicon is 1-based")
    byte_order: ByteOrder = ByteOrder.ABCD
    max_registers: int = Field(125, ge=1, le=125)
    max_bits: int = Field(2000, ge=1, le=2000)
    max_gap: int = Field(10, ge=0, le=124, description="unused registers a merged read may span")
    retries: int = Field(1, ge=0, le=10)
    hole_memory: Duration = Field(600.0, description="how long an unreadable range (exception 02) is skipped")
    tags: list[ModbusTag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _offsets_fit_base(self) -> ModbusOptions:
        for tag in self.tags:
            if tag.address.notation is Notation.OFFSET and tag.address.offset < self.address_base:
                raise PydanticCustomError(
                    "modbus_base",
                    "tag {tag!r} has offset {offset} but the device's address_base is 1",
                    {
                        "tag": tag.name,
                        "offset": tag.address.offset,
                        "hint": "with address_base: 1 the first register is offset 1; or set address_base: 0",
                    },
                )
        return self

    def wire_address(self, tag: ModbusTag) -> int:
        """The 0-based address sent on the wire."""
        if tag.address.notation is Notation.MODICON:
            return tag.address.offset
        return tag.address.offset - self.address_base

    def tag_specs(self) -> list[ModbusTagSpec]:
        """The compiled tags the planner and decoder work with."""
        return [
            ModbusTagSpec(
                name=tag.name,
                unit_id=self.unit_id,
                table=tag.address.table,
                address=self.wire_address(tag),
                data_type=tag.type,
                byte_order=tag.byte_order or self.byte_order,
                bit=tag.bit,
                length=tag.length,
                scale=tag.scale,
                offset=tag.offset,
                range_min=tag.range[0] if tag.range else None,
                range_max=tag.range[1] if tag.range else None,
                writable=tag.writable,
            )
            for tag in self.tags
        ]

    def addressing_note(self) -> str:
        """Which address convention was assumed, for the config summary."""
        modicon = sum(1 for t in self.tags if t.address.notation is Notation.MODICON)
        offset = len(self.tags) - modicon
        parts = []
        if modicon:
            parts.append(f"{modicon} Modicon (1-based: 40001 -> holding_register 0)")
        if offset:
            parts.append(f"{offset} table+offset (address_base {self.address_base})")
        return ", ".join(parts) or "no tags"


class ModbusDevice(DeviceBase, ModbusOptions):
    """A Modbus device on any transport; the concrete models below say where it is."""

    def driver_options(self) -> ModbusDriverOptions:
        """What the driver is given: the compiled tags and limits, where the device is."""
        return ModbusDriverOptions(
            id=self.id,
            endpoint=self.endpoint(),
            unit_id=self.unit_id,
            timeout=self.timeout,
            retries=self.retries,
            tags=tuple(self.tag_specs()),
            limits=PlanLimits(self.max_registers, self.max_bits, self.max_gap),
            hole_ttl=self.hole_memory,
        )

    def endpoint(self) -> Endpoint:
        raise NotImplementedError  # each transport's device model says where it is


class ModbusTcpDevice(ModbusDevice):
    protocol: Literal["modbus_tcp"]
    host: str
    port: int = Field(502, ge=1, le=65535)

    def endpoint(self) -> Endpoint:
        return Endpoint(Kind.TCP, self.host, self.port)


class ModbusRtuOverTcpDevice(ModbusDevice):
    protocol: Literal["modbus_rtu_over_tcp"]
    host: str
    port: int = Field(ge=1, le=65535)

    def endpoint(self) -> Endpoint:
        return Endpoint(Kind.RTU_OVER_TCP, self.host, self.port)


class Parity(StrEnum):
    NONE = "N"
    EVEN = "E"
    ODD = "O"


class SerialLine(Strict):
    port: str = Field(description="e.g. /dev/ttyUSB0 or COM3")
    baudrate: int = Field(9600, ge=300, le=921600)
    parity: Parity = Parity.NONE
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class ModbusRtuDevice(ModbusDevice):
    protocol: Literal["modbus_rtu"]
    serial: SerialLine

    def endpoint(self) -> Endpoint:
        s = self.serial
        return Endpoint(
            Kind.RTU, serial=SerialSettings(s.port, s.baudrate, s.parity.value, s.stopbits, s.bytesize)
        )
