"""Per device: collect state intervals and counter deltas, emit an OEE record as each window closes.

Windows are the calendar's local hours, shifts and days. A record is emitted once, when its window
has ended; the interval still open at that moment is cut at the window's end so the record is
complete. History older than the longest window is dropped.

The record must equal what the emitted StateIntervals (the ledger's STATE_INTERVAL entries) give
when clipped to the window, so the evidence pack recomputes it. A debounced change starts at its
`since`, before it is committed: while one is pending that would start before a window's end, the
window waits (at most the rule's longest debounce). Once emitted, the window is sealed in the state
machine: no later change starts before its end and the interval open across it keeps its bucket.
"""

from __future__ import annotations

from collector.config.plant import Device
from collector.normalise.oee import KpiInputs, kpi_window
from collector.normalise.records import (
    CounterDelta,
    CounterEvent,
    CounterRole,
    KpiRecord,
    Period,
    StateChange,
    StateInterval,
)
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.state import StateMachine

_KEEP_MS = 2 * 86_400_000  # a day window plus slack for a late close


class KpiTracker:
    def __init__(self, device: Device, calendar: ShiftCalendar, start_ms: int) -> None:
        self.device = device
        self.calendar = calendar
        self.good_counter = any(c.role is CounterRole.GOOD for c in device.counters)
        self.intervals: list[StateInterval] = []
        self.deltas: list[CounterDelta] = []
        self.events: list[CounterEvent] = []
        self._done: dict[Period, int] = dict.fromkeys(Period, start_ms)  # windows ending after this are due

    def add(
        self,
        states: tuple[StateChange, ...],
        deltas: tuple[CounterDelta, ...],
        events: tuple[CounterEvent, ...],
    ) -> None:
        self.intervals.extend(c.closed for c in states if c.closed is not None)
        self.deltas.extend(deltas)
        self.events.extend(events)

    def due(self, now_ms: int, machine: StateMachine) -> list[KpiRecord]:
        """Records of every window that ended since the last call (none before the tracker started)
        and that no pending state change can still reach into."""
        current = machine.current
        ready = _settled(now_ms, machine)
        out: list[KpiRecord] = []
        sealed = 0
        for period in Period:
            last = self._done[period]
            windows = [w for w in self.calendar.windows(period, last, ready) if last < w.end <= ready]
            for window in windows:
                if window.start < last:
                    continue  # began before the collector did: it would be reported incomplete
                inputs = KpiInputs(self.device.id, self._intervals_until(window.end, current), self.deltas,
                                   self.events, self.good_counter)  # fmt: skip
                out.append(kpi_window(inputs, self.calendar, self.device.oee, window))
            if windows:
                self._done[period] = max(w.end for w in windows)
                sealed = max(sealed, self._done[period])
        if out:
            machine.seal(sealed)
        self._prune(now_ms)
        return out

    def _intervals_until(self, end: int, current: StateChange | None) -> list[StateInterval]:
        if current is None or current.since >= end:
            return self.intervals
        open_part = StateInterval(
            current.device, current.since, end, current.state, current.sub, current.bucket, current.e10,
            current.inputs, current.rule,
        )  # fmt: skip
        return [*self.intervals, open_part]

    def _prune(self, now_ms: int) -> None:
        horizon = now_ms - _KEEP_MS
        self.intervals = [i for i in self.intervals if i.end > horizon]
        self.deltas = [d for d in self.deltas if d.ts > horizon]
        self.events = [e for e in self.events if e.ts > horizon]


def _settled(now_ms: int, machine: StateMachine) -> int:
    """The time up to which the machine's history is final enough to report: a pending change
    would start at its `since` (closing the current interval there), so windows ending after it
    wait, but no longer than the longest debounce (by then it has committed or been dropped)."""
    pending = machine.pending_since
    if pending is None:
        return now_ms
    return min(now_ms, max(pending, now_ms - machine.max_debounce_ms))
