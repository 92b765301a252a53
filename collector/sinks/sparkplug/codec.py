"""Sparkplug B 3.0 payload encoding for the collector's records (docs/STANDARDS.md §5.4, §1.5).

Pure functions and small state machines only: no clock, no MQTT. The session (session.py) decides
what to send and when; this module decides how the bytes look. Datatypes and their value ranges are
in datatypes.py.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from collector.model import Value
from collector.sinks.sparkplug import sparkplug_b_pb2 as pb
from collector.sinks.sparkplug.datatypes import (
    ARRAYS,
    INT_RANGES,
    LONG_TYPES,
    CodecError,
    DataType,
    Quality,
    datatype_for,
    infer_datatype,
    quality_of,
    to_float,
    to_int,
)

__all__ = [
    "CodecError",
    "DataType",
    "Encoding",
    "MetricValue",
    "Quality",
    "datatype_for",
    "infer_datatype",
    "quality_of",
]

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
QUALITY = "Quality"
ENG_UNIT = "engUnit"  # not in the spec; the property name Ignition and Tahu clients read units from


@dataclass(frozen=True, slots=True)
class Encoding:
    """Choices where hosts and the specification part ways (docs/SPARKPLUG.md, "Interop").

    `uint32_in_long`: UInt32 values in `long_value`, as Tahu (Java, JavaScript) and Ignition write
    them, rather than the `int_value` of the specification's table; Tahu JS 1.0.3 reads UInt32 from
    `long_value` only. `datatypes_in_data`: also send the datatype in DDATA, which the specification
    says SHOULD NOT be done, for decoders that keep no birth state.
    """

    uint32_in_long: bool = True
    datatypes_in_data: bool = False


DEFAULT_ENCODING = Encoding()


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

    def retract(self) -> None:
        """The last `on_connect` sent no CONNECT packet after all (no TCP connection): take it back."""
        if self._connects:
            self._connects -= 1
            if self._connects:
                self._current = _wrap(self._current - 1)


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


def _pack_array(value: Value, datatype: DataType) -> bytes:
    if not isinstance(value, list):
        raise CodecError(f"{value!r} is not a {datatype.name}")
    elem, fmt = ARRAYS[datatype]
    convert = to_float if elem in (DataType.Float, DataType.Double) else to_int
    items = [convert(v, elem) for v in value]
    return struct.pack(f"<{len(items)}{fmt}", *items)


def _set_value(metric: pb.Payload.Metric, datatype: DataType, value: Value, encoding: Encoding) -> None:
    """Puts `value` in the oneof field for `datatype` (the spec's table, UInt32 per `encoding`)."""
    if datatype in INT_RANGES:
        n = to_int(value, datatype)
        # Signed values travel as two's complement of the carrying field (uint32/uint64), as Tahu
        # and Ignition write them: Int16 -1 is 0xFFFFFFFF in int_value.
        if datatype in LONG_TYPES or (datatype is DataType.UInt32 and encoding.uint32_in_long):
            metric.long_value = n % 2**64
        else:
            metric.int_value = n % 2**32
    elif datatype in (DataType.Float, DataType.Double):
        f = to_float(value, datatype)
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
    elif datatype in ARRAYS:
        metric.bytes_value = _pack_array(value, datatype)
    else:  # pragma: no cover - DataType only lists supported types
        raise CodecError(f"datatype {datatype.name} is not supported")


def check_value(datatype: DataType, value: Value) -> None:
    """Raises CodecError if `value` cannot be sent as `datatype` (None always can: is_null)."""
    if value is not None:
        _set_value(pb.Payload.Metric(), datatype, value, DEFAULT_ENCODING)


def _add_metric(payload: pb.Payload, m: MetricValue, encoding: Encoding, birth: bool) -> None:
    metric = payload.metrics.add()
    if m.name is not None:
        metric.name = m.name
    if m.alias is not None:
        metric.alias = m.alias
    metric.timestamp = m.timestamp
    if birth or encoding.datatypes_in_data:  # data messages: the host knows it from the birth
        metric.datatype = int(m.datatype)
    if m.historical:
        metric.is_historical = True
    if m.value is None:
        metric.is_null = True
    else:
        _set_value(metric, m.datatype, m.value, encoding)
    props: list[tuple[str, pb.Payload.PropertyValue]] = []
    if m.quality is not Quality.GOOD:  # the spec sends Quality only when it is not GOOD
        props.append((QUALITY, pb.Payload.PropertyValue(type=DataType.Int32, int_value=int(m.quality))))
    if m.unit and birth:
        props.append((ENG_UNIT, pb.Payload.PropertyValue(type=DataType.String, string_value=m.unit)))
    for key, prop in props:
        metric.properties.keys.append(key)
        metric.properties.values.append(prop)


def encode(
    timestamp: int,
    seq: int | None,
    metrics: Iterable[MetricValue] = (),
    *,
    birth: bool = True,
    encoding: Encoding = DEFAULT_ENCODING,
) -> bytes:
    """A payload; `birth` messages carry every metric's datatype (and unit), data messages may not."""
    payload = pb.Payload(timestamp=timestamp)
    if seq is not None:
        payload.seq = seq
    for m in metrics:
        _add_metric(payload, m, encoding, birth)
    return payload.SerializeToString()


def encode_nbirth(timestamp: int, bd_seq: int, metrics: Sequence[MetricValue] = ()) -> bytes:
    """NBIRTH: seq 0, the bdSeq of the current Will, Rebirth=false, then any node metrics.

    Neither control metric gets an alias (the spec forbids one on `Node Control/Rebirth`)."""
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
