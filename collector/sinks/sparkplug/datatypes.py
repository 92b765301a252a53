"""Sparkplug datatypes: the spec's DataType numbers, our type names for them, and value ranges.

Which datatype a tag gets (declared in the plant file, or inferred from its first value) and which
values a datatype can carry. No encoding here: codec.py puts the values on the wire.
"""

from __future__ import annotations

from enum import IntEnum

from collector.model import Value
from collector.sinks.base import SinkError


class CodecError(SinkError, ValueError):
    """A value or identifier Sparkplug cannot carry."""


class DataType(IntEnum):
    """Sparkplug datatypes the collector emits (values fixed by the spec's DataType enum)."""

    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31


class Quality(IntEnum):
    BAD = 0
    GOOD = 192
    STALE = 500


# Project datatype names (drivers/modbus/spec.py, OPC UA built-in type names) → Sparkplug.
_TYPE_NAMES: dict[str, DataType] = {
    "bool": DataType.Boolean,
    "boolean": DataType.Boolean,
    "int8": DataType.Int8,
    "sbyte": DataType.Int8,
    "int16": DataType.Int16,
    "int32": DataType.Int32,
    "int": DataType.Int64,
    "int64": DataType.Int64,
    "uint8": DataType.UInt8,
    "byte": DataType.UInt8,
    "uint16": DataType.UInt16,
    "bcd16": DataType.UInt16,
    "uint32": DataType.UInt32,
    "bcd32": DataType.UInt32,
    "uint64": DataType.UInt64,
    "float": DataType.Float,
    "float32": DataType.Float,
    "real": DataType.Float,
    "double": DataType.Double,
    "float64": DataType.Double,
    "string": DataType.String,
    "str": DataType.String,
    "localizedtext": DataType.String,
    "text": DataType.Text,
    "datetime": DataType.DateTime,
}

INT_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.Int8: (-(2**7), 2**7 - 1),
    DataType.Int16: (-(2**15), 2**15 - 1),
    DataType.Int32: (-(2**31), 2**31 - 1),
    DataType.Int64: (-(2**63), 2**63 - 1),
    DataType.UInt8: (0, 2**8 - 1),
    DataType.UInt16: (0, 2**16 - 1),
    DataType.UInt32: (0, 2**32 - 1),
    DataType.UInt64: (0, 2**64 - 1),
    DataType.DateTime: (0, 2**64 - 1),
}
LONG_TYPES = {DataType.Int64, DataType.UInt64, DataType.DateTime}  # carried in long_value (uint64)

# Array datatype → (element datatype, struct format char); packed little-endian per the spec.
ARRAYS: dict[DataType, tuple[DataType, str]] = {
    DataType.Int8Array: (DataType.Int8, "b"),
    DataType.Int16Array: (DataType.Int16, "h"),
    DataType.Int32Array: (DataType.Int32, "i"),
    DataType.Int64Array: (DataType.Int64, "q"),
    DataType.UInt8Array: (DataType.UInt8, "B"),
    DataType.UInt16Array: (DataType.UInt16, "H"),
    DataType.UInt32Array: (DataType.UInt32, "I"),
    DataType.UInt64Array: (DataType.UInt64, "Q"),
    DataType.FloatArray: (DataType.Float, "f"),
    DataType.DoubleArray: (DataType.Double, "d"),
}
ARRAY_OF = {elem: arr for arr, (elem, _) in ARRAYS.items()}


def datatype_for(spec: str | int) -> DataType:
    """A Sparkplug datatype from a project type name ("float32", "Int16", "bool"…) or a DataType."""
    if isinstance(spec, int):
        try:
            return DataType(spec)
        except ValueError:
            raise CodecError(f"unsupported Sparkplug datatype {spec}") from None
    name = spec.strip().lower()
    if name.endswith("[]"):  # "float32[]": an array of the element type
        elem = datatype_for(name[:-2])
        if elem not in ARRAY_OF:
            raise CodecError(f"no Sparkplug array type for {spec!r}")
        return ARRAY_OF[elem]
    try:
        return _TYPE_NAMES[name]
    except KeyError:
        raise CodecError(f"unknown datatype {spec!r}") from None


def infer_datatype(value: Value) -> DataType:
    """Datatype for a tag that was not declared at birth: the widest type of the value's kind."""
    if isinstance(value, bool):
        return DataType.Boolean
    if isinstance(value, int):
        return DataType.Int64
    if isinstance(value, float):
        return DataType.Double
    if isinstance(value, list):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return DataType.Int64Array
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return DataType.DoubleArray
        raise CodecError("only numeric lists can be sent as Sparkplug arrays")
    return DataType.String


def quality_of(status: int) -> Quality:
    """OPC UA StatusCode severity (top two bits) → Sparkplug quality: Good, Uncertain → STALE, Bad."""
    severity = (status >> 30) & 0b11
    if severity == 0:
        return Quality.GOOD
    if severity == 1:
        return Quality.STALE
    return Quality.BAD  # 0b10 Bad; 0b11 is reserved and treated as Bad


def to_int(value: Value, datatype: DataType) -> int:
    """`value` as an integer of `datatype`'s range; CodecError when it is not one."""
    if isinstance(value, bool):
        n = int(value)
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str):
        try:
            n = int(value, 0)
        except ValueError:
            raise CodecError(f"{value!r} is not a {datatype.name}") from None
    else:
        raise CodecError(f"{value!r} is not a {datatype.name}")
    lo, hi = INT_RANGES[datatype]
    if not lo <= n <= hi:
        raise CodecError(f"{n} is out of range for {datatype.name}")
    return n


def to_float(value: Value, datatype: DataType) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise CodecError(f"{value!r} is not a {datatype.name}")
