"""Part counters → deltas, with rollover, reset and implausible-jump handling (docs/STANDARDS.md §4).

The last value is persisted atomically (temp file + fsync + os.replace) so a restarted collector
continues from it: parts made while it was down are counted once, never twice and never lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collector.config.state import CounterConfig
from collector.normalise.kpimodel import count_step
from collector.normalise.records import CounterDelta, CounterEvent, CounterEventKind, Value
from collector.normalise.statefile import load_json, save_json
from drivers.status import GOOD, UNCERTAIN_LAST_USABLE_VALUE, is_bad


@dataclass(frozen=True, slots=True)
class Baseline:
    value: int
    ts: int  # when the counter last moved to `value` (or was first seen)


@dataclass(frozen=True, slots=True)
class CounterUpdate:
    delta: CounterDelta | None  # None when nothing was counted
    events: tuple[CounterEvent, ...]


class BaselineStore:
    """One small JSON file per counter under the collector's state directory."""

    def __init__(self, state_dir: Path, device: str) -> None:
        self._dir = state_dir
        self._device = device

    def path(self, counter: str) -> Path:
        return self._dir / f"counter.{self._device}.{counter}.json"

    def load(self, counter: str) -> Baseline | None:
        data = load_json(self.path(counter))
        try:
            return Baseline(int(data["value"]), int(data["ts"]))
        except (ValueError, KeyError, TypeError):
            return None  # missing or damaged: start again from a BASELINE event rather than guess

    def save(self, counter: str, baseline: Baseline) -> None:
        save_json(self.path(counter), {"value": baseline.value, "ts": baseline.ts})


class PartCounter:
    """Feed raw counter readings; get deltas and the events that explain them.

    The baseline is the last value and when the counter last moved (what is persisted); a step's
    plausibility is judged against that time, since the parts it adds were being made from then on.
    A delta's `since` is the previous reading, the earliest moment its parts can have been seen."""

    def __init__(self, device: str, cfg: CounterConfig, store: BaselineStore | None = None) -> None:
        self.device = device
        self.cfg = cfg
        self._store = store
        self._mod = 1 << cfg.width
        self._base = store.load(cfg.name) if store else None
        self._seen = self._base.ts if self._base is not None else None  # the previous reading

    @property
    def baseline(self) -> Baseline | None:
        return self._base

    def update(
        self, ts: int, value: Value, status: int = GOOD, reason: str | None = None, program: str | None = None
    ) -> CounterUpdate:
        """`reason` labels a RESET (e.g. SHIFT, POWER_ON, MANUAL); Bad or non-integer readings are ignored."""
        if is_bad(status) or isinstance(value, bool) or not isinstance(value, int | float):
            return CounterUpdate(None, ())
        if value != int(value):
            return CounterUpdate(None, ())
        now = int(value) % self._mod  # decode as unsigned even if a signed register slipped through
        base, seen = self._base, self._seen
        self._seen = ts
        if base is None or seen is None:
            self._remember(Baseline(now, ts))
            return CounterUpdate(None, (self._event(ts, CounterEventKind.BASELINE, None, now, 0, reason),))
        step = count_step(base.value, now, self._mod, self.cfg.max_rate, self.cfg.tolerance, ts - base.ts)
        events: list[CounterEvent] = []
        if step.kind is not None:
            events.append(self._event(ts, CounterEventKind(step.kind), base.value, now, step.parts, reason))
        if step.quarantined:
            why = (
                f"{step.quarantined} parts in {(ts - base.ts) / 1000:g}s since the counter last moved "
                f"exceeds max_rate {self.cfg.max_rate}/s"
            )
            events.append(self._event(ts, CounterEventKind.IMPLAUSIBLE, base.value, now, 0, why))
        if now != base.value:
            self._remember(Baseline(now, ts))
        if step.parts == 0 and step.quarantined == 0:
            return CounterUpdate(None, tuple(events))
        q = UNCERTAIN_LAST_USABLE_VALUE if step.quarantined else GOOD
        counted = CounterDelta(
            ts, seen, self.device, self.cfg.name, self.cfg.role, step.parts, q, program, step.quarantined
        )
        return CounterUpdate(counted, tuple(events))

    def clock_step(self, shift_ms: int) -> None:
        """The wall clock stepped: the last move and the previous reading move with it, so the
        plausibility window and the delta's span keep their true lengths."""
        if self._base is not None:
            self._base = Baseline(self._base.value, self._base.ts + shift_ms)
        if self._seen is not None:
            self._seen += shift_ms

    def _remember(self, base: Baseline) -> None:
        # Persisted only when the value moved: fsync per poll would wear flash for nothing, and the
        # time of the last move is what the plausibility check needs after a restart.
        self._base = base
        if self._store is not None:
            self._store.save(self.cfg.name, base)

    def _event(
        self, ts: int, kind: CounterEventKind, before: int | None, after: int, delta: int, reason: str | None
    ) -> CounterEvent:
        return CounterEvent(ts, self.device, self.cfg.name, kind, before, after, delta, reason)
