"""Mitsubishi MC protocol devices (3E binary frame) and their tags."""

from __future__ import annotations

import builtins
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collector.config.device import DeviceBase
from collector.config.plctag import PlcTag, address_error
from collector.config.units import Duration
from drivers.mc.options import MAX_WORDS_PER_READ, McDriverOptions
from drivers.mc.spec import Address, AddressError, McTagSpec, McType, Series, parse_address


class McTag(PlcTag):
    address: str = Field(description="as GX Works shows it: D100, D100.3, ZR2000, M8, X1F (X17 on FX5)")
    type: McType | None = Field(None, description="default: bool on bit devices and D100.3, else int16")

    @model_validator(mode="after")
    def _type_fits(self) -> McTag:
        if self.type is McType.STRING and self.length is None:
            raise PydanticCustomError(
                "mc_type", "a string tag needs its length in characters", {"hint": "add length: N"}
            )
        return self

    def resolved(self, series: Series) -> tuple[Address, McType]:
        try:
            a = parse_address(self.address, series)
        except AddressError as exc:
            raise address_error("mc", exc) from None
        bitwise = a.device.is_bit or a.bit is not None
        type_ = self.type or (McType.BOOL if bitwise else McType.INT16)
        if bitwise != (type_ is McType.BOOL):
            hint = "bit devices and D100.3-style addresses are bool" if bitwise else "write the bit: D100.3"
            raise PydanticCustomError(
                "mc_type",
                "{type} does not fit {address!r}",
                {"type": type_.value, "address": self.address, "hint": hint},
            )
        return a, type_

    def spec(self, series: Series) -> McTagSpec:
        a, type_ = self.resolved(series)
        low, high = self.bounds()
        return McTagSpec(
            self.name, a.device, a.number, type_, a.bit, self.length, self.scale, self.offset, low, high
        )

    def value_kind(self, series: Series) -> builtins.type:
        return self.policy_kind(self.resolved(series)[1].value_kind)


class McDevice(DeviceBase):
    protocol: Literal["mc"]
    host: str
    port: int = Field(ge=1, le=65535, description="the MC protocol port set in the CPU's Ethernet settings")
    series: Series = Field(Series.Q, description="iq-r, q, l or iq-f (FX5): decides X/Y notation")
    network: int = Field(0, ge=0, le=255)
    station: int = Field(0xFF, ge=0, le=255, description="PC number; 255 = the CPU with the port")
    module_io: int = Field(0x03FF, ge=0, le=0xFFFF, description="request destination module I/O number")
    max_words: int = Field(MAX_WORDS_PER_READ, ge=1, le=MAX_WORDS_PER_READ, description="words per read")
    max_gap: int = Field(16, ge=0, le=MAX_WORDS_PER_READ, description="unused words a merged read may span")
    string_encoding: str = Field("gbk", description="code page of string tags")
    unreadable_memory: Duration = Field(600.0, description="how long a tag the CPU refused is skipped")
    tags: list[McTag] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _addresses_fit_series(cls, tags: list[McTag], info: ValidationInfo) -> list[McTag]:
        series = info.data.get("series", Series.Q)
        for tag in tags:
            tag.resolved(series)  # X/Y notation depends on the series
        return tags

    def tag_source(self, tag: McTag) -> tuple[str, str]:
        """(address as GX Works names it, data type) for the data-point register."""
        return f"{tag.address.upper()} {self.host}:{self.port} {self.series.value}", tag.resolved(
            self.series
        )[1].value

    def driver_options(self) -> McDriverOptions:
        return McDriverOptions(
            id=self.id, host=self.host, port=self.port, tags=tuple(t.spec(self.series) for t in self.tags),
            series=self.series, network=self.network, station=self.station, module_io=self.module_io,
            timeout=self.timeout, max_words=self.max_words, max_gap=self.max_gap,
            string_encoding=self.string_encoding, unreadable_ttl=self.unreadable_memory,
        )  # fmt: skip
