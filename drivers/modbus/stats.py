"""Counters a Modbus driver keeps for metrics (the engine exports them; logs never carry counts)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class DriverStats:
    polls: int = 0
    requests: int = 0  # sent on the wire, retries and bisection included
    timeouts: int = 0
    garbled: int = 0  # answers that did not match the request (reconnected after each)
    exceptions: Counter[int] = field(default_factory=Counter)  # Modbus exception code -> count
    busy_retries: int = 0
    reconnects: int = 0  # connections opened after the first
    holes_learned: int = 0
    limit_learned: dict[str, int] = field(default_factory=dict)  # "registers"/"bits" -> size (exception 03)
    last_latency_s: float | None = None  # round trip of the last answered request
    last_poll_s: float | None = None  # wall time of the last complete read()
    last_poll_requests: int = 0

    def as_dict(self) -> dict[str, float | int | dict[str, int] | None]:
        return {
            "polls": self.polls,
            "requests": self.requests,
            "timeouts": self.timeouts,
            "garbled": self.garbled,
            "exceptions": {f"{code:02d}": n for code, n in sorted(self.exceptions.items())},
            "busy_retries": self.busy_retries,
            "reconnects": self.reconnects,
            "holes_learned": self.holes_learned,
            "limit_learned": dict(self.limit_learned),
            "last_latency_s": self.last_latency_s,
            "last_poll_s": self.last_poll_s,
            "last_poll_requests": self.last_poll_requests,
        }
