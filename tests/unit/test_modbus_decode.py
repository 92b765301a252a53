"""Modbus value decoding: golden cases from tests/cases/modbus_decode plus encode/decode properties."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import status
from drivers.modbus.decode import TagDecoder, compile_decoder, decode_bits, decode_tag, encode_value
from drivers.modbus.spec import ByteOrder, DataType, ModbusTagSpec, Table

pytestmark = pytest.mark.unit

CASES_FILE = Path(__file__).parents[1] / "cases" / "modbus_decode" / "cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]

ORDERS_16 = [ByteOrder.AB, ByteOrder.BA]
ORDERS_32 = [ByteOrder.ABCD, ByteOrder.BADC, ByteOrder.CDAB, ByteOrder.DCBA]
ORDERS_64 = [ByteOrder.ABCDEFGH, ByteOrder.BADCFEHG, ByteOrder.GHEFCDAB, ByteOrder.HGFEDCBA]
WIDTH_ORDERS = {1: ORDERS_16, 2: ORDERS_32, 4: ORDERS_64}
INT_RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
    DataType.BCD16: (0, 9999),
    DataType.BCD32: (0, 99_999_999),
}
FLOAT_WIDTH = {DataType.FLOAT32: 32, DataType.FLOAT64: 64}
NUMERIC = [*INT_RANGES, *FLOAT_WIDTH]


def make_spec(
    data_type: DataType,
    byte_order: ByteOrder = ByteOrder.ABCD,
    table: Table = Table.HOLDING_REGISTER,
    **kw: Any,
) -> ModbusTagSpec:
    return ModbusTagSpec("t", 1, table, 0, data_type, byte_order, **kw)


def spec_of(case: dict[str, Any]) -> ModbusTagSpec:
    raw = dict(case["spec"])
    data_type = DataType(raw.pop("data_type"))
    order = ByteOrder(raw.pop("byte_order", "ABCD"))
    table = Table(raw.pop("table", "holding_register"))
    return make_spec(data_type, order, table, **raw)


def words_of(case: dict[str, Any]) -> list[int]:
    return [int(w, 16) if isinstance(w, str) else w for w in case["words"]]


def decode_case(case: dict[str, Any], spec: ModbusTagSpec | None = None) -> tuple[Any, int]:
    spec = spec or spec_of(case)
    if case.get("bits"):
        return decode_bits(spec, words_of(case))
    return decode_tag(spec, words_of(case))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case_decodes_to_expected_value_and_status(case: dict[str, Any]) -> None:
    value, code = decode_case(case)
    assert code == getattr(status, case["status"]), f"status {code:#x}"
    expected = case["value"]
    if case.get("approx"):
        assert value == pytest.approx(expected, rel=1e-6)
    else:
        assert value == expected
    if "value_type" in case:
        assert type(value).__name__ == case["value_type"]
    elif expected is not None:
        assert type(value) is type(expected)


DISTINCT = [c for c in CASES if c.get("distinct_orders")]


@pytest.mark.parametrize("case", DISTINCT, ids=[c["name"] for c in DISTINCT])
def test_golden_words_decode_differently_under_every_other_order(case: dict[str, Any]) -> None:
    spec = spec_of(case)
    for order in WIDTH_ORDERS[spec.count]:
        if order is spec.byte_order:
            continue
        value, _ = decode_case(case, make_spec(spec.data_type, order))
        assert value != pytest.approx(case["value"], rel=1e-6), order


ENCODABLE = [
    c for c in CASES if c["status"] != "BAD_DECODING_ERROR" and DataType(c["spec"]["data_type"]) in NUMERIC
]


@pytest.mark.parametrize("case", ENCODABLE, ids=[c["name"] for c in ENCODABLE])
def test_golden_value_encodes_to_golden_words(case: dict[str, Any]) -> None:
    assert encode_value(spec_of(case), case["value"]) == words_of(case)


def orders_for(data_type: DataType) -> list[ByteOrder]:
    """Every order that is meaningful for the type, aliases included."""
    width = make_spec(data_type).count
    if width == 1:
        return [*ORDERS_16, *ORDERS_32]
    if width == 4:
        return [*ORDERS_64, *ORDERS_32]
    return ORDERS_32


@st.composite
def numeric_spec_and_value(draw: st.DrawFn) -> tuple[ModbusTagSpec, int | float]:
    data_type = draw(st.sampled_from(NUMERIC))
    spec = make_spec(data_type, draw(st.sampled_from(orders_for(data_type))))
    if data_type in FLOAT_WIDTH:
        width = FLOAT_WIDTH[data_type]
        value: int | float = draw(st.floats(width=width, allow_nan=False, allow_infinity=False))  # type: ignore[arg-type]
    else:
        lo, hi = INT_RANGES[data_type]
        value = draw(st.integers(lo, hi))
    return spec, value


@given(numeric_spec_and_value())
def test_encode_then_decode_round_trips_every_numeric_type_and_order(
    drawn: tuple[ModbusTagSpec, int | float],
) -> None:
    spec, value = drawn
    words = encode_value(spec, value)
    assert len(words) == spec.count
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_tag(spec, words) == (value, status.GOOD)


@given(
    st.sampled_from([t for t in NUMERIC if t not in (DataType.BCD16, DataType.BCD32)]),
    st.data(),
)
def test_decode_then_encode_restores_the_wire_words(data_type: DataType, data: st.DataObject) -> None:
    spec = make_spec(data_type, data.draw(st.sampled_from(orders_for(data_type))))
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=spec.count, max_size=spec.count))
    value, code = decode_tag(spec, words)
    if code == status.BAD_DECODING_ERROR:  # NaN or infinity
        assert data_type in FLOAT_WIDTH
        return
    assert value is not None
    assert encode_value(spec, value) == words


@given(
    st.sampled_from([DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.BCD16]),
    st.sampled_from([0.1, 0.01, 2.0, 0.5]),
    st.sampled_from([0.0, -40.0, 273.15]),
    st.data(),
)
def test_scaled_values_encode_back_to_the_same_raw(
    data_type: DataType, scale: float, offset: float, data: st.DataObject
) -> None:
    spec = make_spec(data_type, scale=scale, offset=offset)
    lo, hi = INT_RANGES[data_type]
    raw = data.draw(st.integers(lo, hi))
    raw_words = encode_value(make_spec(data_type), raw)
    value, code = decode_tag(spec, raw_words)
    assert code == status.GOOD
    assert isinstance(value, float)
    assert value == pytest.approx(raw * scale + offset)
    assert encode_value(spec, value) == raw_words


@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12),
    st.integers(1, 8),
    st.sampled_from([ByteOrder.AB, ByteOrder.BA]),
)
def test_strings_round_trip_in_both_byte_orders(text: str, length: int, order: ByteOrder) -> None:
    spec = make_spec(DataType.STRING, order, length=length)
    if len(text) > 2 * length:
        with pytest.raises(ValueError):
            encode_value(spec, text)
        return
    assert decode_tag(spec, encode_value(spec, text)) == (text, status.GOOD)


@given(st.integers(0, 15), st.booleans())
def test_register_bit_round_trips(bit: int, on: bool) -> None:
    spec = make_spec(DataType.BOOL, bit=bit)
    assert decode_tag(spec, encode_value(spec, on)) == (on, status.GOOD)


SPECS_FOR_FUZZ = [make_spec(t) for t in NUMERIC] + [
    make_spec(DataType.STRING, length=3),
    make_spec(DataType.BOOL, bit=4),
    make_spec(DataType.FLOAT32, scale=0.1, range_min=0, range_max=1),
]


@given(st.sampled_from(SPECS_FOR_FUZZ), st.lists(st.integers(-(2**17), 2**17), max_size=6))
def test_decoding_garbage_never_raises(spec: ModbusTagSpec, words: list[int]) -> None:
    value, code = decode_tag(spec, words)
    assert status.is_bad(code) == (value is None)
    if len(words) != spec.count or any(not 0 <= w <= 0xFFFF for w in words):
        assert code == status.BAD_DECODING_ERROR


def test_decoding_non_utf8_string_bytes_never_raises() -> None:
    spec = make_spec(DataType.STRING, length=2)
    value, code = decode_tag(spec, [0xC3FF, 0xFE80])
    assert code == status.GOOD
    assert isinstance(value, str) and "\ufffd" in value


def test_bits_need_exactly_one_bit() -> None:
    spec = make_spec(DataType.BOOL, table=Table.COIL)
    assert decode_bits(spec, []) == (None, status.BAD_DECODING_ERROR)
    assert decode_bits(spec, [True, False]) == (None, status.BAD_DECODING_ERROR)
    assert encode_value(spec, True) == [1]


@pytest.mark.parametrize(
    ("spec_kw", "message"),
    [
        ({"data_type": DataType.INT16, "bit": 3}, "bit is only valid for bool"),
        ({"data_type": DataType.BOOL, "bit": 3, "table": Table.COIL}, "in a register table"),
        ({"data_type": DataType.BOOL, "bit": 16}, "outside 0..15"),
        ({"data_type": DataType.INT16, "table": Table.COIL}, "holds bits"),
        ({"data_type": DataType.STRING}, "needs length"),
        ({"data_type": DataType.INT16, "scale": 0.0}, "non-zero"),
        ({"data_type": DataType.INT16, "offset": math.nan}, "finite"),
    ],
)
def test_invalid_specs_are_rejected_when_compiled(spec_kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TagDecoder(make_spec(**spec_kw))


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (make_spec(DataType.INT16), 40000),
        (make_spec(DataType.UINT16), -1),
        (make_spec(DataType.UINT64), 2**64),
        (make_spec(DataType.FLOAT32), 1e39),
        (make_spec(DataType.BCD16), 10000),
        (make_spec(DataType.BCD32), -1),
        (make_spec(DataType.INT32), "12"),
        (make_spec(DataType.INT32), math.inf),
        (make_spec(DataType.STRING, length=1), "abc"),
        (make_spec(DataType.STRING, length=1), 5),
        (make_spec(DataType.BOOL, bit=1), "yes"),
    ],
)
def test_encode_rejects_values_that_do_not_fit(spec: ModbusTagSpec, value: Any) -> None:
    with pytest.raises(ValueError):
        encode_value(spec, value)


def test_compiled_decoders_are_cached_per_spec() -> None:
    spec = make_spec(DataType.FLOAT32, ByteOrder.CDAB)
    assert compile_decoder(spec) is compile_decoder(make_spec(DataType.FLOAT32, ByteOrder.CDAB))
