"""Tri-colour stack-light template with blink detection (docs/STANDARDS.md §2.8).

A lamp blinks when at least `blink_edges` on/off edges fall within `blink_window`, counted from the
sequence of samples (the first sample is not an edge). Sample at >= 4x the blink frequency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import Enum

from collector.config.state import StacklightState
from collector.normalise.records import State, Sub, Value
from collector.normalise.state_rules import Raw, truthy


class Lamp(Enum):
    OFF = "off"
    ON = "on"
    BLINK = "blink"


class LampTracker:
    def __init__(self, window_ms: int, edges: int) -> None:
        self._window = window_ms
        self._needed = edges
        self._last: bool | None = None
        self._edges: deque[int] = deque()

    def update(self, ts: int, value: Value) -> Lamp:
        on = bool(truthy(value))
        if self._last is not None and on != self._last:
            self._edges.append(ts)
        self._last = on
        while self._edges and self._edges[0] <= ts - self._window:
            self._edges.popleft()
        if len(self._edges) >= self._needed:
            return Lamp.BLINK
        return Lamp.ON if on else Lamp.OFF

    def clock_step(self, shift_ms: int) -> None:
        self._edges = deque(ts + shift_ms for ts in self._edges)

    @property
    def first_edge(self) -> int | None:
        """Earliest edge still in the window: where a detected blink really began."""
        return self._edges[0] if self._edges else None


class Stacklight:
    def __init__(self, cfg: StacklightState) -> None:
        self._cfg = cfg
        window = round(cfg.blink_window * 1000)
        names = {"red": cfg.inputs.red, "yellow": cfg.inputs.yellow, "green": cfg.inputs.green}
        self._lamps = {
            colour: (tag, LampTracker(window, cfg.blink_edges)) for colour, tag in names.items() if tag
        }
        self.key_tags: tuple[str, ...] = tuple(sorted(tag for tag, _ in self._lamps.values()))
        power = (cfg.inputs.power,) if cfg.inputs.power else ()
        self.tags: tuple[str, ...] = tuple(sorted((*self.key_tags, *power)))

    def evaluate(self, ts: int, values: Mapping[str, Value]) -> Raw:
        levels = {
            colour: tracker.update(ts, values.get(tag)) for colour, (tag, tracker) in self._lamps.items()
        }
        red = levels.get("red", Lamp.OFF)
        yellow = levels.get("yellow", Lamp.OFF)
        green = levels.get("green", Lamp.OFF)
        if red is not Lamp.OFF and (green is Lamp.OFF or self._cfg.red_overrides_green):
            return Raw(State.ALARM, Sub.FAULT, self._blink_since("red", red))
        if green is not Lamp.OFF:
            warning = yellow is not Lamp.OFF or red is not Lamp.OFF
            return Raw(State.RUNNING, Sub.WARNING if warning else Sub.AUTO)
        if yellow is Lamp.BLINK:
            return Raw(State.IDLE, Sub.WAIT_OPERATOR, self._blink_since("yellow", yellow))
        if yellow is Lamp.ON:
            return Raw(State.IDLE)
        return self._all_off(values)

    def clock_step(self, shift_ms: int) -> None:
        for _, tracker in self._lamps.values():
            tracker.clock_step(shift_ms)

    def _all_off(self, values: Mapping[str, Value]) -> Raw:
        tag = self._cfg.inputs.power
        power = truthy(values.get(tag)) if tag else None
        if power is False:
            return Raw(State.STOPPED, Sub.POWER_OFF)
        if power is True or self._cfg.all_off == "idle":
            return Raw(State.IDLE)
        return Raw(State.OFFLINE, Sub.POWER_OFF)

    def _blink_since(self, colour: str, level: Lamp) -> int | None:
        return self._lamps[colour][1].first_edge if level is Lamp.BLINK else None
