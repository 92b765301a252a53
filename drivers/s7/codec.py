"""How each S7 type is laid out in a block (big-endian) and finished into a value.

`block_codec(tags, start, encoding)` compiles the decoder of one merged read: one struct over the
block (drivers/blockcodec.py) plus a finisher for the types that need one (bits, strings, BCD dates,
S5TIME). Dates and times of day come back as ISO 8601 text in the PLC's own clock (S7 carries no zone).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from drivers.blockcodec import BlockCodec, Field, Finish, Value, bcd_digits, bit_of
from drivers.s7.spec import S7TagSpec, S7Type

_CODES: dict[S7Type, str] = {
    S7Type.BOOL: "B", S7Type.BYTE: "B", S7Type.USINT: "B", S7Type.SINT: "b", S7Type.WORD: "H",
    S7Type.UINT: "H", S7Type.INT: "h", S7Type.DWORD: "I", S7Type.UDINT: "I", S7Type.DINT: "i",
    S7Type.REAL: "f", S7Type.LREAL: "d", S7Type.LINT: "q", S7Type.ULINT: "Q", S7Type.LWORD: "Q",
    S7Type.TIME: "i", S7Type.TOD: "I", S7Type.DATE: "H", S7Type.S5TIME: "H", S7Type.TIMER: "H",
    S7Type.COUNTER: "H", S7Type.CHAR: "1s", S7Type.DATE_AND_TIME: "8s", S7Type.DTL: "12s",
}  # fmt: skip
_EPOCH = date(1990, 1, 1)  # S7 DATE counts days from here
_S5_BASES = (0.01, 0.1, 1.0, 10.0)  # S5TIME time base, bits 12-13
_DTL = struct.Struct(">HBBBBBBI")


def _int(item: object) -> int:
    if not isinstance(item, int):
        raise ValueError("expected an integer field")
    return item


def _bytes(item: object) -> bytes:
    if not isinstance(item, bytes):
        raise ValueError("expected a bytes field")
    return item


def _s5time(item: object) -> Value:
    word = _int(item)
    return round(bcd_digits(word & 0xFFF, 3) * _S5_BASES[(word >> 12) & 3], 3)


def _counter(item: object) -> Value:
    return bcd_digits(_int(item) & 0xFFF, 3)


def _date(item: object) -> Value:
    return (_EPOCH + timedelta(days=_int(item))).isoformat()


def _date_and_time(item: object) -> Value:
    b = _bytes(item)
    year = bcd_digits(b[0], 2)
    year += 1900 if year >= 90 else 2000
    ms = bcd_digits(b[6], 2) * 10 + bcd_digits(b[7] >> 4, 1)
    parts = [bcd_digits(x, 2) for x in b[1:6]]
    stamp = datetime(year, parts[0], parts[1], parts[2], parts[3], parts[4], ms * 1000)
    return stamp.isoformat(timespec="milliseconds")


def _dtl(item: object) -> Value:
    year, month, day, _weekday, hour, minute, second, ns = _DTL.unpack(_bytes(item))
    if ns > 999_999_999:
        raise ValueError("DTL nanoseconds out of range")
    return datetime(year, month, day, hour, minute, second, ns // 1000).isoformat()


def _string(length: int, encoding: str) -> Finish:
    def finish(item: object) -> Value:
        b = _bytes(item)
        used = b[1]
        if used > min(b[0], length):
            raise ValueError("STRING current length exceeds its maximum")
        text: str = b[2 : 2 + used].decode(encoding)
        return text

    return finish


def _wstring(length: int) -> Finish:
    def finish(item: object) -> Value:
        b = _bytes(item)
        maximum, used = struct.unpack_from(">HH", b)
        if used > min(maximum, length):
            raise ValueError("WSTRING current length exceeds its maximum")
        text: str = b[4 : 4 + 2 * used].decode("utf-16-be")
        return text

    return finish


def _char(encoding: str) -> Finish:
    return lambda item: _bytes(item).decode(encoding)


_FINISH: dict[S7Type, Finish] = {
    S7Type.S5TIME: _s5time, S7Type.TIMER: _s5time, S7Type.COUNTER: _counter, S7Type.DATE: _date,
    S7Type.DATE_AND_TIME: _date_and_time, S7Type.DTL: _dtl,
}  # fmt: skip


def field_of(tag: S7TagSpec, start: int, encoding: str) -> Field:
    """The tag as a field of a block that begins at byte `start` of its area."""
    code, finish = _CODES.get(tag.type), _FINISH.get(tag.type)
    if tag.type is S7Type.BOOL:
        finish = bit_of(tag.bit or 0)
    elif tag.type is S7Type.CHAR:
        finish = _char(encoding)
    elif tag.type is S7Type.STRING:
        code, finish = f"{tag.size}s", _string(tag.size - 2, encoding)
    elif tag.type is S7Type.WSTRING:
        code, finish = f"{tag.size}s", _wstring((tag.size - 4) // 2)
    assert code is not None, tag.type
    # a timer or counter is one 2-byte element per number
    offset = 2 * (tag.offset - start) if tag.area.counted else tag.offset - start
    return Field(offset, code, finish, tag.scale, tag.shift, tag.range_min, tag.range_max)


def block_codec(tags: Sequence[S7TagSpec], start: int, encoding: str) -> BlockCodec:
    return BlockCodec(">", [field_of(t, start, encoding) for t in tags])
