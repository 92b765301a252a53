"""The devices' recent state intervals as the ledger holds them, for a device worker that starts in
the middle of a KPI window (a collector start or a reload): it completes the window from them, and
the evidence pack recomputes that window from the same STATE_INTERVAL entries.

Seeded from the ledger files once, on the first request, then kept up to date with every interval
the recorder writes; intervals older than the longest window (a day) plus slack are dropped, and
their input values are not kept, so what it holds stays within a day of state changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from collector.ledger import iter_entries
from collector.normalise.records import Bucket, State, StateInterval
from collector.normalise.state_rules import classify

KEEP_MS = 26 * 3_600_000  # a day window that began before the start, plus slack for a local day of 25 h


class StateHistory:
    def __init__(self, ledger_dir: Path) -> None:
        self._dir = ledger_dir
        self._by_device: dict[str, list[StateInterval]] | None = None
        self._pruned: dict[str, int] = {}  # per device: how many were left by the last pruning

    def of(self, device: str, now_ms: int) -> list[StateInterval]:
        """The device's intervals that end within KEEP_MS before `now_ms`, oldest first."""
        if self._by_device is None:
            self._by_device = {}
            for entry in iter_entries(self._dir, now_ms - KEEP_MS):
                if entry.get("type") == "STATE_INTERVAL":
                    iv = interval_from(entry.get("payload") or {})
                    if iv is not None and iv.end > now_ms - KEEP_MS:
                        self._by_device.setdefault(iv.device, []).append(iv)
        return [iv for iv in self._by_device.get(device, []) if iv.end > now_ms - KEEP_MS]

    def add(self, iv: StateInterval) -> None:
        """An interval the recorder wrote (kept only once seeded: the seed reads it from the file).
        Kept without its inputs, which a KPI window does not need; older ones are dropped as it goes."""
        if self._by_device is None:
            return
        held = self._by_device.setdefault(iv.device, [])
        held.append(replace(iv, inputs=()))
        if len(held) >= 2 * self._pruned.get(iv.device, 32):  # pruned when doubled: O(1) per interval
            held[:] = [h for h in held if h.end > iv.end - KEEP_MS]
            self._pruned[iv.device] = max(len(held), 32)


def interval_from(p: Mapping[str, Any]) -> StateInterval | None:
    """A STATE_INTERVAL payload back as the interval it was written from (without its inputs, which
    a KPI window does not need); None when unreadable."""
    try:
        state, sub = State[str(p["state"])], p.get("sub")
        _, e10 = classify(state, sub)
        return StateInterval(str(p["device"]), int(p["start"]), int(p["end"]), state, sub,
                             Bucket(str(p["bucket"])), e10, (), str(p.get("rule") or ""))  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None
