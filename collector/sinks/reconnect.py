"""When an MQTT sink tries its broker again, and how a loss or an outage is said: once.

Both MQTT sinks (UNS JSON and Sparkplug) keep one connection and raise `RetryableSinkError` while
the broker is away, so the outbox keeps the batch. A broker back must see live data within seconds,
so the jittered backoff is short; the first failure of an outage is logged, the others only counted.
"""

from __future__ import annotations

import logging
import time

from collector.sinks.base import RetryableSinkError
from drivers.backoff import Backoff

log = logging.getLogger(__name__)


class Reconnect:
    def __init__(self, label: str, host: str, port: int) -> None:
        self.where = f"{label} {host}:{port}"
        self.connects = 0
        self._backoff = Backoff(base=0.5, cap=5.0)
        self._next_attempt = 0.0
        self._was_up = False

    def lost(self, reason: str) -> RetryableSinkError:
        """The connection went away: say so once; retry at once (the delivery marks a replay)."""
        if self._was_up:
            log.warning("%s lost: %s", self.where, reason)
            self._was_up = False
        return RetryableSinkError(f"mqtt connection lost: {reason}", retry_after=0.0)

    def due(self) -> None:
        """Raise RetryableSinkError while the backoff after the last failed attempt runs."""
        if time.monotonic() < self._next_attempt:
            raise RetryableSinkError("mqtt: waiting to reconnect")

    def failed(self, exc: Exception) -> RetryableSinkError:
        """An attempt failed: schedule the next one; log the change once, later attempts are counted."""
        self._next_attempt = time.monotonic() + self._backoff.next()
        if self._backoff.failures == 1:
            log.warning("%s unavailable: %s", self.where, exc)
        return RetryableSinkError(str(exc))

    def up(self) -> None:
        self._backoff.reset()
        self._was_up = True
        self.connects += 1
