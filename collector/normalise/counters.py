"""Part counters → deltas, with rollover, reset and implausible-jump handling (docs/STANDARDS.md §4).

The last value is persisted atomically (temp file + fsync + os.replace) so a restarted collector
continues from it: parts made while it was down are counted once, never twice and never lost.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from collector.config.state import CounterConfig
from collector.normalise.kpimodel import allowed_parts, counter_step
from collector.normalise.records import CounterDelta, CounterEvent, CounterEventKind, Value
from drivers.status import GOOD, UNCERTAIN_LAST_USABLE_VALUE, is_bad


@dataclass(frozen=True, slots=True)
class Baseline:
    value: int
    ts: int


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
        try:
            data = json.loads(self.path(counter).read_text(encoding="utf-8"))
            return Baseline(int(data["value"]), int(data["ts"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # a damaged file: start again from a BASELINE event rather than guess

    def save(self, counter: str, baseline: Baseline) -> None:
        path = self.path(counter)
        self._dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump({"value": baseline.value, "ts": baseline.ts}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self._dir)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PartCounter:
    """Feed raw counter readings; get deltas and the events that explain them."""

    def __init__(self, device: str, cfg: CounterConfig, store: BaselineStore | None = None) -> None:
        self.device = device
        self.cfg = cfg
        self._store = store
        self._mod = 1 << cfg.width
        self._base = store.load(cfg.name) if store else None

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
        base = self._base
        if base is None:
            self._remember(Baseline(now, ts), changed=True)
            return CounterUpdate(None, (self._event(ts, CounterEventKind.BASELINE, None, now, 0, reason),))
        delta, kind = self._delta(base, now, ts)
        events: list[CounterEvent] = []
        quarantined = 0
        allowed = self._allowed(ts - base.ts)
        if allowed is not None and delta > allowed:
            quarantined, delta = delta, 0
        if kind is not None:
            events.append(self._event(ts, kind, base.value, now, delta, reason))
        if quarantined:
            why = f"{quarantined} parts in {(ts - base.ts) / 1000:g}s exceeds max_rate {self.cfg.max_rate}/s"
            events.append(self._event(ts, CounterEventKind.IMPLAUSIBLE, base.value, now, 0, why))
        self._remember(Baseline(now, ts), changed=now != base.value)
        if delta == 0 and quarantined == 0:
            return CounterUpdate(None, tuple(events))
        q = UNCERTAIN_LAST_USABLE_VALUE if quarantined else GOOD
        counted = CounterDelta(
            ts, base.ts, self.device, self.cfg.name, self.cfg.role, delta, q, program, quarantined
        )
        return CounterUpdate(counted, tuple(events))

    def _delta(self, base: Baseline, now: int, ts: int) -> tuple[int, CounterEventKind | None]:
        delta, kind = counter_step(base.value, now, self._mod, self._allowed(ts - base.ts))
        return delta, None if kind is None else CounterEventKind(kind)

    def _allowed(self, elapsed_ms: int) -> float | None:
        return allowed_parts(self.cfg.max_rate, self.cfg.tolerance, elapsed_ms)

    def _remember(self, base: Baseline, changed: bool) -> None:
        # Persist only when the value moved: fsync per poll would wear flash for nothing, and an
        # older persisted timestamp only makes the plausibility check more lenient after a restart.
        self._base = base
        if changed and self._store is not None:
            self._store.save(self.cfg.name, base)

    def _event(
        self, ts: int, kind: CounterEventKind, before: int | None, after: int, delta: int, reason: str | None
    ) -> CounterEvent:
        return CounterEvent(ts, self.device, self.cfg.name, kind, before, after, delta, reason)
