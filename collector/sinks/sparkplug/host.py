"""The primary host application as an edge node sees it: its STATE messages, in order.

A Sparkplug 3.0 host publishes `spBv1.0/STATE/<host_id>` retained, QoS 1, with a JSON payload
`{"online": true|false, "timestamp": <ms>}`; its Will says offline with the timestamp of the
CONNECT whose birth said online. A STATE older than the newest one seen is stale and ignored, and
at the same timestamp offline wins: the death of a host session is final, so a birth re-sent with
that session's timestamp does not make the host online again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from collector.sinks.sparkplug.codec import NAMESPACE


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


@dataclass(frozen=True, slots=True)
class HostState:
    online: bool
    timestamp: int


def host_state(payload: bytes) -> bool | None:
    """`online` from a STATE payload; None when unreadable."""
    state = parse_state(payload)
    return None if state is None else state.online


def parse_state(payload: bytes) -> HostState | None:
    """A STATE payload, or None when it is not the 3.0 JSON form (a 2.2 "ONLINE" string included)."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    online, ts = doc.get("online"), doc.get("timestamp")
    if not isinstance(online, bool) or not isinstance(ts, int | float) or isinstance(ts, bool):
        return None
    return HostState(online, int(ts))


class PrimaryHost:
    """Tracks one host's STATE; `online` is what births and publishing wait for."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        self.topic = state_topic(host_id)
        self._last: HostState | None = None

    @property
    def online(self) -> bool:
        return self._last is not None and self._last.online

    @property
    def last(self) -> HostState | None:
        return self._last

    def observe(self, topic: str, payload: bytes) -> HostState | None:
        """The STATE this message sets, or None when it is not for this host, unreadable or stale.
        Only the topic's last level names the host, so another host's STATE never counts."""
        if topic != self.topic or topic.rsplit("/", 1)[-1] != self.host_id:
            return None
        state = parse_state(payload)
        if state is None:
            return None
        if self._last is not None and _rank(state) < _rank(self._last):
            return None
        self._last = state
        return state


def _rank(state: HostState) -> tuple[int, int]:
    return state.timestamp, 0 if state.online else 1
