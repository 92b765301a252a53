"""The records sent during the last moments, kept in memory to send again as history.

A broker acknowledgement says the broker has a message, not that the primary host got it: a host that
lost its connection only shows up as offline once the broker notices (at once for a closed socket, up
to 1.5 × its keepalive for a silent network). What was sent in that window reached nobody, so when
the host's offline STATE arrives the sink sends those records again, flagged is_historical, after
the next births. In conformant mode (QoS 0) the same covers the messages a lost broker connection
swallowed. Memory only: a process that dies in the same moment loses this second copy.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

from collector.outbox import OutboxRecord


class RecentTail:
    def __init__(
        self, window_s: float, max_bytes: int = 32 << 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._records: deque[tuple[float, OutboxRecord]] = deque()
        self._bytes = 0
        self.dropped = 0  # records that fell out of the byte bound while still inside the window

    def add(self, records: Sequence[OutboxRecord]) -> None:
        if self.window_s <= 0:
            return
        now = self._clock()
        for record in records:
            self._records.append((now, record))
            self._bytes += len(record.body)
        self._trim(now)

    def take(self) -> list[OutboxRecord]:
        """Everything sent within the window, oldest first; the tail is empty afterwards."""
        self._trim(self._clock())
        out = [record for _t, record in self._records]
        self._records.clear()
        self._bytes = 0
        return out

    def _trim(self, now: float) -> None:
        records = self._records
        while records and (records[0][0] < now - self.window_s or self._bytes > self.max_bytes):
            if records[0][0] >= now - self.window_s:
                self.dropped += 1
            self._bytes -= len(records.popleft()[1].body)
