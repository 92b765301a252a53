"""Fixed-rate ticks on the monotonic clock, skipping ticks missed while the last read ran."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class FixedRate:
    """`await ticker.wait()` returns on the grid start + k·period; a read that overran skips ticks.

    Skipping (instead of firing the missed ticks back to back) keeps a slow device from being
    hammered; each skipped tick is counted in `overruns` so the cost is visible in metrics.
    """

    def __init__(
        self,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if period <= 0:
            raise ValueError("period must be > 0")
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self.overruns = 0

    async def wait(self) -> None:
        now = self._clock()
        if now > self._next:  # still busy when one or more ticks were due: skip them, stay on the grid
            missed = math.floor((now - self._next) / self.period) + 1
            self.overruns += missed
            self._next += missed * self.period
        if self._next > now:
            await self._sleep(self._next - now)
        self._next += self.period
