"""Decode one request's block of bytes into one (value, status) per tag with precompiled structs.

A driver that reads merged blocks (S7, MC) describes each tag as a field: where it starts in the
block, its struct code and a finishing step (a bit mask, a string's length byte, BCD digits). At plan
time the fields are laid into as few `struct.Struct`s as their overlaps allow — usually one — so a
poll decodes a whole request with one `unpack_from` and a pass over the finishers. Fields that share
their bytes and code (several bits of one byte) share one unpacked value.

Decoding never raises on device data: a finisher's ValueError (bad BCD, a string that is not valid
text) and a NaN or infinite float give (None, BAD_DECODING_ERROR). Scaling and the engineering range
are applied here too, so every driver reports them the same way.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.status import BAD_DECODING_ERROR, GOOD, UNCERTAIN_ENGINEERING_UNITS_EXCEEDED

Value = bool | int | float | str
Decoded = tuple[Value | None, int]
Finish = Callable[[object], Value]


@dataclass(frozen=True, slots=True)
class Field:
    """One tag inside a block: `code` is a struct code without byte order, e.g. 'H', 'f', '12s'."""

    offset: int  # bytes from the block's start
    code: str
    finish: Finish | None = None  # turns the unpacked item into the value (None: use it as it is)
    scale: float = 1.0
    shift: float = 0.0  # added after scaling
    range_min: float | None = None
    range_max: float | None = None

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code)


class _Lane:
    """One Struct over the block: non-overlapping items in offset order, pad bytes between them."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, int]] = []  # (offset, code, size), sorted
        self.end = 0

    def fits(self, offset: int) -> bool:
        return offset >= self.end

    def add(self, offset: int, code: str, size: int) -> int:
        self.items.append((offset, code, size))
        self.end = offset + size
        return len(self.items) - 1

    def compile(self, endian: str) -> struct.Struct:
        parts, at = [], 0
        for offset, code, size in self.items:
            if offset > at:
                parts.append(f"{offset - at}x")
            parts.append(code)
            at = offset + size
        return struct.Struct(endian + "".join(parts))


class BlockCodec:
    """Precompiled decoder of one block; `decode(data)` returns one Decoded per field, in field order."""

    __slots__ = ("_outputs", "_structs", "length")

    def __init__(self, endian: str, fields: Sequence[Field]) -> None:
        if endian not in "<>" or len(endian) != 1:
            raise ValueError("endian is '<' or '>'")
        lanes: list[_Lane] = []
        where: dict[tuple[int, str], tuple[int, int]] = {}
        order = sorted(range(len(fields)), key=lambda i: (fields[i].offset, -fields[i].size))
        for i in order:
            f = fields[i]
            key = (f.offset, f.code)
            if key in where:
                continue
            lane_no = next((n for n, lane in enumerate(lanes) if lane.fits(f.offset)), None)
            if lane_no is None:
                lanes.append(_Lane())
                lane_no = len(lanes) - 1
            where[key] = (lane_no, lanes[lane_no].add(f.offset, f.code, f.size))
        self._structs = tuple(lane.compile(endian) for lane in lanes)
        self._outputs = tuple((*where[f.offset, f.code], _converter(f)) for f in fields)
        self.length = max((lane.end for lane in lanes), default=0)

    def decode(self, data: bytes | bytearray | memoryview) -> list[Decoded]:
        if len(data) < self.length:
            return [(None, BAD_DECODING_ERROR)] * len(self._outputs)
        unpacked = [s.unpack_from(data) for s in self._structs]
        return [convert(unpacked[lane][item]) for lane, item, convert in self._outputs]


def _converter(f: Field) -> Callable[[object], Decoded]:
    finish, scale, shift, low, high = f.finish, f.scale, f.shift, f.range_min, f.range_max
    scaled = scale != 1.0 or shift != 0.0
    ranged = low is not None or high is not None

    def convert(item: object) -> Decoded:
        try:
            value = finish(item) if finish is not None else item
        except (ValueError, UnicodeDecodeError, IndexError):
            return None, BAD_DECODING_ERROR
        if isinstance(value, bool | str) or not isinstance(value, int | float):
            return value, GOOD  # type: ignore[return-value]
        if isinstance(value, float) and not math.isfinite(value):
            return None, BAD_DECODING_ERROR
        if scaled:
            value = value * scale + shift
        if ranged and ((low is not None and value < low) or (high is not None and value > high)):
            return value, UNCERTAIN_ENGINEERING_UNITS_EXCEEDED
        return value, GOOD

    return convert


def bit_of(bit: int) -> Finish:
    """Finisher for a bool taken from bit `bit` (0 = least significant) of an unpacked integer."""
    mask = 1 << bit

    def finish(item: object) -> Value:
        return bool(int(item) & mask)  # type: ignore[call-overload]

    return finish


def bcd_digits(value: int, digits: int) -> int:
    """The number written in `digits` BCD nibbles; ValueError for a nibble above 9."""
    out = 0
    for shift in range(4 * (digits - 1), -4, -4):
        nibble = (value >> shift) & 0xF
        if nibble > 9:
            raise ValueError("not BCD")
        out = out * 10 + nibble
    return out
