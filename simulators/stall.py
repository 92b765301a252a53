"""The "hung device" fault every PLC simulator has: keep the connections, answer nothing."""

from __future__ import annotations

import math
import time


class Stallable:
    """`await sim.stall(5)`: the simulator answers nothing for 5 s (or until `unstall()`)."""

    _stall_until = 0.0

    async def stall(self, seconds: float | None = None) -> None:
        """Keep accepting connections and requests but answer none (for `seconds`, or until unstall)."""
        self._stall_until = math.inf if seconds is None else time.monotonic() + seconds

    async def unstall(self) -> None:
        self._stall_until = 0.0

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until
