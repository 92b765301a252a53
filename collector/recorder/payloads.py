"""Ledger payloads of the normaliser's records (STATE_INTERVAL, COUNTER_EVENT, KPI) for the recorder.

JSON-safe and canonical-ready: NaN/Infinity inputs become null (canonical JSON has neither).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from collector.config.plant import Device
from collector.normalise.records import CounterEvent, KpiRecord, StateChange, StateInterval
from collector.normalise.state import compile_state, interval_until


def rule_ref(device: Device) -> str | None:
    """The device's state rule as id@hash (None without a rule)."""
    if device.state is None:
        return None
    return compile_state(device.state, device.effective_stale_timeout).ref


def cut(change: StateChange, end: int) -> StateInterval:
    """The interval a change opened, cut at `end` (the collector stops or reloads the device)."""
    return interval_until(change, max(end, change.since))


def json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval(iv: StateInterval, end_reason: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "device": iv.device, "start": iv.start, "end": iv.end, "state": iv.state.name,
        "state_zh": iv.state_zh, "sub": iv.sub, "bucket": iv.bucket.value, "rule": iv.rule,
        "inputs": {tag: json_value(v) for tag, v in iv.inputs},
    }  # fmt: skip
    if end_reason is not None:
        payload["end_reason"] = end_reason
    return payload


def counter_event(ce: CounterEvent) -> dict[str, Any]:
    return {
        "device": ce.device, "counter": ce.counter, "ts": ce.ts, "event": ce.event.value,
        "before": ce.before, "after": ce.after, "delta_applied": ce.delta_applied, "reason": ce.reason,
    }  # fmt: skip


def kpi(k: KpiRecord) -> dict[str, Any]:
    return {
        "device": k.device, "period": k.period.value, "label": k.label, "start": k.start, "end": k.end,
        "times": dataclasses.asdict(k.times), "qty": dataclasses.asdict(k.qty), "pri_s": k.pri_s,
        "a": k.a, "e": k.e, "qr": k.qr, "oee": k.oee, "nee": k.nee, "flags": list(k.flags),
    }  # fmt: skip
