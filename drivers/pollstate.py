"""What a polling driver keeps between polls: counters for metrics, the tags a device refused, and
whether it is failing (logged once when it starts and once when it recovers).

Shared by the drivers that plan merged block reads (S7, MC); counts go to `stats`, never to the log.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    requests: int = 0  # sent on the wire, isolation reads included
    timeouts: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # the device's error code -> count
    reconnects: int = 0  # connections opened after the first
    isolated: int = 0  # tags found unreadable inside a merged read
    limit_learned: int | None = None  # a smaller request size the device turned out to accept
    last_latency_s: float | None = None  # round trip of the last answered request
    last_poll_s: float | None = None
    last_poll_requests: int = 0

    def as_dict(self) -> dict[str, float | int | dict[str, int] | None]:
        return {
            "polls": self.polls,
            "requests": self.requests,
            "timeouts": self.timeouts,
            "refused": dict(sorted(self.refused.items())),
            "reconnects": self.reconnects,
            "isolated": self.isolated,
            "limit_learned": self.limit_learned,
            "last_latency_s": self.last_latency_s,
            "last_poll_s": self.last_poll_s,
            "last_poll_requests": self.last_poll_requests,
        }


class UnreadableTags:
    """Tag names a device refused even when read alone; each is skipped for `ttl` seconds (None:
    until `clear()`, which a driver calls on reconnect, since the PLC may have been reloaded)."""

    def __init__(self, ttl: float | None = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._until: dict[str, float] = {}

    def remember(self, names: Iterable[str]) -> None:
        until = float("inf") if self._ttl is None else self._clock() + self._ttl
        for name in names:
            self._until[name] = until

    def active(self) -> frozenset[str]:
        if not self._until:
            return frozenset()
        now = self._clock()
        for name in [n for n, until in self._until.items() if until <= now]:
            del self._until[name]
        return frozenset(self._until)

    def clear(self) -> None:
        self._until.clear()


class FailureLog:
    """Logs a device's change to failing once and its recovery once.

    Failures that leave `read()` as exceptions are logged by the engine, so a driver passes DEBUG for
    those; failures hidden inside a poll (Bad samples) are only visible to the driver.
    """

    def __init__(self, logger: logging.Logger, device_id: str) -> None:
        self._log, self._device = logger, device_id
        self.current: str | None = None

    def set(self, what: str | None, level: int = logging.WARNING) -> None:
        if what == self.current:
            return
        if what is None:
            self._log.info("device %s: reading normally again", self._device)
        elif self.current is None:
            self._log.log(level, "device %s: %s", self._device, what)
        self.current = what
