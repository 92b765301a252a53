"""Packing engineering values into Modbus register words in any of the four byte orders.

Byte order letters follow the usual meter-manual convention: A is the most
significant byte of the 32-bit value, so ABCD is plain big-endian, CDAB swaps
the two words (what many PLCs do), BADC swaps bytes inside each word and DCBA
is fully little-endian. The same rule extends to 64-bit values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from operator import itemgetter

BYTE_ORDERS = ("ABCD", "BADC", "CDAB", "DCBA")

# type name -> (struct code of the big-endian raw value, number of 16-bit words, signed)
_TYPES: dict[str, tuple[str, int, bool]] = {
    "int16": ("h", 1, True),
    "uint16": ("H", 1, False),
    "int32": ("i", 2, True),
    "uint32": ("I", 2, False),
    "float32": ("f", 2, True),
    "int64": ("q", 4, True),
    "uint64": ("Q", 4, False),
    "float64": ("d", 4, True),
}
REGISTER_TYPES = frozenset(_TYPES)
BIT_TYPES = frozenset({"bool"})


def _permutation(words: int, order: str) -> tuple[int, ...]:
    word_swap = order in ("CDAB", "DCBA")
    byte_swap = order in ("BADC", "DCBA")
    word_idx = range(words - 1, -1, -1) if word_swap else range(words)
    perm: list[int] = []
    for w in word_idx:
        perm.extend((2 * w + 1, 2 * w) if byte_swap else (2 * w, 2 * w + 1))
    return tuple(perm)


@dataclass(frozen=True)
class WordCodec:
    """Precomputed encoder/decoder for one register type, scale and byte order."""

    type_name: str
    scale: float = 1.0
    byte_order: str = "ABCD"

    def __post_init__(self) -> None:
        if self.type_name not in _TYPES:
            raise ValueError(f"unknown register type {self.type_name!r}")
        if self.byte_order not in BYTE_ORDERS:
            raise ValueError(f"byte order must be one of {BYTE_ORDERS}, got {self.byte_order!r}")
        if self.scale == 0:
            raise ValueError("scale must not be 0")

    @property
    def words(self) -> int:
        return _TYPES[self.type_name][1]

    def encode(self, value: float) -> bytes:
        """Engineering value -> wire bytes (2 per word); integers wrap like PLC counters."""
        code, words, _ = _TYPES[self.type_name]
        if code in "fd":
            raw = struct.pack(">" + code, value / self.scale)
        else:
            bits = 16 * words
            # Two's-complement wrap: a uint16 part counter rolls over at 65536.
            raw = (round(value / self.scale) % (1 << bits)).to_bytes(2 * words, "big")
        if words == 1 or self.byte_order == "ABCD":
            return raw
        return bytes(itemgetter(*_permutation(words, self.byte_order))(raw))

    def decode(self, data: bytes) -> float:
        """Wire bytes -> engineering value (what a correctly configured client reads)."""
        code, words, signed = _TYPES[self.type_name]
        if words > 1 and self.byte_order != "ABCD":
            # Every permutation used here is its own inverse.
            data = bytes(itemgetter(*_permutation(words, self.byte_order))(data))
        if code in "fd":
            return float(struct.unpack(">" + code, data)[0]) * self.scale
        raw = int.from_bytes(data, "big", signed=signed)
        return raw * self.scale if self.scale != 1 else raw
