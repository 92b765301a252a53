"""Part counters: rollover at 2^16/2^32, reset, implausible jumps, restart from a persisted baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.config.state import CounterConfig, CounterRole
from collector.normalise.counters import BaselineStore, PartCounter
from collector.normalise.records import CounterEventKind
from drivers.status import BAD_TIMEOUT, GOOD, is_uncertain

pytestmark = pytest.mark.unit


def _counter(
    width: int = 16, max_rate: float | None = 2.0, store: BaselineStore | None = None
) -> PartCounter:
    cfg = CounterConfig(name="parts", tag="parts_count", width=width, max_rate=max_rate, tolerance=0.5)
    return PartCounter("plc-01", cfg, store)


def test_first_reading_is_a_baseline_and_counts_nothing() -> None:
    counter = _counter()
    update = counter.update(0, 120)
    assert update.delta is None
    [event] = update.events
    assert (event.event, event.before, event.after, event.delta_applied) == (
        CounterEventKind.BASELINE,
        None,
        120,
        0,
    )


@pytest.mark.parametrize("width", [16, 32])
def test_rollover_at_the_top_of_the_range(width: int) -> None:
    counter = _counter(width=width)
    top = 2**width
    counter.update(0, top - 3)
    update = counter.update(5_000, 4)  # 3 parts to the wrap + 4 after = 7 ≤ 2/s x 5 s x 1.5 = 15
    assert update.delta is not None and update.delta.delta == 7
    [event] = update.events
    assert (event.event, event.before, event.after, event.delta_applied) == (
        CounterEventKind.ROLLOVER,
        top - 3,
        4,
        7,
    )


def test_drop_below_the_top_ten_percent_is_a_reset() -> None:
    counter = _counter()
    counter.update(0, int(0.9 * 2**16) - 1)  # just under 0.9 x 2^16: a drop cannot be a wrap
    update = counter.update(10_000, 5, reason="SHIFT")
    assert update.delta is not None and update.delta.delta == 5  # parts since the reset
    [event] = update.events
    assert (event.event, event.delta_applied, event.reason) == (CounterEventKind.RESET, 5, "SHIFT")


def test_wrap_faster_than_the_machine_can_make_parts_is_a_reset() -> None:
    counter = _counter()
    counter.update(0, 65_000)
    update = counter.update(1_000, 400)  # wrap would be 936 parts in 1 s at max 2/s: a reset
    assert [e.event for e in update.events] == [CounterEventKind.RESET, CounterEventKind.IMPLAUSIBLE]
    assert update.delta is not None and update.delta.delta == 0 and update.delta.quarantined == 400


def test_implausible_jump_is_quarantined_and_uncertain() -> None:
    counter = _counter()
    counter.update(0, 100)
    update = counter.update(10_000, 1_100)  # 1000 parts in 10 s; allowed 2 x 10 x 1.5 = 30
    assert update.delta is not None
    assert (update.delta.delta, update.delta.quarantined) == (0, 1000)
    assert is_uncertain(update.delta.q)
    [event] = update.events
    assert (event.event, event.before, event.after, event.delta_applied) == (
        CounterEventKind.IMPLAUSIBLE,
        100,
        1100,
        0,
    )
    assert event.reason and "max_rate" in event.reason
    # Counting continues from the new value.
    following = counter.update(11_000, 1_102)
    assert following.delta is not None and following.delta.delta == 2 and following.delta.q == GOOD


def test_bad_and_non_integer_readings_are_ignored() -> None:
    counter = _counter()
    counter.update(0, 10)
    assert counter.update(1_000, 99, status=BAD_TIMEOUT).delta is None
    assert counter.update(1_000, "12").delta is None
    assert counter.update(1_000, 12.5).delta is None
    update = counter.update(2_000, 12)
    assert (
        update.delta is not None and update.delta.delta == 2 and update.delta.since == 0
    )  # ignored readings move nothing


def test_signed_register_value_is_decoded_unsigned() -> None:
    counter = _counter(max_rate=None)
    counter.update(0, 32_767)
    update = counter.update(1_000, -32_768)  # int16 misread: really 32768
    assert update.delta is not None and update.delta.delta == 1 and not update.events


def test_restart_continues_from_the_persisted_baseline(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path, "plc-01")
    first = _counter(store=store)
    first.update(0, 100)
    first.update(5_000, 105)
    saved = json.loads(store.path("parts").read_text(encoding="utf-8"))
    assert saved == {"value": 105, "ts": 5_000}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter.plc-01.parts.json"]  # no temp left
    second = _counter(store=BaselineStore(tmp_path, "plc-01"))  # the collector restarted
    update = second.update(60_000, 130)  # 25 parts made while it was down
    assert update.delta is not None and update.delta.delta == 25 and not update.events
    assert update.delta.role is CounterRole.ALL


def test_damaged_baseline_file_starts_a_new_baseline(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path, "plc-01")
    store.path("parts").write_text("{not json", encoding="utf-8")
    update = _counter(store=store).update(0, 7)
    assert [e.event for e in update.events] == [CounterEventKind.BASELINE]


def _total(counter: PartCounter, readings: list[tuple[int, int]]) -> int:
    total = 0
    for ts, value in readings:
        update = counter.update(ts, value)
        total += update.delta.delta if update.delta else 0
    return total


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 2**16 - 1),
    increments=st.lists(st.integers(0, 6_553), min_size=1, max_size=40),
    split=st.integers(0, 40),
)
def test_restart_anywhere_counts_the_same_total(
    tmp_path_factory: pytest.TempPathFactory, start: int, increments: list[int], split: int
) -> None:
    # Increments below 0.1 x 2^16 guarantee every wrap starts in the top 10 % of the range.
    readings = [(0, start)]
    for step, inc in enumerate(increments, start=1):
        readings.append((step * 3_600_000, (readings[-1][1] + inc) % 2**16))
    whole = _total(_counter(max_rate=10.0), readings)
    folder = tmp_path_factory.mktemp("state")
    cut = min(split, len(readings))
    before = _total(_counter(max_rate=10.0, store=BaselineStore(folder, "plc-01")), readings[:cut])
    after = _total(_counter(max_rate=10.0, store=BaselineStore(folder, "plc-01")), readings[cut:])
    assert whole == before + after == sum(increments)
