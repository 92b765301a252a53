"""Simulated clock: epoch seconds that run ``time_scale`` times faster than real time."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """``now()`` = start + (real() - real_at_construction) * time_scale.

    ``real`` is a monotonic source so wall-clock jumps (NTP) do not move simulated time; tests
    inject a fake ``real`` to get exact values.
    """

    def __init__(
        self,
        time_scale: float = 1.0,
        start: float | None = None,
        real: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self.start = time.time() if start is None else float(start)
        self._real = real
        self._real0 = real()

    def now(self) -> float:
        return self.start + (self._real() - self._real0) * self.time_scale
