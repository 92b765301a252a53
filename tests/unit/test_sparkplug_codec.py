"""Sparkplug B codec: bytes checked with the independent reader in tests/support/sparkplug_decode.py."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from collector.sinks.sparkplug import codec, sparkplug_b_pb2
from collector.sinks.sparkplug.codec import CodecError, DataType, MetricValue, Quality
from tests.support.sparkplug_decode import by_name, decode_payload, encode_ncmd_rebirth, fields

pytestmark = pytest.mark.unit

TS = 1_718_000_000_123


def one_metric(datatype: DataType, value: object, **kw: object) -> dict[str, Any]:
    payload = decode_payload(codec.encode(TS, 5, [MetricValue(7, datatype, value, TS, **kw)]))  # type: ignore[arg-type]
    assert payload["seq"] == 5 and payload["timestamp"] == TS
    [metric] = payload["metrics"]
    assert metric["alias"] == 7 and metric["datatype"] == datatype and metric["timestamp"] == TS
    return dict(metric)


def test_our_datatype_numbers_match_the_schema_enum() -> None:
    for dt in DataType:
        assert sparkplug_b_pb2.DataType.Value(dt.name) == dt.value


def test_schema_package_and_message_names_match_the_spec() -> None:
    assert sparkplug_b_pb2.Payload.DESCRIPTOR.full_name == "org.eclipse.tahu.protobuf.Payload"
    metric = sparkplug_b_pb2.Payload.Metric.DESCRIPTOR
    numbers = {f.name: f.number for f in metric.fields}
    assert numbers["is_historical"] == 5 and numbers["properties"] == 9 and numbers["extension_value"] == 19


@pytest.mark.parametrize(
    ("datatype", "value", "kind", "expected"),
    [
        (DataType.Int8, -1, "int_value", -1),
        (DataType.Int16, -32768, "int_value", -32768),
        (DataType.Int32, 2**31 - 1, "int_value", 2**31 - 1),
        (DataType.Int64, -(2**63), "long_value", -(2**63)),
        (DataType.UInt16, 65535, "int_value", 65535),
        (DataType.UInt32, 2**32 - 1, "long_value", 2**32 - 1),  # where hosts read it (see Encoding)
        (DataType.UInt64, 2**64 - 1, "long_value", 2**64 - 1),
        (DataType.DateTime, TS, "long_value", TS),
        (DataType.Int32, 12.0, "int_value", 12),  # integral floats from drivers are fine
        (DataType.Double, 1200.25, "double_value", 1200.25),
        (DataType.Double, 3, "double_value", 3.0),
        (DataType.Float, 0.5, "float_value", 0.5),
        (DataType.Boolean, True, "boolean_value", True),
        (DataType.Boolean, 0, "boolean_value", False),
        (DataType.String, "运行", "string_value", "运行"),
        (DataType.Text, "x", "string_value", "x"),
        (DataType.String, 42, "string_value", "42"),
        (DataType.Int16Array, [1, -2, 3], "bytes_value", [1, -2, 3]),
        (DataType.DoubleArray, [1.5, 2], "bytes_value", [1.5, 2.0]),
    ],
)
def test_values_use_the_field_the_spec_assigns(
    datatype: DataType, value: object, kind: str, expected: object
) -> None:
    metric = one_metric(datatype, value)
    assert metric["kind"] == kind
    assert metric["value"] == expected
    assert "is_null" not in metric and "properties" not in metric


def test_signed_ints_are_twos_complement_of_the_carrier() -> None:
    raw = codec.encode(TS, 0, [MetricValue(1, DataType.Int8, -1, TS)])
    [(_, _, metric)] = [f for f in fields(raw) if f[0] == 2]
    assert dict((n, v) for n, _, v in fields(metric))[10] == 0xFFFFFFFF


def test_float_array_is_packed_little_endian() -> None:
    metric = one_metric(DataType.FloatArray, [1.0, -2.5])
    assert metric["value"] == [1.0, -2.5]
    raw = codec.encode(TS, 0, [MetricValue(1, DataType.FloatArray, [1.0], TS)])
    assert struct.pack("<f", 1.0) in raw


def test_nan_double_survives() -> None:
    assert math.isnan(one_metric(DataType.Double, float("nan"))["value"])


def test_none_is_null_without_a_value() -> None:
    metric = one_metric(DataType.Int32, None)
    assert metric["is_null"] is True
    assert "kind" not in metric


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.Int8, 128),
        (DataType.UInt16, -1),
        (DataType.UInt64, 2**64),
        (DataType.Int32, 1.5),
        (DataType.Int32, "abc"),
        (DataType.Boolean, "true"),
        (DataType.Double, "x"),
        (DataType.Float, 1e39),
        (DataType.Int16Array, 3),
    ],
)
def test_values_the_type_cannot_carry_are_rejected(datatype: DataType, value: object) -> None:
    with pytest.raises(CodecError):
        codec.check_value(datatype, value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "quality"),
    [
        (0, None),
        (0x00960000, None),  # GoodLocalOverride: still Good
        (0x408F0000, 500),  # UncertainNoCommunicationLastUsableValue → STALE
        (0x40000000, 500),
        (0x80050000, 0),  # BadCommunicationError → BAD
        (0x800A0000, 0),
        (0xC0000000, 0),  # reserved severity treated as Bad
    ],
)
def test_quality_property_only_when_not_good(status: int, quality: int | None) -> None:
    q = codec.quality_of(status)
    metric = one_metric(DataType.Double, 1.0, quality=q)
    if quality is None:
        assert q is Quality.GOOD and "properties" not in metric
    else:
        prop = metric["properties"]["Quality"]
        assert prop == {"type": 3, "kind": "int_value", "value": quality}


def test_unit_goes_in_an_engunit_property() -> None:
    metric = one_metric(DataType.Double, 1.0, unit="r/min", quality=Quality.BAD)
    props = metric["properties"]
    assert props["engUnit"] == {"type": 12, "kind": "string_value", "value": "r/min"}
    assert props["Quality"]["value"] == 0


def test_uint32_field_follows_the_encoding() -> None:
    def field(encoding: codec.Encoding) -> tuple[str, int]:
        raw = codec.encode(TS, 1, [MetricValue(3, DataType.UInt32, 4_000_000_000, TS)], encoding=encoding)
        [metric] = decode_payload(raw)["metrics"]
        return metric["kind"], metric["value"]

    assert field(codec.Encoding()) == ("long_value", 4_000_000_000)  # Tahu and Ignition
    assert field(codec.Encoding(uint32_in_long=False)) == ("int_value", 4_000_000_000)  # the spec's table


def test_data_messages_carry_no_datatype_and_no_unit() -> None:
    m = MetricValue(3, DataType.Int16, -2, TS, unit="°C", quality=Quality.STALE)
    [data] = decode_payload(codec.encode(TS, 1, [m], birth=False))["metrics"]
    assert "datatype" not in data and "engUnit" not in data["properties"]
    assert data["properties"]["Quality"]["value"] == 500 and data["value"] == 0xFFFFFFFE  # no type: raw
    wide = codec.Encoding(datatypes_in_data=True)
    [typed] = decode_payload(codec.encode(TS, 1, [m], birth=False, encoding=wide))["metrics"]
    assert typed["datatype"] == DataType.Int16 and typed["value"] == -2
    [birth] = decode_payload(codec.encode(TS, 1, [m]))["metrics"]
    assert birth["datatype"] == DataType.Int16 and birth["properties"]["engUnit"]["value"] == "°C"


def test_historical_flag() -> None:
    assert one_metric(DataType.Int64, 1, historical=True)["is_historical"] is True
    assert "is_historical" not in one_metric(DataType.Int64, 1)


def test_nbirth_and_ndeath_layout() -> None:
    birth = decode_payload(codec.encode_nbirth(TS, 17))
    assert birth["seq"] == 0 and birth["timestamp"] == TS
    metrics = by_name(birth)
    assert metrics["bdSeq"]["datatype"] == 4 and metrics["bdSeq"]["value"] == 17
    assert metrics["Node Control/Rebirth"] == {
        "name": "Node Control/Rebirth",
        "timestamp": TS,
        "datatype": 11,
        "kind": "boolean_value",
        "value": False,
    }
    death = decode_payload(codec.encode_ndeath(TS, 17))
    assert "seq" not in death
    assert [(m["name"], m["datatype"], m["value"]) for m in death["metrics"]] == [("bdSeq", 4, 17)]


def test_ddeath_has_seq_and_no_metrics() -> None:
    assert decode_payload(codec.encode_ddeath(TS, 9)) == {"metrics": [], "timestamp": TS, "seq": 9}


def test_rebirth_request_parsing() -> None:
    assert codec.rebirth_requested(encode_ncmd_rebirth(TS, True))
    assert not codec.rebirth_requested(encode_ncmd_rebirth(TS, False))
    assert not codec.rebirth_requested(b"\xff\xff\xff")
    assert not codec.rebirth_requested(b"")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("float32", DataType.Float),
        ("Float", DataType.Float),
        ("float64", DataType.Double),
        ("Double", DataType.Double),
        ("bool", DataType.Boolean),
        ("Boolean", DataType.Boolean),
        ("int16", DataType.Int16),
        ("uint16", DataType.UInt16),
        ("bcd32", DataType.UInt32),
        ("string", DataType.String),
        ("DateTime", DataType.DateTime),
        ("int16[]", DataType.Int16Array),
        (10, DataType.Double),
    ],
)
def test_datatype_names(name: str | int, expected: DataType) -> None:
    assert codec.datatype_for(name) is expected


def test_unknown_datatype_names_are_rejected() -> None:
    with pytest.raises(CodecError):
        codec.datatype_for("complex128")
    with pytest.raises(CodecError):
        codec.datatype_for("string[]")
    with pytest.raises(CodecError):
        codec.datatype_for(16)  # DataSet: not emitted by the collector


def test_inferred_datatypes() -> None:
    assert codec.infer_datatype(True) is DataType.Boolean
    assert codec.infer_datatype(3) is DataType.Int64
    assert codec.infer_datatype(3.5) is DataType.Double
    assert codec.infer_datatype("a") is DataType.String
    assert codec.infer_datatype([1, 2]) is DataType.Int64Array
    assert codec.infer_datatype([1, 2.5]) is DataType.DoubleArray
    with pytest.raises(CodecError):
        codec.infer_datatype(["a"])


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "a#", "+"])
def test_topic_ids_without_wildcards(bad: str) -> None:
    with pytest.raises(CodecError):
        codec.validate_id(bad, "edge_node_id")


def test_topic_layout() -> None:
    assert codec.topic("acme-sz", "DDATA", "edge-1", "cnc-07") == "spBv1.0/acme-sz/DDATA/edge-1/cnc-07"
    assert codec.topic("acme-sz", "NBIRTH", "edge-1") == "spBv1.0/acme-sz/NBIRTH/edge-1"


def test_seq_counter_wraps() -> None:
    seq = codec.SeqCounter()
    assert seq.reset() == 0
    assert [seq.next() for _ in range(256)] == [*range(1, 256), 0]


def test_bdseq_per_connect_and_wrap() -> None:
    bd = codec.BdSeq(254)
    assert [bd.on_connect() for _ in range(4)] == [254, 255, 0, 1]
    assert bd.current == 1


def test_aliases_are_stable_and_unique_across_devices() -> None:
    table = codec.AliasTable()
    a = table.alias("d1", "Telemetry/x")
    b = table.alias("d2", "Telemetry/x")
    assert a != b
    assert table.alias("d1", "Telemetry/x") == a


def test_bdseq_counts_connect_packets_only() -> None:
    bd = codec.BdSeq(7)
    assert bd.on_connect() == 7
    bd.retract()  # no TCP connection: no CONNECT went out
    assert bd.on_connect() == 7 and bd.on_connect() == 8
    bd.retract()
    assert bd.current == 7 and bd.on_connect() == 8
