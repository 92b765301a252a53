"""Telemetry normalisation: a fixed type per tag, deadband and report-by-exception, staleness, seq.

One `TelemetryNormaliser` per device turns driver samples into Readings. A tag's type is fixed for
the life of the session (declared, or the type of its first good value), so a store never sees a
field change type. Values that cannot be cast become Bad (BAD_TYPE_MISMATCH) rather than a guess.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from collector.config.device import Report
from collector.model import Reading, Value
from drivers.base import RawSample
from drivers.status import BAD_NO_COMMUNICATION, BAD_TYPE_MISMATCH, UNCERTAIN_LAST_USABLE_VALUE, is_good


@dataclass(frozen=True, slots=True)
class TagPolicy:
    name: str
    kind: type | None = None  # bool, int, float, str; None = the type of the first good value
    deadband: float | None = None
    unit: str | None = None


@dataclass(slots=True)
class _TagState:
    kind: type | None
    last_value: Value = None
    last_status: int | None = None
    last_sent_ms: int = 0
    last_fresh_ms: int = 0
    stale: bool = False


@dataclass
class TelemetryNormaliser:
    device: str
    session: int
    policies: Sequence[TagPolicy]
    report: Report = Report.EVERY_POLL
    max_interval_ms: int = 60_000
    stale_ms: int = 10_000
    # per device and session; the engine hands a restarted worker the same counter (a reload)
    seqs: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tags: dict[str, _TagState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._policy = {p.name: p for p in self.policies}
        self._tags = {p.name: _TagState(p.kind) for p in self.policies}

    def process(self, samples: Iterable[RawSample], now_ms: int) -> list[Reading]:
        out = []
        for sample in samples:
            policy = self._policy.get(sample.tag)
            if policy is None:
                continue  # a driver may report diagnostics tags we were not asked for
            state = self._tags[sample.tag]
            value, status = _cast(sample.value, sample.status, state)
            state.last_fresh_ms = now_ms
            state.stale = False
            if self._should_send(policy, state, value, status, now_ms):
                out.append(self._reading(policy, value, status, sample.source_ts, now_ms))
                state.last_value, state.last_status, state.last_sent_ms = value, status, now_ms
        return out

    def clock_step(self, shift_ms: int) -> None:
        """The wall clock stepped: move the times each tag was last sent and refreshed with it, so a
        step forward does not make every tag stale and a step back does not hold the heartbeat."""
        for state in self._tags.values():
            state.last_sent_ms += shift_ms
            state.last_fresh_ms += shift_ms

    def unreachable(self, now_ms: int) -> list[Reading]:
        """Every tag Bad (BAD_NO_COMMUNICATION) once when the device is lost: no stale value looks good."""
        out = []
        for policy in self.policies:
            state = self._tags[policy.name]
            if state.last_status != BAD_NO_COMMUNICATION:
                out.append(self._reading(policy, None, BAD_NO_COMMUNICATION, None, now_ms))
                state.last_value, state.last_status, state.last_sent_ms = None, BAD_NO_COMMUNICATION, now_ms
        return out

    def check_stale(self, now_ms: int) -> list[Reading]:
        """Tags not refreshed within the stale timeout become Uncertain (last usable value), once."""
        out = []
        for policy in self.policies:
            state = self._tags[policy.name]
            fresh = state.last_fresh_ms
            if (
                fresh
                and not state.stale
                and now_ms - fresh > self.stale_ms
                and is_good(state.last_status or 0)
            ):
                state.stale = True
                out.append(self._reading(policy, state.last_value, UNCERTAIN_LAST_USABLE_VALUE, None, now_ms))
                state.last_status, state.last_sent_ms = UNCERTAIN_LAST_USABLE_VALUE, now_ms
        return out

    def _should_send(
        self, policy: TagPolicy, state: _TagState, value: Value, status: int, now_ms: int
    ) -> bool:
        if self.report is Report.EVERY_POLL or state.last_status is None:
            return True
        if status != state.last_status or now_ms - state.last_sent_ms >= self.max_interval_ms:
            return True
        return _changed(state.last_value, value, policy.deadband)

    def _reading(
        self, policy: TagPolicy, value: Value, status: int, source_ts: int | None, now_ms: int
    ) -> Reading:
        return Reading(
            self.device, policy.name, value, status, source_ts, now_ms, self.session, next(self.seqs),
            policy.unit,
        )  # fmt: skip


def _changed(old: Value, new: Value, deadband: float | None) -> bool:
    if deadband and isinstance(old, int | float) and isinstance(new, int | float):
        if isinstance(old, bool) or isinstance(new, bool):
            return old != new
        return abs(float(new) - float(old)) > deadband
    return old != new


def _cast(value: object, status: int, state: _TagState) -> tuple[Value, int]:
    """The value in the tag's fixed type; Bad when it cannot be represented without guessing."""
    if value is None:
        return None, status
    if state.kind is None:
        if not is_good(status):
            return _plain(value), status
        state.kind = list if isinstance(value, list) else type(_plain(value))
    kind = state.kind
    try:
        return _convert(value, kind), status
    except (TypeError, ValueError):
        return None, BAD_TYPE_MISMATCH


def _plain(value: object) -> Value:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, bool | int | float | str) else str(v) for v in value]
    return str(value)


def _convert(value: object, kind: type) -> Value:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(value)
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            result = float(value)
            if math.isfinite(result):
                return result
        raise ValueError(value)
    if kind is list:
        if isinstance(value, list):
            return _plain(value)
        raise TypeError(value)
    return str(value)
