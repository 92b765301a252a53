"""Siemens S7 devices and their tags."""

from __future__ import annotations

import builtins
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from collector.config.common import Strict
from collector.config.device import DeviceBase
from collector.config.plctag import PlcTag, address_error
from collector.config.units import Duration
from drivers.s7.options import DEFAULT_PDU_SIZE, ConnectionType, S7DriverOptions, Tsap
from drivers.s7.spec import TYPE_ALIASES, Address, AddressError, S7TagSpec, S7Type, parse_address


class S7Tag(PlcTag):
    address: str = Field(description="as TIA Portal shows it: DB1.DBD0, DB1.DBX4.3, MW20, I0.0, VD100, T5")
    type: S7Type | None = Field(None, description="bool, int, dint, real, string ...; or a ':TYPE' suffix")

    @model_validator(mode="after")
    def _address_fits_type(self) -> S7Tag:
        self.resolved()
        return self

    def resolved(self) -> tuple[Address, S7Type]:
        """The parsed address and the tag's type; a located error when they do not fit."""
        try:
            a = parse_address(self.address)
        except AddressError as exc:
            raise address_error("s7", exc) from None
        if self.type is not None and a.type is not None and self.type is not a.type:
            raise _error(
                f"type {self.type.value} contradicts the address's :{a.type.value.upper()}", "keep one"
            )
        type_ = self.type or a.type or _implied(a)
        if type_ is None:
            names = ", ".join(sorted(TYPE_ALIASES))
            raise _error(f"{self.address!r} needs a type", f"add type: one of {names}")
        if (a.bit is not None) != (type_ is S7Type.BOOL):
            raise _error(f"{type_.value} does not fit {self.address!r}", "a bool has a bit address (M10.0)")
        if a.area.counted != (type_ in (S7Type.TIMER, S7Type.COUNTER)):
            raise _error(f"{type_.value} does not fit {self.address!r}", "T addresses are timer, C counter")
        size = type_.size(self.length or a.length)
        if a.size is not None and size <= 4 and size != a.size:
            raise _error(f"{type_.value} is {size} bytes but {self.address!r} names {a.size}",
                         "use B for 1 byte, W for 2, D for 4 (e.g. DB1.DBD0 for a real)")  # fmt: skip
        return a, type_

    def spec(self) -> S7TagSpec:
        a, type_ = self.resolved()
        low, high = self.bounds()
        length = self.length or a.length
        return S7TagSpec(
            self.name, a.area, a.db, a.offset, type_, a.bit, length, self.scale, self.offset, low, high
        )

    @property
    def value_kind(self) -> builtins.type:
        return self.policy_kind(self.resolved()[1].value_kind)


def _implied(a: Address) -> S7Type | None:
    if a.bit is not None:
        return S7Type.BOOL
    if a.area.counted:
        return S7Type.TIMER if a.area.value == "t" else S7Type.COUNTER
    return S7Type.BYTE if a.size == 1 else None


def _error(message: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError("s7_type", "{message}", {"message": message, "hint": hint})


class S7Tsap(Strict):
    local: int = Field(ge=0, le=0xFFFF, description="e.g. 0x0100 (write hex as 0x...)")
    remote: int = Field(ge=0, le=0xFFFF, description="e.g. 0x0101 for an S7-200 SMART")


class S7Device(DeviceBase):
    protocol: Literal["s7"]
    host: str
    port: int = Field(102, ge=1, le=65535)
    rack: int = Field(0, ge=0, le=7)
    slot: int = Field(1, ge=0, le=31, description="S7-1200/1500 and S7-200 SMART: 1; S7-300: 2")
    tsap: S7Tsap | None = Field(None, description="explicit TSAPs instead of rack/slot")
    connection_type: Literal["pg", "op", "s7_basic"] = "pg"
    pdu_size: int = Field(DEFAULT_PDU_SIZE, ge=240, le=960, description="asked for; the CPU grants its own")
    max_gap: int = Field(16, ge=0, le=256, description="unused bytes a merged read may span")
    string_encoding: str = Field("gbk", description="code page of STRING and CHAR")
    unreadable_memory: Duration = Field(600.0, description="how long a tag the CPU refused is skipped")
    tags: list[S7Tag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _encoding_known(self) -> S7Device:
        try:
            "".encode(self.string_encoding)
        except LookupError:
            raise PydanticCustomError(
                "encoding",
                "unknown encoding {value!r}",
                {"value": self.string_encoding, "hint": "e.g. gbk, utf-8"},
            ) from None
        return self

    def tag_source(self, tag: S7Tag) -> tuple[str, str]:
        """(address as the PLC names it, data type) for the data-point register."""
        spec = tag.spec()
        return f"{spec.address} {self.host}:{self.port}", spec.type.value

    def _tsap(self) -> Tsap | None:
        return Tsap(self.tsap.local, self.tsap.remote) if self.tsap else None

    def driver_options(self) -> S7DriverOptions:
        return S7DriverOptions(
            id=self.id, host=self.host, tags=tuple(t.spec() for t in self.tags), port=self.port,
            rack=self.rack, slot=self.slot, tsap=self._tsap(),
            connection_type=ConnectionType[self.connection_type.upper()], pdu_size=self.pdu_size,
            timeout=self.timeout, max_gap=self.max_gap, string_encoding=self.string_encoding,
            unreadable_ttl=self.unreadable_memory,
        )  # fmt: skip
