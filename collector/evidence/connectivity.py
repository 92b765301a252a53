"""Connectivity intervals of devices without a state rule, from the audit chain (STANDARDS §3.2, §4.3).

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
from typing import Any

if __package__:
    from collector.evidence.formulas import Span, StateSpan, clip
else:  # inside a pack's verify/ folder
    from formulas import Span, StateSpan, clip  # type: ignore[no-redef,import-not-found]

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
