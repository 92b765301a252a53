"""Fixed-rate ticks on the monotonic clock, skipping ticks missed while the last read ran."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable


class FixedRate:
    """`await ticker.wait()` returns on the grid start + k·period; a read that overran skips ticks.

    Skipping (instead of firing the missed ticks back to back) keeps a slow device from being
    hammered; each skipped tick is counted in `overruns` so the cost is visible in metrics. Only a
    read that ran long skips ticks: the grid starts at the first `wait()`, and `restart()` begins a
    new one after time spent elsewhere (connecting, waiting to reconnect), which is no overrun.
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
        self._next: float | None = None  # the grid starts at the first wait()
        self.overruns = 0

    def restart(self) -> None:
        """The next `wait()` returns at once and a new grid starts there."""
        self._next = None

    async def wait(self) -> None:
        now = self._clock()
        if self._next is None:
            self._next = now
        elif now > self._next:  # still busy when one or more ticks were due: skip them, stay on the grid
            missed = math.floor((now - self._next) / self.period) + 1
            self.overruns += missed
            self._next += missed * self.period
        if self._next > now:
            await self._sleep(self._next - now)
        self._next += self.period
