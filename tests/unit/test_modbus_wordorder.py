"""Word-order helper: which type/order/scale puts a raw reading in the expected range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.spec import ByteOrder, DataType
from drivers.modbus.wordorder import Candidate, describe_candidates, guess_word_order

pytestmark = pytest.mark.unit

# 229.87 as float32 is 0x4365DEB8; sent low word first (CDAB).
VOLTAGE_CDAB = [0xDEB8, 0x4365]


def test_only_float32_cdab_lands_a_cdab_voltage_in_range() -> None:
    [only] = guess_word_order(VOLTAGE_CDAB, 200, 250)
    assert (only.data_type, only.byte_order, only.scale) == (DataType.FLOAT32, ByteOrder.CDAB, 1.0)
    assert only.value == pytest.approx(229.87, rel=1e-6)
    assert only.describe() == "float32 CDAB → 229.87"


def test_int32_in_tenths_is_found_with_its_scale() -> None:
    candidates = guess_word_order([0x0000, 0x08FB], 200, 250)  # 2299 = 229.9 V in tenths, ABCD
    assert candidates[0].describe() == "int32 ABCD ×0.1 → 229.9"
    assert all(c.data_type is not DataType.UINT32 or c.byte_order is not ByteOrder.ABCD for c in candidates)


def test_unscaled_candidates_rank_before_scaled_ones() -> None:
    # 0x00E6 = 230 in the low word: int32 ABCD unscaled fits, and so do some scaled readings.
    candidates = guess_word_order([0x0000, 0x00E6], 20, 250)
    assert candidates[0] == Candidate(DataType.INT32, ByteOrder.ABCD, 1.0, 230.0)
    scaled = [c.scale != 1 for c in candidates]
    assert scaled == sorted(scaled)


def test_sixteen_and_sixty_four_bit_readings() -> None:
    [c16] = [c for c in guess_word_order([0xE600], 200, 250) if c.scale == 1]
    assert (c16.data_type, c16.byte_order, c16.value) == (DataType.INT16, ByteOrder.BA, 230.0)
    # 229.87 as float64 0x406CBBD70A3D70A4, words reversed (GHEFCDAB).
    words = [0x70A4, 0x0A3D, 0xBBD7, 0x406C]
    best = guess_word_order(words, 200, 250)[0]
    assert (best.data_type, best.byte_order) == (DataType.FLOAT64, ByteOrder.GHEFCDAB)
    assert best.value == pytest.approx(229.87)


def test_nothing_fits_gives_a_hint() -> None:
    assert guess_word_order([0, 0], 200, 250) == []
    assert "no type/order" in describe_candidates([])


@pytest.mark.parametrize(("words", "low", "high"), [([1, 2, 3], 0, 1), ([1, 2], 5, 1)])
def test_bad_arguments_are_refused(words: list[int], low: float, high: float) -> None:
    with pytest.raises(ValueError):
        guess_word_order(words, low, high)


@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2), st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_every_candidate_really_decodes_into_the_range(words: list[int], low: float, width: float) -> None:
    high = low + width
    for c in guess_word_order(words, low, high):
        assert low <= c.value <= high
        assert c.data_type in (DataType.FLOAT32, DataType.INT32, DataType.UINT32)
