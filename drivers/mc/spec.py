"""The vocabulary of an MC tag: device codes, series (which decides X/Y notation), data types, the
address syntax and the compiled tag spec. No I/O here: the configuration layer parses plant files with it.

Addresses are written as GX Works shows them: `D100`, `D100.3` (bit 3 of D100; bits 0..F), `ZR2000`,
`SD210`, `M8`, `SM400`, `L20`, `F3`, `W1A` and `B1F` (hexadecimal on every series), `X17` / `Y20`
(octal on iQ-F FX5, hexadecimal on iQ-R, Q and L).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Series(StrEnum):
    IQ_R = "iq-r"
    Q = "q"
    L = "l"
    IQ_F = "iq-f"  # FX5U / FX5UC / FX5UJ

    @property
    def octal_xy(self) -> bool:
        """FX5 numbers X and Y in octal (X0..X7, X10..); the others in hexadecimal (X0..XF, X10..)."""
        return self is Series.IQ_F


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    code: int  # the device code byte of the 3E binary frame (Q/L-compatible numbering)
    bit: bool  # a bit device (one point is one bit)
    radix: int  # how GX Works writes its numbers (10 or 16; X/Y depend on the series)


class Device(StrEnum):
    D = "D"
    W = "W"
    R = "R"
    ZR = "ZR"
    SD = "SD"
    M = "M"
    X = "X"
    Y = "Y"
    B = "B"
    L = "L"
    F = "F"
    SM = "SM"

    @property
    def info(self) -> DeviceInfo:
        return DEVICES[self]

    @property
    def is_bit(self) -> bool:
        return DEVICES[self].bit


DEVICES: dict[Device, DeviceInfo] = {
    Device.D: DeviceInfo(0xA8, False, 10),
    Device.W: DeviceInfo(0xB4, False, 16),
    Device.R: DeviceInfo(0xAF, False, 10),
    Device.ZR: DeviceInfo(0xB0, False, 10),
    Device.SD: DeviceInfo(0xA9, False, 10),
    Device.M: DeviceInfo(0x90, True, 10),
    Device.X: DeviceInfo(0x9C, True, 16),
    Device.Y: DeviceInfo(0x9D, True, 16),
    Device.B: DeviceInfo(0xA0, True, 16),
    Device.L: DeviceInfo(0x92, True, 10),
    Device.F: DeviceInfo(0x93, True, 10),
    Device.SM: DeviceInfo(0x91, True, 10),
}


class McType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"

    def words(self, length: int | None = None) -> int:
        """Words this type occupies (a string: `length` characters, two per word)."""
        if self is McType.STRING:
            return ((length or 2) + 1) // 2
        return _WORDS[self]

    @property
    def value_kind(self) -> type:
        return {McType.BOOL: bool, McType.FLOAT32: float, McType.FLOAT64: float, McType.STRING: str}.get(
            self, int
        )


_WORDS = {
    McType.BOOL: 1, McType.INT16: 1, McType.UINT16: 1, McType.INT32: 2, McType.UINT32: 2,
    McType.FLOAT32: 2, McType.FLOAT64: 4,
}  # fmt: skip


class AddressError(ValueError):
    """An address that is not MC syntax or does not fit the series; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Address:
    device: Device
    number: int  # point number (decimal, whatever the notation it was written in)
    bit: int | None = None  # bit of a word device, 0..15


# longest device names first, so SD is not read as S + D
_ADDRESS = re.compile(r"^(ZR|SD|SM|D|W|R|M|X|Y|B|L|F)([0-9A-F]+)(?:\.([0-9A-F]))?$")


def parse_address(text: str, series: Series = Series.Q) -> Address:
    """'D100.3' -> Address(D, 100, 3); 'X17' -> X 15 on iQ-F (octal) or X 23 elsewhere (hex)."""
    m = _ADDRESS.match(text.strip().upper())
    if m is None:
        raise AddressError(
            f"{text!r} is not an MC device address; write it as GX Works shows it, e.g. D100, D100.3, "
            "ZR2000, SD210, M8, SM400, X1F, Y20, W1A, B1F, L20, F3"
        )
    device = Device(m.group(1))
    radix = 8 if device in (Device.X, Device.Y) and series.octal_xy else device.info.radix
    try:
        number = int(m.group(2), radix)
    except ValueError:
        notation = {8: "octal", 10: "decimal", 16: "hexadecimal"}[radix]
        raise AddressError(
            f"{text!r}: {device.value} numbers are {notation} on {series.value} CPUs"
        ) from None
    bit = int(m.group(3), 16) if m.group(3) is not None else None
    if bit is not None and device.is_bit:
        raise AddressError(f"{text!r}: {device.value} is a bit device; a '.bit' applies to word devices")
    if number > 0xFFFFFF:
        raise AddressError(f"{text!r}: device number beyond the 3E frame's 24-bit range")
    return Address(device, number, bit)


def format_address(device: Device, number: int, series: Series = Series.Q) -> str:
    radix = 8 if device in (Device.X, Device.Y) and series.octal_xy else device.info.radix
    digits = {8: f"{number:o}", 10: f"{number}", 16: f"{number:X}"}[radix]
    return f"{device.value}{digits}"


@dataclass(frozen=True, slots=True)
class McTagSpec:
    name: str
    device: Device
    number: int
    type: McType
    bit: int | None = None  # a bool from bit N of a word device
    length: int | None = None  # characters of a string
    scale: float = 1.0
    shift: float = 0.0
    range_min: float | None = None
    range_max: float | None = None

    @property
    def words(self) -> int:
        """Words read for this tag: a bit device's point rides in the word of 16 points around it."""
        return 1 if self.device.is_bit else self.type.words(self.length)

    @property
    def first_word(self) -> int:
        """Index of the first word read, in words of this device (bit devices: 16 points a word)."""
        return self.number // 16 if self.device.is_bit else self.number
