"""Sparkplug B 3.0 payload encoding for the collector's records (docs/STANDARDS.md §5.4, §1.5).

Pure functions and small state machines only: no clock, no MQTT. The session (session.py) decides
what to send and when; this module decides how the bytes look.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from collector.model import Value
from collector.sinks.base import SinkError
from collector.sinks.sparkplug import sparkplug_b_pb2 as pb

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
QUALITY = "Quality"
ENG_UNIT = "engUnit"  # not in the spec; the property name Ignition and Tahu clients read units from


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

_INT_RANGES: dict[DataType, tuple[int, int]] = {
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
_LONG_TYPES = {DataType.Int64, DataType.UInt64, DataType.DateTime}  # carried in long_value (uint64)

# Array datatype → (element datatype, struct format char); packed little-endian per the spec.
_ARRAYS: dict[DataType, tuple[DataType, str]] = {
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
_ARRAY_OF = {elem: arr for arr, (elem, _) in _ARRAYS.items()}


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
        if elem not in _ARRAY_OF:
            raise CodecError(f"no Sparkplug array type for {spec!r}")
        return _ARRAY_OF[elem]
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


def validate_id(part: str, what: str) -> str:
    """Topic IDs are UTF-8 without MQTT wildcards or the level separator (spec, chapter Topics)."""
    if not part or any(c in part for c in "+/#"):
        raise CodecError(f"invalid Sparkplug {what} {part!r}: must be non-empty without '+', '/', '#'")
    return part


def topic(group_id: str, message_type: str, edge_node_id: str, device_id: str | None = None) -> str:
    parts = [NAMESPACE, group_id, message_type, edge_node_id]
    if device_id is not None:
        parts.append(device_id)
    return "/".join(parts)


def _wrap(n: int) -> int:
    return n % 256


class SeqCounter:
    """Message sequence number: 0 on NBIRTH, +1 on every later message, 255 → 0."""

    def __init__(self) -> None:
        self._next = 0

    def reset(self) -> int:
        """Restart for an NBIRTH; returns the NBIRTH's seq (always 0)."""
        self._next = 1
        return 0

    def next(self) -> int:
        seq = self._next
        self._next = _wrap(seq + 1)
        return seq


class BdSeq:
    """Birth/death sequence: one value per MQTT CONNECT, shared by that session's Will and NBIRTHs."""

    def __init__(self, first: int = 0) -> None:
        self._current = _wrap(first)
        self._connects = 0

    @property
    def current(self) -> int:
        return self._current

    def on_connect(self) -> int:
        """Value for a new CONNECT: `first` for the first, then +1 with 255 → 0."""
        if self._connects:
            self._current = _wrap(self._current + 1)
        self._connects += 1
        return self._current


class AliasTable:
    """Metric aliases, unique across the edge node and stable for the process lifetime (rebirths too)."""

    def __init__(self, first: int = 1) -> None:
        self._aliases: dict[tuple[str, str], int] = {}
        self._next = first

    def alias(self, device: str, metric: str) -> int:
        key = (device, metric)
        if key not in self._aliases:
            self._aliases[key] = self._next
            self._next += 1
        return self._aliases[key]


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric as it goes on the wire. `name` is set in BIRTH messages only."""

    alias: int | None
    datatype: DataType
    value: Value
    timestamp: int
    name: str | None = None
    quality: Quality = Quality.GOOD
    historical: bool = False
    unit: str | None = None  # BIRTH only


def _to_int(value: Value, datatype: DataType) -> int:
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
    lo, hi = _INT_RANGES[datatype]
    if not lo <= n <= hi:
        raise CodecError(f"{n} is out of range for {datatype.name}")
    return n


def _to_float(value: Value, datatype: DataType) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise CodecError(f"{value!r} is not a {datatype.name}")


def _pack_array(value: Value, datatype: DataType) -> bytes:
    if not isinstance(value, list):
        raise CodecError(f"{value!r} is not a {datatype.name}")
    elem, fmt = _ARRAYS[datatype]
    convert = _to_float if elem in (DataType.Float, DataType.Double) else _to_int
    items = [convert(v, elem) for v in value]
    return struct.pack(f"<{len(items)}{fmt}", *items)


def _set_value(metric: pb.Payload.Metric, datatype: DataType, value: Value) -> None:
    """Puts `value` in the oneof field the spec assigns to `datatype`."""
    if datatype in _INT_RANGES:
        n = _to_int(value, datatype)
        # Signed values travel as two's complement of the carrying field (uint32/uint64).
        if datatype in _LONG_TYPES:
            metric.long_value = n % 2**64
        else:
            metric.int_value = n % 2**32
    elif datatype in (DataType.Float, DataType.Double):
        f = _to_float(value, datatype)
        if datatype is DataType.Float:
            if math.isfinite(f) and abs(f) > 3.4028234663852886e38:
                raise CodecError(f"{f} is out of range for Float")
            metric.float_value = f
        else:
            metric.double_value = f
    elif datatype is DataType.Boolean:
        if isinstance(value, list | str) and not isinstance(value, bool):
            raise CodecError(f"{value!r} is not a Boolean")
        metric.boolean_value = bool(value)
    elif datatype in (DataType.String, DataType.Text):
        metric.string_value = value if isinstance(value, str) else str(value)
    elif datatype in _ARRAYS:
        metric.bytes_value = _pack_array(value, datatype)
    else:  # pragma: no cover - DataType only lists supported types
        raise CodecError(f"datatype {datatype.name} is not supported")


def check_value(datatype: DataType, value: Value) -> None:
    """Raises CodecError if `value` cannot be sent as `datatype` (None always can: is_null)."""
    if value is not None:
        _set_value(pb.Payload.Metric(), datatype, value)


def _add_metric(payload: pb.Payload, m: MetricValue) -> None:
    metric = payload.metrics.add()
    if m.name is not None:
        metric.name = m.name
    if m.alias is not None:
        metric.alias = m.alias
    metric.timestamp = m.timestamp
    metric.datatype = int(m.datatype)
    if m.historical:
        metric.is_historical = True
    if m.value is None:
        metric.is_null = True
    else:
        _set_value(metric, m.datatype, m.value)
    props: list[tuple[str, pb.Payload.PropertyValue]] = []
    if m.quality is not Quality.GOOD:  # the spec sends Quality only when it is not GOOD
        props.append((QUALITY, pb.Payload.PropertyValue(type=DataType.Int32, int_value=int(m.quality))))
    if m.unit:
        props.append((ENG_UNIT, pb.Payload.PropertyValue(type=DataType.String, string_value=m.unit)))
    for key, prop in props:
        metric.properties.keys.append(key)
        metric.properties.values.append(prop)


def encode(timestamp: int, seq: int | None, metrics: Iterable[MetricValue] = ()) -> bytes:
    payload = pb.Payload(timestamp=timestamp)
    if seq is not None:
        payload.seq = seq
    for m in metrics:
        _add_metric(payload, m)
    return payload.SerializeToString()


def encode_nbirth(timestamp: int, bd_seq: int, metrics: Sequence[MetricValue] = ()) -> bytes:
    """NBIRTH: seq 0, the bdSeq of the current Will, Rebirth=false, then any node metrics."""
    control = [
        MetricValue(None, DataType.Int64, bd_seq, timestamp, name=BD_SEQ),
        MetricValue(None, DataType.Boolean, False, timestamp, name=REBIRTH),
    ]
    return encode(timestamp, 0, [*control, *metrics])


def encode_ndeath(timestamp: int, bd_seq: int) -> bytes:
    """NDEATH (the Will): only the bdSeq metric and no seq."""
    return encode(timestamp, None, [MetricValue(None, DataType.Int64, bd_seq, timestamp, name=BD_SEQ)])


def encode_ddeath(timestamp: int, seq: int) -> bytes:
    return encode(timestamp, seq)


def rebirth_requested(payload: bytes) -> bool:
    """True when an NCMD payload sets `Node Control/Rebirth` to true; malformed payloads are ignored."""
    msg = pb.Payload()
    try:
        msg.ParseFromString(payload)
    except Exception:  # protobuf raises DecodeError or plain errors depending on the backend
        return False
    return any(
        m.name == REBIRTH and m.WhichOneof("value") == "boolean_value" and m.boolean_value
        for m in msg.metrics
    )
