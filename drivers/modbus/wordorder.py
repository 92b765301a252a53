"""Guess a register's data type and byte order from one raw reading and the value it should show.

Commissioning aid: the engineer knows the line voltage is about 230 V but not whether the meter sends
a float32 with swapped words or an int32 in tenths. Every (type, order, scale) reading of the raw
registers that lands in the plausible range is a candidate; the most conventional come first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from drivers.modbus.decode import TagDecoder
from drivers.modbus.spec import ByteOrder, DataType, ModbusTagSpec, Table

_ORDERS_16 = (ByteOrder.AB, ByteOrder.BA)
_ORDERS_32 = (ByteOrder.ABCD, ByteOrder.CDAB, ByteOrder.BADC, ByteOrder.DCBA)
_ORDERS_64 = (ByteOrder.ABCDEFGH, ByteOrder.GHEFCDAB, ByteOrder.BADCFEHG, ByteOrder.HGFEDCBA)

# Per register count: types to try, floats first (a float landing in range by chance is rare).
_TYPES: dict[int, tuple[tuple[DataType, ...], tuple[ByteOrder, ...]]] = {
    1: ((DataType.INT16, DataType.UINT16), _ORDERS_16),
    2: ((DataType.FLOAT32, DataType.INT32, DataType.UINT32), _ORDERS_32),
    4: ((DataType.FLOAT64, DataType.INT64, DataType.UINT64), _ORDERS_64),
}
_FLOAT_TYPES = (DataType.FLOAT32, DataType.FLOAT64)
DEFAULT_SCALES = (1.0, 0.1, 0.01, 0.001)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One reading of the raw registers that falls in the expected range."""

    data_type: DataType
    byte_order: ByteOrder
    scale: float
    value: float

    def describe(self) -> str:
        scale = "" if self.scale == 1 else f" ×{self.scale:g}"
        return f"{self.data_type.value} {self.byte_order.value}{scale} → {self.value:.6g}"


def _rank(
    c: Candidate, types: Sequence[DataType], orders: Sequence[ByteOrder], mid: float
) -> tuple[float, ...]:
    # Unscaled before scaled, floats before ints, common orders first, then closest to the middle.
    return (
        c.scale != 1,
        types.index(c.data_type),
        orders.index(c.byte_order),
        abs(c.value - mid),
    )


def _readings(words: Sequence[int], scales: Sequence[float]) -> Iterator[Candidate]:
    """Every finite decoding of `words` by type, order and (integers only) scale."""
    types, orders = _TYPES[len(words)]
    for data_type in types:
        for order in orders:
            for scale in (1.0,) if data_type in _FLOAT_TYPES else scales:
                spec = ModbusTagSpec("guess", 1, Table.HOLDING_REGISTER, 0, data_type, order, scale=scale)
                value, _ = TagDecoder(spec).decode(words)
                if isinstance(value, int | float) and math.isfinite(value):
                    yield Candidate(data_type, order, scale, float(value))


def guess_word_order(
    words: Sequence[int], low: float, high: float, *, scales: Sequence[float] = DEFAULT_SCALES
) -> list[Candidate]:
    """Candidates (best first) whose decoding of `words` (1, 2 or 4 registers) lies in [low, high].

    Scales apply to integer types only; a float with a decimal scale is never the simpler answer.
    """
    if low > high:
        raise ValueError(f"empty range {low}..{high}")
    if len(words) not in _TYPES:
        raise ValueError(f"expected 1, 2 or 4 registers, got {len(words)}")
    found: list[Candidate] = []
    seen: set[tuple[ByteOrder, float, float]] = set()
    for c in _readings(words, scales):
        if not low <= c.value <= high:
            continue
        if c.data_type not in _FLOAT_TYPES:
            # A positive int reads the same signed and unsigned: keep only the first (signed) one.
            key = (c.byte_order, c.scale, c.value)
            if key in seen:
                continue
            seen.add(key)
        found.append(c)
    types, orders = _TYPES[len(words)]
    mid = (low + high) / 2
    return sorted(found, key=lambda c: _rank(c, types, orders, mid))


def describe_candidates(candidates: Sequence[Candidate]) -> str:
    """One line per candidate, or a hint when none fits."""
    if not candidates:
        return "no type/order decodes into the range: check the address, unit id and range"
    return "\n".join(c.describe() for c in candidates)
