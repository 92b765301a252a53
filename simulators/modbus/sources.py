"""Turns machine snapshots into engineering values for every register of a profile.

Each register's source is compiled once into a small closure; an update then
just calls the closures in profile order (derived sources such as ``product``
and ``integral`` read values computed earlier in the same update).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from simulators.modbus.profiles import SIGNALS, Profile, RegisterSpec

# Numbers a PLC would expose for the machine phase (MachineSnapshot.phase.value).
PHASE_CODES = {"power_off": 0, "setup": 1, "running": 2, "feed_hold": 3, "idle": 4, "alarm": 5}
_YELLOW = frozenset({"setup", "feed_hold", "idle"})
# Share of a molding cycle during which the mold is closed (inject, hold, cool).
MOLD_CLOSED_SHARE = 0.8


class EvalContext:
    """Per-update inputs shared by all register evaluators of one device."""

    __slots__ = ("clock_skew", "dt", "phase", "snap", "t", "values")

    def __init__(self) -> None:
        self.snap: Any = None
        self.phase = "power_off"
        self.t = 0.0
        self.dt = 0.0
        self.clock_skew = 0.0
        self.values: dict[str, float] = {}


Evaluator = Callable[[EvalContext], float]


class CycleTracker:
    """Derives cycle progress and the last cycle time from part-count changes."""

    def __init__(self, nominal_cycle_s: float) -> None:
        self.nominal = nominal_cycle_s
        self.last_parts: int | None = None
        self.cycle_start = 0.0
        self.last_cycle_s = 0.0

    def update(self, t: float, parts_total: int) -> None:
        if self.last_parts is None:
            self.last_parts, self.cycle_start = parts_total, t
        elif parts_total != self.last_parts:
            self.last_cycle_s = t - self.cycle_start
            self.last_parts, self.cycle_start = parts_total, t

    def progress(self, t: float) -> float:
        return min(1.0, max(0.0, (t - self.cycle_start) / self.nominal))


class ValueEngine:
    def __init__(self, profile: Profile, seed: int, nominal_cycle_s: float, counter_start: int = 0) -> None:
        self.profile = profile
        self.rng = random.Random(seed)
        self.counter_start = counter_start
        self.cycles = CycleTracker(nominal_cycle_s)
        self.setpoints: dict[str, float] = {
            r.name: float(r.source.arg) for r in profile.registers if r.source.kind == "setpoint"
        }
        self._state: dict[str, float] = {}  # integrals and lagged values
        self._ctx = EvalContext()
        self._last_t: float | None = None
        self._evaluators = [(r.name, self._compile(r)) for r in profile.registers]

    def evaluate(self, snap: Any, clock_skew: float = 0.0) -> dict[str, float]:
        ctx = self._ctx
        ctx.snap, ctx.t, ctx.clock_skew = snap, float(snap.t), clock_skew
        ctx.phase = getattr(snap.phase, "value", str(snap.phase))
        ctx.dt = 0.0 if self._last_t is None else max(0.0, ctx.t - self._last_t)
        self._last_t = ctx.t
        self.cycles.update(ctx.t, int(snap.parts_total))
        ctx.values = values = {}
        for name, fn in self._evaluators:
            values[name] = fn(ctx)
        return values

    def _compile(self, reg: RegisterSpec) -> Evaluator:
        kind, arg, src = reg.source.kind, reg.source.arg, reg.source
        offset = float(self.counter_start) if reg.counter else 0.0
        if kind == "field":
            name = str(arg)
            return lambda c: float(getattr(c.snap, name)) + offset
        if kind == "signal":
            return self._signal(str(arg))
        if kind == "constant":
            value = float(arg)
            return lambda c: value
        if kind == "setpoint":
            return lambda c: self.setpoints[reg.name]
        if kind == "clock":
            return lambda c: math.floor(c.t + c.clock_skew)
        if kind == "noise":
            mean, amp = float(src.param("mean", 0.0)), float(src.param("amplitude", 0.0))
            return lambda c: mean + amp * self.rng.uniform(-1.0, 1.0)
        if kind == "by_phase":
            levels = {str(k): float(v) for k, v in dict(src.param("levels", {})).items()}
            default, noise = float(src.param("default", 0.0)), float(src.param("noise", 0.0))

            def by_phase(c: EvalContext) -> float:
                level = levels.get(c.phase, default)
                return level * (1.0 + noise * self.rng.uniform(-1.0, 1.0)) if noise else level

            return by_phase
        if kind == "product":
            refs, factor = list(src.param("of", [])), float(src.param("factor", 1.0))

            def product(c: EvalContext) -> float:
                out = factor
                for ref in refs:
                    out *= c.values[ref]
                return out

            return product
        if kind == "integral":
            ref, factor = str(src.param("of")), float(src.param("factor", 1.0))
            self._state[reg.name] = float(src.param("initial", 0.0))

            def integral(c: EvalContext) -> float:
                self._state[reg.name] += c.values[ref] * c.dt * factor
                return self._state[reg.name]

            return integral
        if kind == "lag":
            return self._lag(reg)
        if kind == "bits":
            # Register names (already computed this update) win over signal names.
            parts = [(1 << i, name) for i, name in enumerate(arg)]
            signals = {name: self._signal(name) for _, name in parts if name in SIGNALS}

            def bits(c: EvalContext) -> float:
                word = 0
                for mask, name in parts:
                    value = c.values[name] if name in c.values else signals[name](c)
                    if value:
                        word |= mask
                return float(word)

            return bits
        raise ValueError(f"unsupported source kind {kind!r}")

    def _lag(self, reg: RegisterSpec) -> Evaluator:
        src = reg.source
        target, off = src.param("target", 0.0), float(src.param("off", 20.0))
        tau = max(1e-6, float(src.param("tau_s", 600.0)))
        self._state[reg.name] = float(src.param("initial", off))

        def lag(c: EvalContext) -> float:
            goal = (c.values[target] if isinstance(target, str) else float(target)) if c.snap.powered else off
            cur = self._state[reg.name]
            cur += (goal - cur) * (1.0 - math.exp(-c.dt / tau))
            self._state[reg.name] = cur
            return cur

        return lag

    def _signal(self, name: str) -> Evaluator:
        cycles = self.cycles
        table: dict[str, Evaluator] = {
            "lamp_red": lambda c: float(c.phase == "alarm"),
            "lamp_yellow": lambda c: float(c.phase in _YELLOW),
            "lamp_green": lambda c: float(c.phase == "running"),
            "run_bit": lambda c: float(c.phase == "running"),
            "alarm_bit": lambda c: float(c.phase == "alarm"),
            "cycle_bit": lambda c: float(c.phase == "running"),
            "powered": lambda c: float(bool(c.snap.powered)),
            "mold_closed": lambda c: float(c.phase == "running" and cycles.progress(c.t) < MOLD_CLOSED_SHARE),
            "mold_open": lambda c: float(
                not (c.phase == "running" and cycles.progress(c.t) < MOLD_CLOSED_SHARE)
            ),
            # The safety door is opened for setup and to clear alarms.
            "door_closed": lambda c: float(c.phase not in ("setup", "alarm", "power_off")),
            "cycle_toggle": lambda c: float(int(c.snap.parts_total) & 1),
            "phase_code": lambda c: float(PHASE_CODES.get(c.phase, 0)),
            "cycle_progress": lambda c: cycles.progress(c.t) if c.phase == "running" else 0.0,
            "last_cycle_s": lambda c: cycles.last_cycle_s,
        }
        return table[name]
