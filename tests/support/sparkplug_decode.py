"""An independent Sparkplug B payload reader for the tests, written from the specification.

It reads the protobuf wire format by hand (varint, 64-bit, length-delimited, 32-bit) and knows the
Sparkplug field numbers, so tests check our bytes against the spec rather than against the same
generated code that wrote them. It never imports collector.sinks.sparkplug.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

VARINT, I64, LEN, I32 = 0, 1, 2, 5

# Sparkplug DataType numbers the reader needs to interpret values.
SIGNED_BITS = {1: 8, 2: 16, 3: 32, 4: 64}  # Int8, Int16, Int32, Int64
ARRAY_FORMATS = {22: "b", 23: "h", 24: "i", 25: "q", 26: "B", 27: "H", 28: "I", 29: "Q", 30: "f", 31: "d"}


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value): int for varints, bytes for everything else."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == LEN:
            size, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (I64, I32):
            width = 8 if wire == I64 else 4
            value, pos = buf[pos : pos + width], pos + width
        else:
            raise ValueError(f"unexpected wire type {wire} for field {number}")
        if pos > len(buf):
            raise ValueError("truncated field")
        out.append((number, wire, value))
    return out


def _signed(value: int, datatype: int | None) -> int:
    bits = SIGNED_BITS.get(datatype or 0)
    if bits is None:
        return value
    carrier = 64 if bits == 64 else 32  # Int8/16/32 ride in uint32 as two's complement
    value &= (1 << carrier) - 1
    return value - (1 << carrier) if value >> (carrier - 1) else value


def _value(number: int, raw: Any, datatype: int | None, base: int) -> tuple[str, Any]:
    """Decodes a oneof member; `base` is the field number of int_value in this message."""
    kind = ("int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value")
    offset = number - base
    if offset in (0, 1):
        return kind[offset], _signed(raw, datatype)
    if offset == 2:
        return kind[2], struct.unpack("<f", raw)[0]
    if offset == 3:
        return kind[3], struct.unpack("<d", raw)[0]
    if offset == 4:
        return kind[4], bool(raw)
    if offset == 5:
        return kind[5], raw.decode("utf-8")
    return f"field_{number}", raw


def decode_property_set(buf: bytes) -> dict[str, dict[str, Any]]:
    keys: list[str] = []
    values: list[dict[str, Any]] = []
    for number, _, raw in fields(buf):
        if number == 1:
            keys.append(raw.decode("utf-8"))
        elif number == 2:
            prop: dict[str, Any] = {}
            for pnum, _, praw in fields(raw):
                if pnum == 1:
                    prop["type"] = praw
                elif pnum == 2:
                    prop["is_null"] = bool(praw)
                else:
                    prop["kind"], prop["value"] = _value(pnum, praw, prop.get("type"), 3)
            values.append(prop)
    assert len(keys) == len(values), "PropertySet keys and values must have the same length"
    return dict(zip(keys, values, strict=True))


def decode_metric(buf: bytes, born: Mapping[int, int] | None = None) -> dict[str, Any]:
    """One metric; `born` maps aliases to the datatypes their births gave, for data messages that
    leave the datatype out (as the spec asks): a host needs it to read signs and arrays."""
    metric: dict[str, Any] = {}
    names = {1: "name", 2: "alias", 3: "timestamp", 4: "datatype"}
    flags = {5: "is_historical", 6: "is_transient", 7: "is_null"}
    for number, _, raw in fields(buf):
        if number in names:
            metric[names[number]] = raw.decode("utf-8") if number == 1 else raw
        elif number in flags:
            metric[flags[number]] = bool(raw)
        elif number == 9:
            metric["properties"] = decode_property_set(raw)
        elif number == 16:
            metric["kind"], metric["value"] = "bytes_value", raw
        elif 10 <= number <= 15:
            metric["kind"], metric["value"] = _value(number, raw, None, 10)
        else:
            metric[f"field_{number}"] = raw
    datatype = metric.get("datatype")
    if datatype is None and born is not None:
        datatype = born.get(metric.get("alias", -1))
    if metric.get("kind") in ("int_value", "long_value"):  # sign needs the datatype, known only now
        metric["value"] = _signed(metric["value"], datatype)
    fmt = ARRAY_FORMATS.get(datatype or 0)
    if fmt and metric.get("kind") == "bytes_value":
        count = len(metric["value"]) // struct.calcsize(fmt)
        metric["value"] = list(struct.unpack(f"<{count}{fmt}", metric["value"]))
    return metric


def decode_payload(buf: bytes, born: Mapping[int, int] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"metrics": []}
    for number, _, raw in fields(buf):
        if number == 1:
            payload["timestamp"] = raw
        elif number == 2:
            payload["metrics"].append(decode_metric(raw, born))
        elif number == 3:
            payload["seq"] = raw
        elif number == 4:
            payload["uuid"] = raw.decode("utf-8")
        elif number == 5:
            payload["body"] = raw
        else:
            payload[f"field_{number}"] = raw
    return payload


def by_name(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in payload["metrics"]}


class HostView:
    """What a host keeps from births: each alias's name and datatype. `decode` reads any edge node
    message the way a host does, filling in name and datatype of data metrics from the births."""

    def __init__(self) -> None:
        self.datatypes: dict[int, int] = {}
        self.names: dict[int, str] = {}

    def decode(self, kind: str, buf: bytes) -> dict[str, Any]:
        payload = decode_payload(buf, self.datatypes)
        for m in payload["metrics"]:
            alias = m.get("alias")
            if alias is None:
                continue
            if kind in ("NBIRTH", "DBIRTH"):
                self.datatypes[alias], self.names[alias] = m["datatype"], m["name"]
            else:
                m.setdefault("name_from_birth", self.names.get(alias))
        return payload


# -- a minimal writer, only for the host side of the tests (NCMD) -------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | LEN) + _varint(len(data)) + data


def encode_ncmd_rebirth(timestamp: int, rebirth: bool = True) -> bytes:
    """NCMD payload {timestamp, metrics: [{name: "Node Control/Rebirth", Boolean, value}]}, no seq."""
    metric = (
        _len_field(1, b"Node Control/Rebirth")
        + _varint(3 << 3 | VARINT)
        + _varint(timestamp)
        + _varint(4 << 3 | VARINT)
        + _varint(11)
        + _varint(14 << 3 | VARINT)
        + _varint(int(rebirth))
    )
    return _varint(1 << 3 | VARINT) + _varint(timestamp) + _len_field(2, metric)
