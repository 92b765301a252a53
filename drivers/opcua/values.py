"""OPC UA DataValues to RawSamples: the server's StatusCode and both timestamps in ms.

Type mapping (documented in docs/drivers/opcua.md): Boolean, integers, floats and String as they
are; enumerations as their numeric value; LocalizedText as its text; QualifiedName as its name;
DateTime as ms since the Unix epoch; NodeId as its string form; Guid as text; ByteString as hex;
arrays of those as lists. Structures (ExtensionObjects) are not decoded: the sample is Bad with
BadTypeMismatch so nobody mistakes an object's repr for data.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from asyncua import ua

from drivers import status
from drivers.base import RawSample

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_UNCONVERTIBLE = object()

Value = bool | int | float | str | None | list[bool | int | float | str]


def to_ms(when: dt.datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:  # OPC UA DateTime is UTC; asyncua gives aware values, others may not
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH) // _MS


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum (decoded enumerations) and plain ints alike
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.QualifiedName):
        return value.Name
    if isinstance(value, dt.datetime):
        return to_ms(value)
    if isinstance(value, ua.NodeId):
        return value.to_string()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return str(value.name)
    return _UNCONVERTIBLE


def convert(value: Any) -> tuple[Value, int]:
    """(value, status override or GOOD) for a Variant's Python value."""
    if isinstance(value, list):
        items = [_scalar(v) for v in value]
        if any(v is _UNCONVERTIBLE or v is None or isinstance(v, list) for v in items):
            return None, status.BAD_TYPE_MISMATCH
        return items, status.GOOD
    scalar = _scalar(value)
    if scalar is _UNCONVERTIBLE:
        return None, status.BAD_TYPE_MISMATCH
    return scalar, status.GOOD


def to_sample(tag: str, dv: ua.DataValue) -> RawSample:
    code = int(dv.StatusCode.value) if dv.StatusCode is not None else status.GOOD
    raw = dv.Value.Value if dv.Value is not None else None
    value, override = convert(raw)
    if override != status.GOOD and status.is_good(code):
        code = override
    return RawSample(tag, value, code, to_ms(dv.SourceTimestamp), to_ms(dv.ServerTimestamp))


def bad(tag: str, code: int) -> RawSample:
    return RawSample(tag, None, code, None, None)
