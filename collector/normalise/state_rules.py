"""Shared pieces of state derivation: the raw result, bucket/E10 classification, the rule hash,
and the general `conditions` evaluator (an ordered list of `{state, sub, when}`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from collector.config.expr import Expression, parse
from collector.config.state import Condition
from collector.normalise.records import E10, Bucket, State, Sub, Value


@dataclass(frozen=True, slots=True)
class Raw:
    """What the rule says right now. `since` backdates the start when the rule itself waited
    (spindle t_on/t_off, blink detection), so intervals begin when the condition really began."""

    state: State
    sub: str | None = None
    since: int | None = None


class Evaluator(Protocol):
    """One template (or the conditions list) compiled for one device; may keep history."""

    @property
    def tags(self) -> tuple[str, ...]: ...

    @property
    def key_tags(self) -> tuple[str, ...]: ...

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw | None: ...

    def clock_step(self, shift_ms: int) -> None:
        """The wall clock stepped by `shift_ms`: move the times the rule remembers with it."""


def highest(*candidates: Raw | None) -> Raw | None:
    """The candidate of highest precedence; on a tie the earlier one wins."""
    best: Raw | None = None
    for raw in candidates:
        if raw is not None and (best is None or raw.state.precedence > best.state.precedence):
            best = raw
    return best


class ConditionList:
    """Every matching condition is a candidate; precedence picks, then list order."""

    def __init__(self, conditions: list[Condition], otherwise: Raw | None = None) -> None:
        self._rules: list[tuple[Expression, Raw]] = [
            (parse(c.when), Raw(State[c.state], c.sub)) for c in conditions
        ]
        self._otherwise = otherwise
        self.tags: tuple[str, ...] = tuple(sorted({t for e, _ in self._rules for t in e.tags}))
        self.key_tags: tuple[str, ...] = self.tags

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw | None:
        return highest(*(raw for expr, raw in self._rules if expr(values))) or self._otherwise

    def clock_step(self, shift_ms: int) -> None:
        """Conditions remember no time."""


_AUST_SUBS = {Sub.SETUP, Sub.MANUAL, Sub.MDI, Sub.WARMUP}


def classify(state: State, sub: str | None) -> tuple[Bucket, E10 | None]:
    """ISO 22400 bucket and SEMI E10 state of a canonical state + reason (docs/STANDARDS.md §2.5)."""
    if state is State.OFFLINE:
        return Bucket.UNKNOWN, None
    if sub == Sub.MAINTENANCE:
        return Bucket.APMT, E10.SDT
    if sub == Sub.PLANNED_STOP:
        return Bucket.PDOT, E10.NST
    if state is State.RUNNING:
        return (Bucket.AUST, E10.ENG) if sub in _AUST_SUBS else (Bucket.APT, E10.PRD)
    if state is State.ALARM:
        return Bucket.ADET, E10.UDT
    if state is State.STOPPED:
        return Bucket.ADOT, E10.NST if sub == Sub.POWER_OFF else E10.SDT
    if sub in (Sub.SETUP, Sub.WARMUP):
        return Bucket.AUST, E10.ENG
    if sub in (Sub.MICRO_STOP, Sub.HELD):
        return Bucket.ADET, E10.SBY
    return Bucket.ADOT, E10.SBY


def rule_hash(config: BaseModel) -> str:
    """Stable short hash of a rule definition: sha256 of its canonical JSON, 12 hex digits."""
    text = json.dumps(
        config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def truthy(value: Value) -> bool | None:
    """A lamp/bit reading as on/off; None when unknown. Strings such as 'ON', 'true', '1' count."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def enum_name(value: Value, numbered: tuple[str, ...] = ()) -> str | None:
    """An enumeration value as a lower-case name without separators, from its name or its number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        index = int(value)
        return numbered[index] if 0 <= index < len(numbered) and index == value else None
    return "".join(ch for ch in value.lower() if ch.isalnum())
