"""The durable outbox: ack removes, bounds drop oldest first and count exactly, crash-safe counters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.outbox import Entry, Outbox

pytestmark = pytest.mark.unit


def entry(device: str, first: int, n: int = 1, size: int = 10) -> Entry:
    return Entry("data", device, 1, first, first + n - 1, n, b"x" * size)


def test_ack_removes_and_counts_per_device(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.append([entry("a", 1, 3), entry("b", 1, 2)])
    records = box.fetch(0, 10)
    assert [(r.device, r.seq_first, r.seq_last) for r in records] == [("a", 1, 3), ("b", 1, 2)]
    assert box.ack(records[:1], hist=False) == 3
    assert box.ack(records[1:], hist=True) == 2
    assert box.depth == 0 and box.bytes == 0
    c = box.counters()
    assert c[("a", "accepted")] == 3 and c[("a", "acked")] == 3 and ("a", "replayed") not in c
    assert c[("b", "acked")] == 2 and c[("b", "replayed")] == 2


def test_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.append([entry("a", i) for i in range(1, 6)])
    box.ack(box.fetch(0, 2), hist=False)
    box.close()  # a SIGKILL is exercised end to end in tests/e2e
    again = Outbox(path)
    assert [r.seq_first for r in again.fetch(0, 10)] == [3, 4, 5]
    assert again.depth == 3
    assert again.counters()[("a", "acked")] == 2
    assert again.next_id() == 6


def test_byte_bound_drops_oldest_and_records_ranges(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=10 * 74)  # ten records of 10 bytes + row overhead
    for i in range(1, 26):
        box.append([entry("a", i), entry("b", i)], at_ms=1000 + i)
    kept = box.fetch(0, 100)
    assert len(kept) == 10
    assert [r.seq_first for r in kept if r.device == "a"] == [21, 22, 23, 24, 25]
    drops = box.drops()
    assert {d.reason for d in drops} == {"max_bytes"}
    dropped_a = sorted(s for d in drops if d.device == "a" for s in range(d.seq_first, d.seq_last + 1))
    assert dropped_a == list(range(1, 21))
    assert sum(d.points for d in drops if d.device == "a") == 20 == box.counters()[("a", "dropped")]


def test_age_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_age=10.0)
    box.append([entry("a", 1)], at_ms=0)
    box.append([entry("a", 2)], at_ms=5_000)
    box.enforce_bounds(at_ms=12_000)
    assert [r.seq_first for r in box.fetch(0, 10)] == [2]
    assert [(d.reason, d.seq_first, d.seq_last) for d in box.drops()] == [("max_age", 1, 1)]


def test_ack_of_a_record_dropped_in_flight_counts_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_bytes=250)
    box.append([entry("a", 1)])
    in_flight = box.fetch(0, 10)
    box.append([entry("a", 2, size=150)])  # forces the first out
    assert box.ack(in_flight, hist=False) == 0
    c = box.counters()
    assert c[("a", "dropped")] == 1 and ("a", "acked") not in c


def test_reject_records_reason(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.append([entry("a", 1, 4)])
    assert box.reject(box.fetch(0, 1), "HTTP 400: bad") == 4
    assert box.drops()[0].reason == "rejected: HTTP 400: bad"
    assert box.counters()[("a", "dropped")] == 4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.booleans()), min_size=1, max_size=40))
def test_accounting_is_exact(tmp_path_factory: object, ops: list[tuple[int, bool]]) -> None:
    """accepted == acked + dropped + pending, whatever interleaving of appends, acks and drops."""
    path = tmp_path_factory.mktemp("ob") / "o.sqlite"  # type: ignore[attr-defined]
    box = Outbox(path, max_bytes=600)
    seq = 1
    for n, ack in ops:
        box.append([entry("a", seq, n, size=40)])
        seq += n
        if ack:
            box.ack(box.fetch(0, 2), hist=False)
    c = box.counters()
    pending = box.pending_by_device().get("a", 0)
    assert c[("a", "accepted")] == seq - 1
    assert c.get(("a", "acked"), 0) + c.get(("a", "dropped"), 0) + pending == seq - 1
