"""Turn a tag's raw registers or bits into its value and quality, and back.

This is the hot path (thousands of tags per second), so everything that depends only on the tag spec —
struct formats, word/byte permutation, scaling flags — is worked out once in `TagDecoder` and the
per-sample work is one `pack`/`unpack` pair plus a few comparisons.

Byte orders are reduced to two independent facts (see `layout`): whether the bytes inside each
register are swapped, and whether the register order is reversed. That makes every order apply to
every width consistently:

* 32-bit: ABCD = neither, BADC = swap, CDAB = reverse, DCBA = both.
* 64-bit: a 4-letter order means its 8-byte equivalent (ABCD→ABCDEFGH, BADC→BADCFEHG,
  CDAB→GHEFCDAB, DCBA→HGFEDCBA), which is what the same two facts give over four registers.
* 16-bit values, bcd16 and strings only honour the swap: ABCD/CDAB behave as AB, BADC/DCBA as BA.
* AB/BA on a wider tag mean "no swap"/"swap" with registers in natural order (ABCD/BADC).

Decoding never raises on device data: anything undecodable comes back as (None, BAD_DECODING_ERROR).
Invalid *specs* (a bit number on an int, a string without registers) raise ValueError when compiled.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

from drivers.modbus.spec import ByteOrder, DataType, ModbusTagSpec
from drivers.status import BAD_DECODING_ERROR, GOOD, UNCERTAIN_ENGINEERING_UNITS_EXCEEDED

Value = bool | int | float | str
Decoded = tuple[Value | None, int]

_SWAPPED = frozenset({ByteOrder.BA, ByteOrder.BADC, ByteOrder.DCBA, ByteOrder.BADCFEHG, ByteOrder.HGFEDCBA})
_REVERSED = frozenset({ByteOrder.CDAB, ByteOrder.DCBA, ByteOrder.GHEFCDAB, ByteOrder.HGFEDCBA})

# struct code of the big-endian value for each fixed-width numeric type.
_NUMERIC_CODES: dict[DataType, str] = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
    DataType.BCD16: "H",
    DataType.BCD32: "I",
}
_FLOATS = frozenset({DataType.FLOAT32, DataType.FLOAT64})
_BCD_DIGITS = {DataType.BCD16: 4, DataType.BCD32: 8}
# Decoding failures from device data: wrong word count, words outside 0..65535, non-int words.
_DATA_ERRORS = (struct.error, TypeError, ValueError, OverflowError, IndexError)


def layout(order: ByteOrder) -> tuple[bool, bool]:
    """(swap bytes within each register, reverse register order) for a byte order."""
    return order in _SWAPPED, order in _REVERSED


def _word_codec(count: int, swap: bool) -> struct.Struct:
    """Struct turning `count` registers into the value's bytes in register order."""
    return struct.Struct(f"{'<' if swap else '>'}{count}H")


class TagDecoder:
    """Compiled decoder for one tag: build once per spec, call `decode` per sample."""

    __slots__ = (
        "_check_range",
        "_count",
        "_is_bit_table",
        "_raw",
        "_scaled",
        "_value",
        "_words",
        "reverse",
        "spec",
        "swap",
    )

    def __init__(self, spec: ModbusTagSpec) -> None:
        _validate(spec)
        self.spec = spec
        self.swap, self.reverse = layout(spec.byte_order)
        self._count = spec.count
        self._is_bit_table = spec.table.is_bit
        self._words = _word_codec(self._count, self.swap)
        code = _NUMERIC_CODES.get(spec.data_type)
        self._value = struct.Struct(f">{code}") if code else None
        self._raw = self._raw_reader()
        numeric = spec.data_type not in (DataType.BOOL, DataType.STRING)
        self._scaled = numeric and (spec.scale != 1 or spec.offset != 0)
        self._check_range = numeric and (spec.range_min is not None or spec.range_max is not None)

    def _raw_reader(self) -> Callable[[Sequence[int]], Value | None]:
        dt = self.spec.data_type
        if dt is DataType.BOOL:
            return self._read_bool
        if dt is DataType.STRING:
            return self._read_string
        if dt in _BCD_DIGITS:
            return self._read_bcd
        return self._read_number

    def decode(self, words: Sequence[int]) -> Decoded:
        """Value and status from the tag's registers (or its single bit as [0]/[1])."""
        if len(words) != self._count:
            return None, BAD_DECODING_ERROR
        try:
            raw = self._raw(words)
        except _DATA_ERRORS:
            return None, BAD_DECODING_ERROR
        if raw is None:  # invalid BCD
            return None, BAD_DECODING_ERROR
        if isinstance(raw, bool | str):  # no scaling or range for these
            return raw, GOOD
        return self._finish(raw)

    def _finish(self, raw: int | float) -> Decoded:
        value: int | float = raw * self.spec.scale + self.spec.offset if self._scaled else raw
        if isinstance(value, float) and not math.isfinite(value):
            return None, BAD_DECODING_ERROR
        if self._check_range and self._out_of_range(value):
            return value, UNCERTAIN_ENGINEERING_UNITS_EXCEEDED
        return value, GOOD

    def _out_of_range(self, value: int | float) -> bool:
        lo, hi = self.spec.range_min, self.spec.range_max
        return (lo is not None and value < lo) or (hi is not None and value > hi)

    def _value_bytes(self, words: Sequence[int]) -> bytes:
        return self._words.pack(*(words[::-1] if self.reverse else words))

    def _read_number(self, words: Sequence[int]) -> int | float:
        assert self._value is not None
        value: int | float = self._value.unpack(self._value_bytes(words))[0]
        return value

    def _read_bcd(self, words: Sequence[int]) -> int | None:
        assert self._value is not None
        packed: int = self._value.unpack(self._value_bytes(words))[0]
        # Each hex digit is one BCD digit; a-f means the device sent garbage, not a number.
        digits = f"{packed:x}"
        return int(digits) if digits.isdigit() else None

    def _read_bool(self, words: Sequence[int]) -> bool:
        word = words[0]
        if not 0 <= word <= 0xFFFF:
            raise ValueError(word)
        bit = self.spec.bit
        if bit is None or self._is_bit_table:
            return word != 0
        return bool(word >> bit & 1)

    def _read_string(self, words: Sequence[int]) -> str:
        # Only the swap matters: a string is a byte sequence, not a number with a word order.
        data = self._words.pack(*words).rstrip(b"\x00 ")
        return data.decode("utf-8", errors="replace")

    def decode_bits(self, bits: Sequence[bool | int]) -> Decoded:
        """Value of a coil/discrete-input tag from the bits read for it."""
        if len(bits) != 1:
            return None, BAD_DECODING_ERROR
        return bool(bits[0]), GOOD

    def encode(self, value: Value) -> list[int]:
        """Registers (or [bit]) that decode back to `value`; raises ValueError if it cannot fit."""
        dt = self.spec.data_type
        if dt is DataType.BOOL:
            return self._encode_bool(value)
        if dt is DataType.STRING:
            return self._encode_string(value)
        assert self._value is not None
        raw = _to_raw_number(self.spec, value)
        try:
            data = self._value.pack(raw)
        except (struct.error, OverflowError) as exc:
            raise ValueError(f"tag {self.spec.name!r}: {value!r} does not fit {dt.value}") from exc
        words = list(self._words.unpack(data))
        return words[::-1] if self.reverse else words

    def _encode_bool(self, value: Value) -> list[int]:
        if not isinstance(value, bool | int):
            raise ValueError(f"tag {self.spec.name!r}: {value!r} is not a bool")
        bit = self.spec.bit
        if bit is None or self._is_bit_table:
            return [1 if value else 0]
        # Only this bit is meaningful: a write must merge it into the register (mask write, FC22).
        return [1 << bit if value else 0]

    def _encode_string(self, value: Value) -> list[int]:
        if not isinstance(value, str):
            raise ValueError(f"tag {self.spec.name!r}: {value!r} is not a string")
        data = value.encode("utf-8")
        size = 2 * self._count
        if len(data) > size:
            raise ValueError(f"tag {self.spec.name!r}: {len(data)} bytes do not fit {size}")
        return list(self._words.unpack(data.ljust(size, b"\x00")))


def _to_raw_number(spec: ModbusTagSpec, value: Value) -> int | float:
    """Undo scale/offset and convert to what the wire type holds (ints rounded, BCD as nibbles)."""
    if isinstance(value, bool | str) or not isinstance(value, int | float):
        raise ValueError(f"tag {spec.name!r}: {value!r} is not a number")
    dt = spec.data_type
    raw: int | float = value
    if spec.scale != 1 or spec.offset != 0:
        raw = (value - spec.offset) / spec.scale
    if dt in _FLOATS:
        return float(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError(f"tag {spec.name!r}: {value!r} is not finite")
        raw = round(raw)
    digits = _BCD_DIGITS.get(dt)
    if digits is None:
        return raw
    if not 0 <= raw < 10**digits:
        raise ValueError(f"tag {spec.name!r}: {value!r} does not fit {digits} BCD digits")
    return int(str(raw), 16)


def _validate(spec: ModbusTagSpec) -> None:
    dt = spec.data_type
    if spec.table.is_bit and dt is not DataType.BOOL:
        raise ValueError(f"tag {spec.name!r}: {spec.table.value} holds bits, not {dt.value}")
    if spec.bit is not None:
        if dt is not DataType.BOOL or spec.table.is_bit:
            raise ValueError(f"tag {spec.name!r}: bit is only valid for bool in a register table")
        if not 0 <= spec.bit <= 15:
            raise ValueError(f"tag {spec.name!r}: bit {spec.bit} outside 0..15")
    if dt is DataType.STRING and (spec.length is None or spec.length < 1):
        raise ValueError(f"tag {spec.name!r}: string needs length >= 1 registers")
    if spec.scale == 0 or not math.isfinite(spec.scale) or not math.isfinite(spec.offset):
        raise ValueError(f"tag {spec.name!r}: scale must be finite and non-zero, offset finite")


@lru_cache(maxsize=65536)
def compile_decoder(spec: ModbusTagSpec) -> TagDecoder:
    """Cached `TagDecoder` for a spec (specs are frozen, so the cache is safe)."""
    return TagDecoder(spec)


def decode_tag(spec: ModbusTagSpec, words: Sequence[int]) -> Decoded:
    """Value and OPC UA status of a register tag from exactly `spec.count` raw registers."""
    return compile_decoder(spec).decode(words)


def decode_bits(spec: ModbusTagSpec, bits: Sequence[bool | int]) -> Decoded:
    """Value and status of a coil/discrete-input tag from its one bit."""
    return compile_decoder(spec).decode_bits(bits)


def encode_value(spec: ModbusTagSpec, value: Value) -> list[int]:
    """Inverse of decoding: the raw registers (or [0]/[1] for bit tables) that carry `value`."""
    return compile_decoder(spec).encode(value)
