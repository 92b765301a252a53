"""Connectivity intervals of devices without a state rule, from the audit chain (docs/STANDARDS.md §7.8).

STDLIB ONLY: copied into every pack as ``verify/connectivity.py``; the builder (figures.py) and the
verifier (recompute.py) call the same `connection_spans` on the same chain excerpt.

A device with a `state:` rule is judged online from its state timeline (every state but OFFLINE).
A device without one (an energy meter, a sensor) has no timeline, so its online time is the time it
was connected, as the collector recorded it:
- online from DEVICE_CONNECT to the next DEVICE_DISCONNECT of the device;
- COLLECTOR_STOP closes every open connection; COLLECTOR_START closes one still open (the previous
  run ended without a stop) — after a start a device is online again only from its DEVICE_CONNECT;
- the state at the window start is that of the first entry of the excerpt that tells it: a
  DEVICE_CONNECT (it was not connected), a DEVICE_DISCONNECT (its "was_connected"), a COLLECTOR_STOP
  or RAW_BATCH (whether it is in their "connected" list), a COLLECTOR_START (not connected). With
  none of these the device counts as not connected;
- a connection still open at the end of the excerpt lasts to the window end; everything is clipped
  to the window.
The intervals enter the formulas as StateSpan(state "CONNECTED", bucket "UNKNOWN"): online rate and
state coverage count them as online; they never count as production time (APT) in OEE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .formulas import Span, StateSpan, clip

STATE_BASIS, CONNECTION_BASIS = "state", "connection"  # the online_basis cell of 设备台账.csv
CONNECTED = "CONNECTED"


def connection_spans(entries: Iterable[Mapping[str, Any]], device: str, start: int, end: int) -> list[Span]:
    """[start, end)-clipped intervals in which `device` was connected, from chain entries in seq order."""
    spans: list[Span] = []
    since: int | None = None
    known = False  # whether the state at the window start is settled
    for e in entries:
        kind, ts = e.get("type"), int(e.get("ts") or 0)
        p = e.get("payload") or {}
        mine = p.get("device") == device
        if kind == "DEVICE_CONNECT" and mine:
            known = True
            since = ts if since is None else since
        elif kind == "DEVICE_DISCONNECT" and mine:
            if not known and p.get("was_connected"):
                since = start
            known = True
            if since is not None:
                spans.append((since, ts))
                since = None
        elif kind in ("COLLECTOR_STOP", "COLLECTOR_START"):
            if not known and kind == "COLLECTOR_STOP" and device in (p.get("connected") or ()):
                since = start
            known = True
            if since is not None:
                spans.append((since, ts))
                since = None
        elif kind == "RAW_BATCH" and not known and "connected" in p:
            known = True
            since = start if device in (p.get("connected") or ()) else None
    if since is not None:
        spans.append((since, end))
    return clip(spans, start, end)


def connection_states(
    entries: Iterable[Mapping[str, Any]], device: str, start: int, end: int
) -> list[StateSpan]:
    """connection_spans as timeline rows the online-rate formulas take."""
    return [
        StateSpan(device, lo, hi, CONNECTED, "UNKNOWN")
        for lo, hi in connection_spans(entries, device, start, end)
    ]


# --- collector crashes -------------------------------------------------------------------------------

CRASH_FLAG = "collector_crash"  # the flags cell of an OEE_按日.csv row whose window a crash cut


@dataclass(frozen=True, slots=True)
class Crash:
    """An unclean restart in the chain excerpt: a COLLECTOR_START while the previous session had not
    written its COLLECTOR_STOP. The crashed session ended somewhere in the crash gap [last_ms, start_ms):
    after its last ledger entry, before the new START. A state interval open at the kill was never
    written as STATE_INTERVAL; for each device it began at `open_from[device]`, the end of the crashed
    session's last STATE_INTERVAL of the device (absent: from the session's START, or unknown)."""

    seq: int  # seq of the COLLECTOR_START after the crash
    session: int | None  # the crashed session (None when the excerpt does not tell)
    new_session: int | None
    last_ms: int  # ts of the crashed session's last ledger entry
    start_ms: int  # ts of the new COLLECTOR_START
    session_start_ms: int | None  # ts of the crashed session's COLLECTOR_START (None: before the excerpt)
    open_from: dict[str, int]

    def cuts(self, device: str, start: int, end: int) -> bool:
        """Whether [start, end) overlaps the span from the crashed session's last STATE_INTERVAL end of
        `device` to the new START: time the collector may have counted that no interval shows."""
        lo = self.open_from.get(
            device, self.session_start_ms if self.session_start_ms is not None else -(2**62)
        )
        return start < self.start_ms and end > lo

    @property
    def text(self) -> str:
        return f"collector crash at seq {self.seq} (session {self.session} → {self.new_session})"


def _session(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("session")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_NEUTRAL = ("CHECKPOINT", "LEDGER_RECOVERED")  # tell nothing about whether a session was running


def crashes(entries: Iterable[Mapping[str, Any]]) -> list[Crash]:
    """Every unclean restart of the excerpt (entries in seq order). Before the first START or STOP of
    the excerpt the collector counts as running when any entry precedes the START; CHECKPOINT and
    LEDGER_RECOVERED entries are left out (a stop's CHECKPOINT follows its COLLECTOR_STOP)."""
    out: list[Crash] = []
    running = False
    session: int | None = None
    session_start: int | None = None
    last_ts: int | None = None
    ends: dict[str, int] = {}
    for e in entries:
        kind, ts = e.get("type"), int(e.get("ts") or 0)
        p = e.get("payload") or {}
        if kind in _NEUTRAL:
            continue  # written after a COLLECTOR_STOP, or by the next run before its START
        if kind == "COLLECTOR_START":
            if running and last_ts is not None:
                out.append(
                    Crash(
                        int(e.get("seq") or 0), session, _session(p), last_ts, ts, session_start, dict(ends)
                    )
                )
            running, session, session_start, ends = True, _session(p), ts, {}
        elif kind == "COLLECTOR_STOP":
            running, ends = False, {}
        else:
            if last_ts is None:
                running = True  # the excerpt starts inside a session
            if session is None:
                session = _session(p)
            if kind == "STATE_INTERVAL" and p.get("device") is not None and p.get("end") is not None:
                dev = str(p["device"])
                ends[dev] = max(ends.get(dev, int(p["end"])), int(p["end"]))
        last_ts = ts
    return out


def crash_cutting(crash_list: Iterable[Crash], device: str, start: int, end: int) -> Crash | None:
    """The first crash whose open state interval of `device` overlaps [start, end), if any."""
    return next((c for c in crash_list if c.cuts(device, start, end)), None)
