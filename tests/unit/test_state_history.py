"""The recorder's recent state intervals, from which a (re)started worker completes its open KPI
windows: read back from the ledger as written, kept up to date, older than a day dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.ledger import Ledger, keys
from collector.normalise.records import State, StateInterval
from collector.normalise.state_rules import classify
from collector.recorder import payloads
from collector.recorder.history import KEEP_MS, StateHistory

pytestmark = pytest.mark.unit

NOW = 1_790_000_000_000
HOUR = 3_600_000


def interval(device: str, start: int, end: int, state: State) -> StateInterval:
    bucket, e10 = classify(state, None)
    return StateInterval(device, start, end, state, None, bucket, e10, (("run", True),), "r@0123456789ab")


def test_intervals_are_read_back_from_the_ledger_and_kept_up_to_date(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger", keys.load_or_create(tmp_path / "key.pem"), "test")
    written = [
        interval("m1", NOW - 30 * HOUR, NOW - 29 * HOUR, State.RUNNING),  # older than a day: not needed
        interval("m1", NOW - 3 * HOUR, NOW - 2 * HOUR, State.RUNNING),
        interval("m2", NOW - 3 * HOUR, NOW - HOUR, State.ALARM),
        interval("m1", NOW - 2 * HOUR, NOW - HOUR, State.OFFLINE),
    ]
    for iv in written:
        ledger.append("STATE_INTERVAL", payloads.interval(iv), iv.end)  # written when it closed
    ledger.close()
    history = StateHistory(tmp_path / "ledger")
    got = history.of("m1", NOW)
    assert [(iv.start, iv.end, iv.state, iv.bucket) for iv in got] == [
        (iv.start, iv.end, iv.state, iv.bucket) for iv in (written[1], written[3])
    ]
    assert all(iv.inputs == () for iv in got)  # a KPI window needs no input values
    later = interval("m1", NOW - HOUR, NOW, State.IDLE)
    history.add(later)
    assert history.of("m1", NOW)[-1].end == NOW
    assert [iv.state for iv in history.of("m1", NOW + KEEP_MS - HOUR // 2)] == [State.IDLE]
