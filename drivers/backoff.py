"""Exponential backoff with jitter, for reconnect loops and quarantines.

Full jitter (a random delay between half and all of the current step) keeps a plant's worth of
devices that failed together (a switch reboot) from reconnecting in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays base, 2·base, 4·base … capped at `cap`, each drawn from [(1-jitter)·step, step]."""

    def __init__(
        self, base: float = 1.0, cap: float = 60.0, *, jitter: float = 0.5, rng: random.Random | None = None
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        if not 0 <= jitter <= 1:
            raise ValueError("jitter must be within 0..1")
        self.base, self.cap, self.jitter = base, cap, jitter
        self._rng = rng or random.Random()
        self._step = base
        self.failures = 0

    @property
    def step(self) -> float:
        """The undithered delay the next call to `next()` draws from."""
        return self._step

    def next(self) -> float:
        """The delay to wait now; the following one doubles (up to the cap)."""
        step = self._step
        self._step = min(self._step * 2, self.cap)
        self.failures += 1
        return step * (1 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """After a success: start again from `base`."""
        self._step = self.base
        self.failures = 0
