"""Per device: fold state intervals and counter deltas into the hour, shift and day windows still
open, and emit an OEE record as each window closes.

A window already running when the tracker starts (a start or reload at 08:05) is reported too, flagged
partial: its time before the start comes from the device's state intervals in the ledger (so the pack
recomputes it), its parts from the tallies the previous run saved; what neither holds (a crash) is
UNKNOWN time and missing parts.

Windows are the calendar's local hours, shifts and days. A record is emitted once, when its window
has ended; the interval still open at that moment is cut at the window's end so the record is
complete. Each open window keeps running sums (oee.WindowTally), not the history it was summed
from, so memory stays flat however long a day is and however often a counter moves.

The record must equal what the emitted StateIntervals (the ledger's STATE_INTERVAL entries) give
when clipped to the window, so the evidence pack recomputes it. A debounced change starts at its
`since`, before it is committed: while one is pending that would start before a window's end, the
window waits (at most the rule's longest debounce). Once emitted, the window is sealed in the state
machine: no later change starts before its end and the interval open across it keeps its bucket.

Parts seen across an OFFLINE gap are counted at the gap's middle (oee.attributed), so a delta is
placed once every interval it spans is known: at once, unless a pending change would start inside
it; such a delta waits for the change (or for the next window to be emitted, whichever comes first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector.config.plant import Device
from collector.config.state import CounterRole
from collector.normalise.oee import WindowTally, attributed
from collector.normalise.records import (
    CounterDelta,
    CounterEvent,
    KpiRecord,
    Period,
    State,
    StateChange,
    StateInterval,
)
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.state import StateMachine, interval_until

_KEEP_MS = 2 * 86_400_000  # OFFLINE gaps a late delta may still span: a day window plus slack
_AHEAD_MS = 3_600_000  # windows are opened an hour ahead, so the calendar is asked once an hour


class KpiTracker:
    """`history`: the device's state intervals already in the ledger before `start_ms`; `saved`: the
    part tallies of the windows the previous run left open (`saved_parts`). Windows that began
    before the start are completed from both and flagged partial; without them the time before the
    start is UNKNOWN and its parts are missing, which the flag says."""

    def __init__(
        self, device: Device, calendar: ShiftCalendar, start_ms: int,
        history: Sequence[StateInterval] = (), saved: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.device = device
        self.calendar = calendar
        self.good_counter = any(c.role is CounterRole.GOOD for c in device.counters)
        self.counted = bool(device.counters)  # without a part counter E, QR and OEE are null
        self._start = start_ms  # windows that began before this are partial
        self._done: dict[Period, int] = dict.fromkeys(Period, start_ms)  # windows ending after this are due
        self._until: dict[Period, int] = dict.fromkeys(Period, start_ms - 1)  # windows opened up to here
        self._open: dict[Period, dict[int, WindowTally]] = {p: {} for p in Period}
        self._offline: list[StateInterval] = []  # recent OFFLINE gaps, for attributing deltas
        self._waiting: list[CounterDelta] = []
        for period in Period:
            self._open_until(period, start_ms + 1)  # the windows running at the start, and those after
        for interval in history:
            if interval.end <= start_ms:
                self._add_interval(interval)
        for key, parts in (saved or {}).items():
            tally = self._by_key(key)
            if tally is not None and tally.window.start < start_ms:
                tally.add_saved_parts(parts)

    def saved_parts(self) -> dict[str, Any]:
        """The part tallies of the open windows, keyed by period and start: what a restarted
        collector's tracker takes as `saved` to complete them."""
        return {
            _key(t.window.period, t.window.start): t.parts() for p in Period for t in self._open[p].values()
        }

    def _by_key(self, key: str) -> WindowTally | None:
        period, _, start = key.partition(":")
        try:
            return self._open[Period(period)].get(int(start))
        except ValueError:
            return None

    @property
    def open_windows(self) -> int:
        return sum(len(tallies) for tallies in self._open.values())

    def add(
        self,
        states: tuple[StateChange, ...],
        deltas: tuple[CounterDelta, ...],
        events: tuple[CounterEvent, ...],
        machine: StateMachine,
    ) -> None:
        for change in states:
            if change.closed is not None:
                self._add_interval(change.closed)
        self._waiting.extend(deltas)
        self._place_deltas(machine, force=False)
        for ev in events:
            for tally in self._tallies(ev.ts, ev.ts + 1):
                tally.add_event(ev)

    def due(self, now_ms: int, machine: StateMachine) -> list[KpiRecord]:
        """Records of every window that ended since the last call (none before the tracker started)
        and that no pending state change can still reach into."""
        current = machine.current
        ready = _settled(now_ms, machine)
        out: list[KpiRecord] = []
        sealed = 0
        for period in Period:
            self._open_until(period, ready)
            tallies = self._open[period]
            ended = sorted(
                (t for t in tallies.values() if t.window.end <= ready), key=lambda t: t.window.start
            )
            if not ended:
                continue
            self._place_deltas(machine, force=True)
            for tally in ended:
                del tallies[tally.window.start]
                if current is not None and current.since < tally.window.end:
                    tally.add_interval(interval_until(current, tally.window.end))
                out.append(
                    tally.record(
                        self.device.id, self.calendar.hash, self.device.oee, self.good_counter, self.counted
                    )
                )
            self._done[period] = max(t.window.end for t in ended)
            sealed = max(sealed, self._done[period])
        if out:
            machine.seal(sealed)
        horizon = now_ms - _KEEP_MS
        if self._offline and self._offline[0].end <= horizon:
            self._offline = [i for i in self._offline if i.end > horizon]
        return out

    def _add_interval(self, interval: StateInterval) -> None:
        if interval.state is State.OFFLINE:
            self._offline.append(interval)
        for tally in self._tallies(interval.start, interval.end):
            tally.add_interval(interval)

    def _place_deltas(self, machine: StateMachine, force: bool) -> None:
        """Count each waiting delta in the windows holding the time its parts were made. A pending
        change starting before the delta's reading could still end the current interval inside it;
        unless forced (a window is about to be emitted), such a delta waits for the change."""
        if not self._waiting:
            return
        pending = machine.pending_since
        gaps = list(self._offline)
        current = machine.current
        keep: list[CounterDelta] = []
        for d in self._waiting:
            if not force and d.since is not None and pending is not None and pending < d.ts:
                keep.append(d)
                continue
            open_gap = current is not None and current.state is State.OFFLINE and current.since < d.ts
            spans = [*gaps, interval_until(current, d.ts)] if open_gap and current is not None else gaps
            at = attributed(d, spans)
            for tally in self._tallies(at, at + 1):
                tally.add_parts(d, at, self.device.oee)
        self._waiting = keep

    def _tallies(self, start: int, end: int) -> list[WindowTally]:
        """The open windows of every period that overlap [start, end)."""
        out: list[WindowTally] = []
        for period in Period:
            self._open_until(period, end)
            out += [t for t in self._open[period].values() if t.window.start < end and t.window.end > start]
        return out

    def _open_until(self, period: Period, end: int) -> None:
        """Give every window of `period` that starts before `end` a tally (unless it was emitted or
        began before the tracker)."""
        if end <= self._until[period]:
            return
        tallies = self._open[period]
        ahead = end + _AHEAD_MS
        for w in self.calendar.windows(period, self._until[period], ahead):
            if w.end > self._done[period] and w.start not in tallies:
                partial = w.start < self._start
                tallies[w.start] = WindowTally.open(self.calendar, w, self.device.id, partial)
        self._until[period] = ahead


def _key(period: Period, start: int) -> str:
    return f"{period.value}:{start}"


def _settled(now_ms: int, machine: StateMachine) -> int:
    """The time up to which the machine's history is final enough to report: a pending change
    would start at its `since` (closing the current interval there), so windows ending after it
    wait, but no longer than the longest debounce (by then it has committed or been dropped)."""
    pending = machine.pending_since
    if pending is None:
        return now_ms
    return min(now_ms, max(pending, now_ms - machine.max_debounce_ms))
