"""Equipment state per device: compile the `state:` rule, then feed a StateMachine with updates.

Per update: OFFLINE checks (comm, staleness, Bad key inputs) → rule → raw state → debounce per target
state → committed StateChange. The interval a change closes is attached to it, after micro-stop
classification (an IDLE gap shorter than `micro_stop` between two RUNNING intervals is MICRO_STOP/ADET).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from collector.clock import Step
from collector.config.state import (
    ConditionsState,
    MachineToolState,
    MtconnectState,
    PackmlState,
    SpindleState,
    StacklightState,
    StateCommon,
    StateConfig,
)
from collector.normalise.records import E10, Bucket, Inputs, State, StateChange, StateInterval, Sub, Value
from collector.normalise.stacklight import Stacklight
from collector.normalise.state_rules import ConditionList, Evaluator, Raw, classify, highest, rule_hash
from collector.normalise.state_templates import MachineTool, MtconnectExecution, Packml, SpindleCurrent
from drivers.status import GOOD, is_bad, is_uncertain

_NOT_MICRO = {Sub.SETUP, Sub.MAINTENANCE, Sub.WARMUP, Sub.PLANNED_STOP}


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A device's state rule ready to run: evaluators, the tags it reads, timings in ms."""

    ref: str  # "<id>@<hash>"
    template: Evaluator | None
    conditions: ConditionList
    tags: tuple[str, ...]
    key_tags: tuple[str, ...]
    debounce_ms: Mapping[State, int]
    micro_stop_ms: int | None
    stale_ms: int


def compile_state(cfg: StateConfig, stale_timeout_s: float = 10.0) -> CompiledRule:
    """Build the evaluators of a validated `state:` section (templates keep per-device history)."""
    if not isinstance(cfg, StateCommon):
        raise ValueError(f"unknown state template {cfg.template!r}")
    template = _template(cfg)
    otherwise = Raw(State[cfg.otherwise], cfg.otherwise_sub) if isinstance(cfg, ConditionsState) else None
    conditions = ConditionList(cfg.conditions, otherwise)
    tags = set(conditions.tags) | set(template.tags if template else ())
    default_key = template.key_tags if template else conditions.key_tags
    key = list(cfg.key_inputs) if cfg.key_inputs is not None else list(default_key)
    stale = cfg.stale_timeout if cfg.stale_timeout is not None else stale_timeout_s
    return CompiledRule(
        ref=f"{cfg.id or cfg.template}@{rule_hash(cfg)}",
        template=template,
        conditions=conditions,
        tags=tuple(sorted(tags | set(key))),
        key_tags=tuple(sorted(key)),
        debounce_ms={s: round(cfg.debounce.seconds(s.name) * 1000) for s in State},
        micro_stop_ms=None if cfg.micro_stop is None else round(cfg.micro_stop * 1000),
        stale_ms=round(stale * 1000),
    )


def _template(cfg: StateCommon) -> Evaluator | None:
    if isinstance(cfg, StacklightState):
        return Stacklight(cfg)
    if isinstance(cfg, MachineToolState):
        return MachineTool(cfg)
    if isinstance(cfg, SpindleState):
        return SpindleCurrent(cfg)
    if isinstance(cfg, PackmlState):
        return Packml(cfg)
    if isinstance(cfg, MtconnectState):
        return MtconnectExecution(cfg)
    return None


@dataclass(frozen=True, slots=True)
class _Pending:
    state: State
    sub: str | None
    since: int
    inputs: Inputs
    q: int


class StateMachine:
    """One device's state. Call `update` when the driver delivered data (a read, a subscription
    notification or keep-alive) and `tick` on a timer so staleness is noticed without data."""

    def __init__(self, device: str, rule: CompiledRule) -> None:
        self.device = device
        self.rule = rule
        self._current: StateChange | None = None
        self._pending: _Pending | None = None
        self._before: State | None = None  # state of the interval before the current one
        self._values: dict[str, Value] = {}
        self._quality: dict[str, int] = {}
        self._comm_ok = False
        self._fresh_ts: int | None = None
        self._last_ts: int | None = None
        self._floor = 0  # history before this was reported (a KPI window): no change may start earlier

    @property
    def pending_since(self) -> int | None:
        """Where the change being debounced would start (and close the current interval), if any."""
        return self._pending.since if self._pending is not None else None

    @property
    def max_debounce_ms(self) -> int:
        return max(self.rule.debounce_ms.values(), default=0)

    def seal(self, ts: int) -> None:
        """History before `ts` has been reported (a KPI window ended there): from now on no change
        starts before `ts` (a pending one is moved up to it), and the open interval keeps the bucket
        it was reported with (it is no longer turned into a micro-stop), so the intervals the machine
        emits later agree with what was reported."""
        if ts <= self._floor:
            return
        self._floor = ts
        if self._pending is not None and self._pending.since < ts:
            self._pending = replace(self._pending, since=ts)

    @property
    def current(self) -> StateChange | None:
        return self._current

    def update(
        self, ts: int, inputs: Mapping[str, Value], qualities: Mapping[str, int], comm_ok: bool = True
    ) -> list[StateChange]:
        """Inputs are the latest value per tag (tags not given keep their last value)."""
        self._values.update(inputs)
        self._quality.update(qualities)
        self._comm_ok = comm_ok
        if comm_ok:
            self._fresh_ts = ts
        return self._step(ts)

    def tick(self, ts: int, qualities: Mapping[str, int] | None = None) -> list[StateChange]:
        """Re-evaluate with the last inputs at `ts` (debounce expiry, staleness, blink/t_off timers).
        `qualities`: inputs that were degraded without new data (stale), so the state's q shows it."""
        if qualities:
            self._quality.update(qualities)
        return self._step(ts)

    def clock_step(self, step: Step) -> list[StateChange]:
        """The wall clock jumped (`step`): the open interval ends where the old clock stands, so it
        keeps its true length, and the same state goes on from the new clock's time; every time the
        machine and its rule remember moves by the step, so debounce and staleness keep their true
        durations. A step back leaves the continuation starting before the interval it follows
        ends: the same wall time read twice (docs/STANDARDS.md §1.2)."""
        shift = step.size_ms
        if self._fresh_ts is not None:
            self._fresh_ts += shift
        if self._last_ts is not None:
            self._last_ts += shift
        if self._pending is not None:
            self._pending = replace(self._pending, since=self._pending.since + shift)
        if self.rule.template is not None:
            self.rule.template.clock_step(shift)
        cur = self._current
        if cur is None or step.before_ms <= cur.since:
            return []
        closed = interval_until(cur, step.before_ms)
        self._before = cur.state
        self._current = replace(cur, since=step.after_ms, ts=step.after_ms, previous=cur.state, closed=closed)
        return [self._current]

    def close(self, ts: int) -> StateInterval | None:
        """The open interval cut at `ts` (end of a report window or shutdown); state is unchanged."""
        cur = self._current
        if cur is None or ts <= cur.since:
            return None
        return interval_until(cur, ts)

    def _step(self, ts: int) -> list[StateChange]:
        if self._last_ts is not None and ts < self._last_ts:
            return []  # a late sample must not rewrite committed history
        self._last_ts = ts
        raw, snapshot, q = self._raw(ts)
        cur = self._current
        if cur is not None and (raw.state, raw.sub) == (cur.state, cur.sub):
            self._pending = None
            return []
        pending = self._pending
        if pending is None or (pending.state, pending.sub) != (raw.state, raw.sub):
            # Never backdate before the last commit: the closed interval keeps its debounced length.
            since = max(raw.since if raw.since is not None else ts, self._floor)
            if cur is not None:
                since = max(since, cur.ts)
            pending = self._pending = _Pending(raw.state, raw.sub, min(since, ts), snapshot, q)
        if ts - pending.since < self.rule.debounce_ms[pending.state]:
            return []
        return [self._commit(ts, pending)]

    def _commit(self, ts: int, pending: _Pending) -> StateChange:
        cur = self._current
        closed = None
        if cur is not None and pending.since > cur.since:
            closed = self._micro_stop(interval_until(cur, pending.since), pending.state)
            self._before = cur.state
        bucket, e10 = classify(pending.state, pending.sub)
        change = StateChange(
            device=self.device,
            since=pending.since,
            ts=ts,
            state=pending.state,
            sub=pending.sub,
            previous=cur.state if cur else None,
            bucket=bucket,
            e10=e10,
            q=pending.q,
            inputs=pending.inputs,
            rule=self.rule.ref,
            closed=closed,
        )
        self._current, self._pending = change, None
        return change

    def _micro_stop(self, closed: StateInterval, next_state: State) -> StateInterval:
        limit = self.rule.micro_stop_ms
        if (
            limit is not None
            and closed.start >= self._floor  # an interval a KPI window already counted keeps its bucket
            and next_state is State.RUNNING
            and self._before is State.RUNNING
            and closed.state is State.IDLE
            and closed.sub not in _NOT_MICRO
            and closed.end - closed.start < limit
        ):
            return replace(closed, sub=Sub.MICRO_STOP, bucket=Bucket.ADET, e10=E10.SBY)
        return closed

    def _raw(self, ts: int) -> tuple[Raw, Inputs, int]:
        rule = self.rule
        snapshot = tuple((t, self._values.get(t)) for t in rule.tags)
        q = _worst(self._quality.get(t, GOOD) for t in rule.tags)
        if not self._comm_ok:
            return Raw(State.OFFLINE, Sub.COMM_LOSS), snapshot, q
        if self._fresh_ts is None or ts - self._fresh_ts > rule.stale_ms:
            # stale from the moment the timeout ran out, however late a tick noticed it
            since = None if self._fresh_ts is None else self._fresh_ts + rule.stale_ms
            return Raw(State.OFFLINE, Sub.STALE, since), snapshot, q
        if any(t not in self._values or is_bad(self._quality.get(t, GOOD)) for t in rule.key_tags):
            return Raw(State.OFFLINE, Sub.BAD_QUALITY), snapshot, q
        values = {t: None if is_bad(self._quality.get(t, GOOD)) else self._values.get(t) for t in rule.tags}
        template = rule.template.evaluate(ts, values) if rule.template else None
        raw = highest(template, rule.conditions.evaluate(ts, values)) or Raw(State.IDLE)
        return raw, snapshot, q


def interval_until(change: StateChange, end: int) -> StateInterval:
    """The interval `change` opened, as if it ended at `end`."""
    return StateInterval(
        device=change.device,
        start=change.since,
        end=end,
        state=change.state,
        sub=change.sub,
        bucket=change.bucket,
        e10=change.e10,
        inputs=change.inputs,
        rule=change.rule,
    )


def _worst(codes: Iterable[int]) -> int:
    """The first Bad code, else the first Uncertain one, else Good."""
    worst = GOOD
    for code in codes:
        if is_bad(code):
            return code
        if is_uncertain(code) and worst == GOOD:
            worst = code
    return worst


def undeclared_tags(rule: CompiledRule, declared: Iterable[str]) -> list[str]:
    """Tags the rule reads that the device does not declare (a config mistake to report at start)."""
    known = set(declared)
    return [tag for tag in rule.tags if tag not in known]
