"""The collector's clocks: UTC milliseconds for every stamp in a record, the ledger and the store, and
the monotonic clock for how long things take.

A wall clock can step (NTP correcting a wrong clock, an operator setting it): a duration measured as
the difference of two wall stamps then gains or loses the step. `StepWatch` compares the wall clock
with the monotonic one on every reading and reports a step, so whoever keeps wall stamps can move
them by its size and keep every duration at its monotonic length (docs/STANDARDS.md §1.2). Tests give
a `Clock` of their own to make steps happen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock(Protocol):
    """Where time comes from: wall time (UTC ms) and monotonic time (ms, any origin)."""

    def wall_ms(self) -> int: ...

    def mono_ms(self) -> int: ...


class SystemClock:
    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def mono_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


SYSTEM = SystemClock()
STEP_MS = 1_000  # smaller disagreements between the clocks are slewing, not a step


@dataclass(frozen=True, slots=True)
class Step:
    """The wall clock jumped by `size_ms` (after − before) between two readings of a StepWatch:
    `before_ms` is where the old clock would be now, `after_ms` what the wall clock says."""

    before_ms: int
    after_ms: int

    @property
    def size_ms(self) -> int:
        return self.after_ms - self.before_ms


class StepWatch:
    """Reads a clock and says when its wall time moved differently from its monotonic time by at
    least `threshold_ms` since the previous reading. Each reader keeps its own watch."""

    def __init__(self, clock: Clock = SYSTEM, threshold_ms: int = STEP_MS) -> None:
        self.clock = clock
        self.threshold_ms = threshold_ms
        self._last: tuple[int, int] | None = None

    def now(self) -> tuple[int, Step | None]:
        """Wall time now, and the step the wall clock made since the previous call, if any."""
        wall, mono = self.clock.wall_ms(), self.clock.mono_ms()
        last, self._last = self._last, (wall, mono)
        if last is None:
            return wall, None
        expected = last[0] + (mono - last[1])
        if abs(wall - expected) < self.threshold_ms:
            return wall, None
        return wall, Step(expected, wall)


class ClockHealth:
    """Whether the clock is currently known to be off by more than evidence.timesync_max_offset: the
    recorder sets it from chrony, the device workers mark samples Uncertain while it holds."""

    def __init__(self) -> None:
        self.excursion = False
