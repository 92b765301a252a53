"""Fixed-rate scheduling and telemetry normalisation, with injected clocks."""

from __future__ import annotations

import pytest

from collector.config.device import Report
from collector.normalise.telemetry import TagPolicy, TelemetryNormaliser
from collector.scheduler import FixedRate
from collector.session import next_session
from drivers.base import RawSample
from drivers.status import BAD_NO_COMMUNICATION, BAD_TIMEOUT, BAD_TYPE_MISMATCH, UNCERTAIN_LAST_USABLE_VALUE

pytestmark = pytest.mark.unit


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_fixed_rate_keeps_the_grid_and_counts_skipped_ticks() -> None:
    t = FakeTime()
    ticker = FixedRate(1.0, clock=t.clock, sleep=t.sleep)
    await ticker.wait()  # first tick at once
    assert t.now == 100.0
    t.now += 0.3  # a quick read
    await ticker.wait()
    assert t.now == pytest.approx(101.0)
    t.now += 2.5  # a read that overran two ticks (102, 103)
    await ticker.wait()
    assert ticker.overruns == 2
    assert t.now == pytest.approx(104.0)  # no catch-up burst: the next read is on the grid
    await ticker.wait()
    assert t.now == pytest.approx(105.0)


def sample(tag: str, value: object, status: int = 0) -> RawSample:
    return RawSample(tag, value, status)  # type: ignore[arg-type]


def test_types_are_fixed_and_uncastable_values_become_bad() -> None:
    norm = TelemetryNormaliser(
        "d", 3, [TagPolicy("speed", float), TagPolicy("mode", None), TagPolicy("on", bool)]
    )
    first = norm.process([sample("speed", 1200), sample("mode", 2), sample("on", 1)], 1000)
    assert [(r.value, type(r.value)) for r in first] == [(1200.0, float), (2, int), (True, bool)]
    second = norm.process([sample("speed", "fast"), sample("mode", 2.0), sample("on", 7)], 2000)
    assert [(r.value, r.status) for r in second] == [
        (None, BAD_TYPE_MISMATCH),
        (2, 0),
        (None, BAD_TYPE_MISMATCH),
    ]
    assert [r.seq for r in first + second] == [1, 2, 3, 4, 5, 6]
    assert {r.session for r in first + second} == {3}


def test_bad_samples_never_carry_a_value_forward() -> None:
    norm = TelemetryNormaliser("d", 1, [TagPolicy("t", float)])
    norm.process([sample("t", 5.0)], 1000)
    (bad,) = norm.process([sample("t", None, BAD_TIMEOUT)], 2000)
    assert bad.value is None and bad.status == BAD_TIMEOUT
    lost = norm.unreachable(3000)
    assert [(r.value, r.status) for r in lost] == [(None, BAD_NO_COMMUNICATION)]
    assert norm.unreachable(4000) == []  # said once, not every retry


def test_on_change_with_deadband_and_heartbeat() -> None:
    norm = TelemetryNormaliser(
        "d", 1, [TagPolicy("t", float, deadband=0.5)], Report.ON_CHANGE, max_interval_ms=10_000
    )
    sent = [
        norm.process([sample("t", v)], ts) for ts, v in [(0, 10.0), (1000, 10.3), (2000, 10.6), (3000, 10.7)]
    ]
    assert [len(s) for s in sent] == [1, 0, 1, 0]
    (beat,) = norm.process([sample("t", 10.7)], 12_500)  # heartbeat after max_interval
    assert beat.value == 10.7
    (status_change,) = norm.process([sample("t", 10.7, BAD_TIMEOUT)], 13_000)
    assert status_change.status == BAD_TIMEOUT


def test_stale_tags_become_uncertain_once() -> None:
    norm = TelemetryNormaliser("d", 1, [TagPolicy("t", float)], stale_ms=5000)
    norm.process([sample("t", 1.5)], 1000)
    assert norm.check_stale(5000) == []
    (stale,) = norm.check_stale(7000)
    assert stale.status == UNCERTAIN_LAST_USABLE_VALUE and stale.value == 1.5
    assert norm.check_stale(9000) == []


def test_session_increments_and_persists(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    assert [next_session(folder) for _ in range(3)] == [1, 2, 3]
    assert (folder / "session").read_text().strip() == "3"
