"""Records the broker took and the store has not confirmed yet: a bounded window, the store's
confirmations, and when a record is sent again (docs/DELIVERY.md, "Store confirmation").

    waiting = Unconfirmed(outbox, timeout=30.0, window=10_000, name="mqtt")
    batch = waiting.fit(records)          # what the window lets out
    waiting.settle(batch, hist=False)     # after their PUBACKs: marked sent, kept
    waiting.confirmed(confirmation)       # from the sink, as it arrives
    waiting.apply()                       # confirmed records leave the outbox
    waiting.due(500)                      # records unconfirmed past their deadline: send again

The window keeps a long backlog in the outbox (durable) rather than in the broker (memory, lost in
a crash): records are published only as fast as the store confirms them. The deadline doubles with
each send of the same record, up to 8x the timeout, so a store that is down for an hour sees the
same window sent a few times, not once every timeout.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Iterable, Sequence

from collector.outbox import Outbox, OutboxRecord
from collector.sinks.base import DATA
from collector.sinks.confirm import Confirmation

log = logging.getLogger(__name__)

MAX_FACTOR = 8  # the deadline of a record sent again and again grows to timeout x this at most


class Deadlines:
    """When each waiting record is due to be sent again; ids only."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._due: dict[int, float] = {}  # id -> when to send it again
        self._sends: dict[int, int] = {}  # id -> PUBACKs seen so far
        self._heap: list[tuple[float, int]] = []  # (due, id); stale entries are skipped

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._due

    def sent(self, ids: Iterable[int], now: float) -> None:
        for i in ids:
            sends = self._sends.get(i, 0) + 1
            self._sends[i] = sends
            due = now + self.timeout * min(2 ** (sends - 1), MAX_FACTOR)
            self._due[i] = due
            heapq.heappush(self._heap, (due, i))

    def forget(self, ids: Iterable[int]) -> None:
        for i in ids:
            self._due.pop(i, None)
            self._sends.pop(i, None)

    def hold(self) -> None:
        """Nothing is due until sent again (the replay after a lost connection sends them)."""
        for i in self._due:
            self._due[i] = math.inf
        self._heap.clear()

    def expedite(self, latest: float) -> None:
        """Every deadline at `latest` at most (a stopping collector's last chance)."""
        for i, due in self._due.items():
            if due > latest:
                self._due[i] = latest
                heapq.heappush(self._heap, (latest, i))

    def due(self, now: float, limit: int) -> list[int]:
        """Up to `limit` ids past their deadline, the longest overdue first."""
        out: list[int] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            due, i = heapq.heappop(self._heap)
            if self._due.get(i) == due:
                out.append(i)
        return out

    def overdue(self, now: float) -> bool:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return bool(self._heap) and self._heap[0][0] <= now


class Unconfirmed:
    """The store-confirmation side of one outbox (the MQTT sink's, when historians confirm)."""

    def __init__(self, outbox: Outbox, timeout: float, window: int, name: str = "mqtt") -> None:
        self.outbox = outbox
        self.window = window
        self.name = name
        self.deadlines = Deadlines(timeout)
        self._arrived: list[Confirmation] = []
        self._silent = False  # said once: records wait past their deadline
        self._resent_at = -math.inf  # when records were last sent again (monotonic)
        outbox.on_drop = self.deadlines.forget  # a bound dropped them: nothing to wait for

    def __len__(self) -> int:
        return len(self.deadlines)

    @property
    def timeout(self) -> float:
        return self.deadlines.timeout

    def confirmed(self, confirmation: Confirmation) -> None:
        """A historian's confirmation, as the sink receives it; `apply` removes the records."""
        self._arrived.append(confirmation)

    def apply(self) -> int:
        """Remove what the store confirmed (and drop what it refused for good); returns the records."""
        arrived, self._arrived = self._arrived, []
        removed: list[OutboxRecord] = []
        for c in arrived:
            removed += self.outbox.confirm(c.stored)
            for run, reason in c.rejected:
                refused = self.outbox.covered([run])
                self.outbox.reject(refused, reason)
                removed += refused
        self.deadlines.forget(r.id for r in removed)
        # recovered once a whole timeout passed without a re-send: deadlines that pass one after
        # another while the re-sent records come back must not make the log flap
        now = time.monotonic()
        if self._silent and removed and now - self._resent_at >= self.timeout:
            self._silent = False
            log.warning("%s: the store confirms again", self.name)
        return len(removed)

    def due(self, limit: int) -> list[OutboxRecord]:
        """Records unconfirmed past their deadline, to send again."""
        now = time.monotonic()
        if not self._silent and self.deadlines.overdue(now):
            self._silent = True
            log.warning(
                "%s: no store confirmation within %.0fs, sending again"
                " (lost by the broker? no historian running?)",
                self.name, self.timeout,
            )  # fmt: skip
        ids = self.deadlines.due(now, limit)
        if ids:
            self._resent_at = now
        records = self.outbox.fetch_ids(ids) if ids else []
        if len(records) < len(ids):  # removed meanwhile: nothing to wait for
            self.deadlines.forget(set(ids) - {r.id for r in records})
        return records

    def fit(self, records: list[OutboxRecord]) -> list[OutboxRecord]:
        """The leading records that fit the window; ones already waiting (sent again after a lost
        connection), and kinds no store confirms, take no room."""
        room, out = max(0, self.window - len(self.deadlines)), []
        for r in records:
            if r.kind == DATA and r.id not in self.deadlines:
                if room == 0:
                    break
                room -= 1
            out.append(r)
        return out

    def settle(self, records: Sequence[OutboxRecord], hist: bool) -> None:
        """The broker took them: telemetry is counted, kept and its deadlines start; state, event
        and KPI records leave at the PUBACK (historians store telemetry only: nothing would ever
        confirm them)."""
        others = [r for r in records if r.kind != DATA]
        if others:
            self.outbox.ack(others, hist=hist)
        data = [r for r in records if r.kind == DATA] if others else records
        self.outbox.published(data, hist=hist)
        self.deadlines.sent((r.id for r in data), time.monotonic())

    def forget(self, records: Iterable[OutboxRecord]) -> None:
        self.deadlines.forget(r.id for r in records)

    def hold(self) -> None:
        """The connection was lost: the broker may have lost whatever it held, so the delivery
        replays every stored record from the oldest; a deadline firing meanwhile would send twice."""
        self.deadlines.hold()

    def stopping(self, until: float) -> None:
        """The collector stops: what is still unconfirmed at `until` (monotonic), or a second after
        it was sent, goes out again while the flush lasts, rather than waiting for the next start."""
        self.deadlines.expedite(max(until, time.monotonic() + 1.0))
