"""The vocabulary of an S7 tag: memory areas, data types, the address syntax and the compiled tag spec.

Addresses are written as TIA Portal / STEP 7 show them, with an optional leading '%' and an optional
':TYPE' suffix: `DB1.DBD0`, `DB1.DBX4.3`, `DB5.DBB10:STRING[20]`, `M10.0`, `MW20`, `IW64`, `Q0.1`,
`VD100` (S7-200 SMART V memory, which is DB1 on the wire), `T5`, `C3` (German `E`/`A`/`Z` for
inputs, outputs and counters are accepted). No protocol library is imported here: the configuration
layer parses plant files with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Area(StrEnum):
    DB = "db"
    M = "m"  # markers (Merker), 位存储器
    I = "i"  # noqa: E741 - the process image of inputs is called I in TIA Portal
    Q = "q"
    V = "v"  # S7-200 SMART variable memory: DB1 on the wire
    T = "t"  # S7-300/400 timers (S5TIME)
    C = "c"  # S7-300/400 counters (BCD)

    @property
    def counted(self) -> bool:
        """Timers and counters are addressed by number, not by byte."""
        return self in (Area.T, Area.C)


class S7Type(StrEnum):
    BOOL = "bool"
    BYTE = "byte"
    SINT = "sint"
    USINT = "usint"
    CHAR = "char"
    WORD = "word"
    INT = "int"
    UINT = "uint"
    DWORD = "dword"
    DINT = "dint"
    UDINT = "udint"
    REAL = "real"
    LREAL = "lreal"
    LINT = "lint"
    ULINT = "ulint"
    LWORD = "lword"
    TIME = "time"  # IEC time, ms as a signed 32-bit integer
    DATE = "date"  # days since 1990-01-01
    TOD = "time_of_day"  # ms since midnight
    S5TIME = "s5time"
    DATE_AND_TIME = "date_and_time"  # 8 bytes BCD
    DTL = "dtl"  # 12 bytes
    STRING = "string"
    WSTRING = "wstring"
    TIMER = "timer"  # the value of a T timer, as S5TIME
    COUNTER = "counter"  # the value of a C counter, BCD

    def size(self, length: int | None = None) -> int:
        """Bytes on the wire (strings: `length` characters plus their header)."""
        if self is S7Type.STRING:
            return 2 + (length or DEFAULT_STRING_LENGTH)
        if self is S7Type.WSTRING:
            return 4 + 2 * (length or DEFAULT_STRING_LENGTH)
        return _SIZES[self]

    @property
    def value_kind(self) -> type:
        """The Python type of the decoded values (before scaling)."""
        return _KINDS.get(self, int)


DEFAULT_STRING_LENGTH = 254
_SIZES: dict[S7Type, int] = {
    **dict.fromkeys((S7Type.BOOL, S7Type.BYTE, S7Type.SINT, S7Type.USINT, S7Type.CHAR), 1),
    **dict.fromkeys(
        (S7Type.WORD, S7Type.INT, S7Type.UINT, S7Type.DATE, S7Type.S5TIME, S7Type.TIMER, S7Type.COUNTER), 2
    ),
    **dict.fromkeys((S7Type.DWORD, S7Type.DINT, S7Type.UDINT, S7Type.REAL, S7Type.TIME, S7Type.TOD), 4),
    **dict.fromkeys((S7Type.LREAL, S7Type.LINT, S7Type.ULINT, S7Type.LWORD, S7Type.DATE_AND_TIME), 8),
    S7Type.DTL: 12,
}
_KINDS: dict[S7Type, type] = {
    S7Type.BOOL: bool,
    S7Type.REAL: float,
    S7Type.LREAL: float,
    S7Type.S5TIME: float,
    S7Type.TIMER: float,
    **dict.fromkeys(
        (S7Type.CHAR, S7Type.STRING, S7Type.WSTRING, S7Type.DATE, S7Type.DATE_AND_TIME, S7Type.DTL), str
    ),
}
# Type names as TIA Portal writes them, for the ':TYPE' suffix and register tables.
TYPE_ALIASES: dict[str, S7Type] = {
    **{t.value: t for t in S7Type},
    "dt": S7Type.DATE_AND_TIME,
    "tod": S7Type.TOD,
    "float": S7Type.REAL,
    "double": S7Type.LREAL,
}
_SIZE_LETTERS = {"B": 1, "W": 2, "D": 4}


class AddressError(ValueError):
    """An address that is not S7 syntax, or that does not fit its type; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address: where it is, and what the text itself says about the type."""

    area: Area
    db: int  # DB number (DB area; V is DB1), else 0
    offset: int  # byte offset, or the timer / counter number
    bit: int | None = None
    size: int | None = None  # from the B/W/D letter
    type: S7Type | None = None  # from a ':TYPE' suffix
    length: int | None = None  # from 'STRING[n]'


_TYPE_SUFFIX = re.compile(r"^(?P<name>[A-Z_]+)(?:\[(?P<length>\d+)\])?$")
_DB = re.compile(r"^DB(?P<db>\d+)\.DB(?P<letter>[XBWD])(?P<offset>\d+)(?:\.(?P<bit>\d+))?$")
_AREA = re.compile(r"^(?P<area>[MIEQAV])(?P<letter>[XBWD]?)(?P<offset>\d+)(?:\.(?P<bit>\d+))?$")
_COUNTED = re.compile(r"^(?P<area>[TCZ])(?P<offset>\d+)$")
_AREA_LETTERS = {"M": Area.M, "I": Area.I, "E": Area.I, "Q": Area.Q, "A": Area.Q, "V": Area.V}


def parse_address(text: str) -> Address:
    """`DB1.DBD0:REAL` -> Address(area=DB, db=1, offset=0, size=4, type=REAL); AddressError if not S7."""
    raw = text.strip().upper().lstrip("%")
    body, _, suffix = raw.partition(":")
    type_, length = _suffix(suffix, text) if suffix else (None, None)
    if m := _DB.match(body):
        letter, bit = m.group("letter"), m.group("bit")
        return _checked(Area.DB, int(m.group("db")), m.group("offset"), letter, bit, type_, length, text)
    if m := _AREA.match(body):
        area = _AREA_LETTERS[m.group("area")]
        db = 1 if area is Area.V else 0
        return _checked(area, db, m.group("offset"), m.group("letter"), m.group("bit"), type_, length, text)
    if m := _COUNTED.match(body):
        area = Area.T if m.group("area") == "T" else Area.C
        return Address(area, 0, int(m.group("offset")), type=type_)
    raise AddressError(
        f"{text!r} is not an S7 address; write it as TIA Portal shows it, e.g. DB1.DBD0, DB1.DBX4.3, "
        "M10.0, MW20, IW64, Q0.1, VD100, T5, C3"
    )


def _suffix(suffix: str, text: str) -> tuple[S7Type, int | None]:
    m = _TYPE_SUFFIX.match(suffix.strip())
    found = TYPE_ALIASES.get(m.group("name").lower()) if m else None
    if m is None or found is None:
        raise AddressError(f"{text!r}: unknown type {suffix!r} after ':'; known: {', '.join(TYPE_ALIASES)}")
    length = int(m.group("length")) if m.group("length") else None
    return found, length


def _checked(
    area: Area, db: int, offset: str, letter: str, bit: str | None, type_: S7Type | None,
    length: int | None, text: str,
) -> Address:  # fmt: skip
    if bit is not None and letter not in ("", "X"):
        raise AddressError(f"{text!r}: a bit address is written with X or no letter, e.g. DB1.DBX4.3, M10.0")
    if letter == "X" and bit is None:
        raise AddressError(f"{text!r}: DBX needs a bit number, e.g. DB1.DBX4.3")
    if bit is not None and int(bit) > 7:
        raise AddressError(f"{text!r}: bit {bit} outside 0..7 (S7 bits are numbered within a byte)")
    if not letter and bit is None:
        raise AddressError(f"{text!r}: give a size letter (MB, MW, MD) or a bit (M10.0)")
    size = _SIZE_LETTERS.get(letter)
    return Address(area, db, int(offset), int(bit) if bit is not None else None, size, type_, length)


@dataclass(frozen=True, slots=True)
class S7TagSpec:
    """One tag after validation: where it is and how to decode it."""

    name: str
    area: Area
    db: int
    offset: int  # byte offset; timer or counter number in T and C
    type: S7Type
    bit: int | None = None  # BOOL only
    length: int | None = None  # STRING / WSTRING characters
    scale: float = 1.0
    shift: float = 0.0
    range_min: float | None = None
    range_max: float | None = None

    @property
    def size(self) -> int:
        """Bytes read for this tag."""
        return self.type.size(self.length)

    @property
    def address(self) -> str:
        """The address as TIA Portal writes it, for logs and probe output."""
        return format_address(self)


def format_address(tag: S7TagSpec) -> str:
    if tag.area.counted:
        return f"{tag.area.value.upper()}{tag.offset}"
    letter = {1: "B", 2: "W", 4: "D"}.get(tag.size, "B")
    if tag.bit is not None:
        where = f"X{tag.offset}.{tag.bit}" if tag.area is Area.DB else f"{tag.offset}.{tag.bit}"
    else:
        where = f"{letter}{tag.offset}"
    if tag.area is Area.DB:
        return f"DB{tag.db}.DB{where}"
    return f"{tag.area.value.upper()}{where}"
