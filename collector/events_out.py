"""Normalised events as outbox entries: `state`, `event/state_change`, `event/counter`, `kpi/<period>`.

    out = EventsOut(session)
    delivery.submit(out.entries(device_events))     # Delivery.events does exactly this

Each entry is one finished JSON object (UNS payload v1, docs/STANDARDS.md §5.3) without `hist`:
the MQTT sink adds `hist` when it publishes, as for telemetry. Every entry of a device gets its own
`seq`, monotonic per device within the session; it is a separate sequence from the telemetry seq
(the kind tells them apart). Counter deltas are not published here: the raw counter values travel as
telemetry and the per-window quantities in `kpi/…`; only counter *events* (baseline, rollover,
reset, implausible jump) go to `event/counter`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from collector.normalise.records import (
    CounterEvent,
    Inputs,
    KpiRecord,
    StateChange,
    StateInterval,
)
from collector.outbox import Entry

if TYPE_CHECKING:
    from collector.normalise.device import DeviceEvents

PAYLOAD_VERSION = 1
STATE = "state"
STATE_CHANGE = "event/state_change"
COUNTER = "event/counter"


def kpi_kind(record: KpiRecord) -> str:
    return f"kpi/{record.period.value}"


def _inputs(inputs: Inputs) -> dict[str, Any]:
    return dict(inputs)


def state_payload(change: StateChange) -> dict[str, Any]:
    """The retained current state of a device."""
    return {
        "v": PAYLOAD_VERSION, "device": change.device, "state": change.state.name,
        "state_zh": change.state_zh, "sub": change.sub, "since": change.since, "ts": change.ts,
        "q": change.q, "iso22400": change.bucket.value,
        "e10": change.e10.value if change.e10 is not None else None,
        "inputs": _inputs(change.inputs), "rule": change.rule,
    }  # fmt: skip


def interval_payload(interval: StateInterval) -> dict[str, Any]:
    return {
        "start": interval.start, "end": interval.end, "duration_s": interval.duration_s,
        "state": interval.state.name, "state_zh": interval.state_zh, "sub": interval.sub,
        "iso22400": interval.bucket.value,
        "e10": interval.e10.value if interval.e10 is not None else None,
        "inputs": _inputs(interval.inputs), "rule": interval.rule,
    }  # fmt: skip


def state_change_payload(change: StateChange) -> dict[str, Any]:
    """The change itself: the new state, the previous one and the interval it closed (if any)."""
    obj = state_payload(change)
    obj["previous"] = change.previous.name if change.previous is not None else None
    obj["closed"] = interval_payload(change.closed) if change.closed is not None else None
    return obj


def counter_event_payload(event: CounterEvent) -> dict[str, Any]:
    return {
        "v": PAYLOAD_VERSION, "device": event.device, "ts": event.ts, "counter": event.counter,
        "event": event.event.value, "before": event.before, "after": event.after,
        "delta_applied": event.delta_applied, "reason": event.reason,
    }  # fmt: skip


def kpi_payload(record: KpiRecord) -> dict[str, Any]:
    """One OEE window; ratios are null on a zero denominator, times in seconds."""
    return {
        "v": PAYLOAD_VERSION, "device": record.device, "period": record.period.value,
        "label": record.label, "start": record.start, "end": record.end, "ts": record.end,
        "times": asdict(record.times), "qty": asdict(record.qty), "pri_s": record.pri_s,
        "ideal_s": record.ideal_s, "a": record.a, "e": record.e, "qr": record.qr,
        "oee": record.oee, "nee": record.nee, "te": record.te, "flags": list(record.flags),
        "intervals": record.intervals, "calendar": record.calendar,
    }  # fmt: skip


class EventsOut:
    """Turns DeviceEvents into outbox entries, numbering them per device within one session."""

    def __init__(self, session: int) -> None:
        self.session = session
        self._seq: dict[str, int] = {}

    def entries(self, events: DeviceEvents) -> list[Entry]:
        """In order: per state change its `state` and `event/state_change`, then counter events, then KPIs."""
        out: list[Entry] = []
        for change in events.states:
            out.append(self._entry(STATE, events.device, state_payload(change)))
            out.append(self._entry(STATE_CHANGE, events.device, state_change_payload(change)))
        for event in events.counter_events:
            out.append(self._entry(COUNTER, events.device, counter_event_payload(event)))
        for record in events.kpis:
            out.append(self._entry(kpi_kind(record), events.device, kpi_payload(record)))
        return out

    def _entry(self, kind: str, device: str, payload: Mapping[str, Any]) -> Entry:
        seq = self._seq.get(device, 0) + 1
        self._seq[device] = seq
        obj = {**payload, "session": self.session, "seq": seq}
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        return Entry(kind, device, self.session, seq, seq, 1, body)
