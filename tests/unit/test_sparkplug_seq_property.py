"""Property: over long random sessions, seq is 0 on NBIRTH and +1 mod 256 on every other message,
bdSeq matches the connection's Will, DDATA only uses aliases its device's latest DBIRTH defined, and
no DBIRTH is empty or comes while its device is still born (a DDEATH or an NBIRTH must come first)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from collector.model import Reading
from collector.sinks.sparkplug import Message, SparkplugSession
from tests.support.sparkplug_decode import by_name, decode_payload

pytestmark = pytest.mark.unit

DEVICES = ["d0", "d1", "d2"]
TAGS = ["a", "b", "State/Current"]

data_op = st.tuples(
    st.just("data"),
    st.sampled_from(DEVICES),
    st.lists(st.sampled_from([*TAGS, "extra"]), min_size=1, max_size=3),
    st.booleans(),
    st.integers(1, 120),  # repeat: bursts of DDATA so that seq runs past 255 several times
)
op = st.one_of(
    *[data_op] * 6,
    st.tuples(st.just("offline"), st.sampled_from(DEVICES)),
    st.tuples(st.just("rebirth")),
    st.tuples(st.just("reconnect")),
)
ops = st.lists(op, min_size=5, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, first_bd_seq=st.integers(0, 255), lead=st.integers(200, 300))
def test_sequences_over_long_random_sessions(
    ops: list[tuple[Any, ...]], first_bd_seq: int, lead: int
) -> None:
    t = [0]

    def clock() -> int:
        t[0] += 1
        return t[0]

    s = SparkplugSession("g", "e", clock=clock, first_bd_seq=first_bd_seq)
    declared = {
        d: [(tag, "int64" if tag != "State/Current" else "string", None) for tag in TAGS] for d in DEVICES
    }
    checker = Checker(first_bd_seq)
    checker.will(s.connect())
    checker.feed(s.birth(declared))
    # `lead` DDATA first put seq near 255, so the random operations below run across the wrap.
    ops = [("data", "d0", ["a"], False, lead), *ops]
    for o in ops:
        if o[0] == "data":
            _, device, tags, historical, repeat = o
            for _ in range(repeat):
                n = clock()  # values change every time: report by exception sends each of them
                readings = [
                    Reading(device, tag, f"RUN{n}" if tag == "State/Current" else n, 0, None, n, 1, i)
                    for i, tag in enumerate(tags)
                ]
                checker.feed(s.data(device, readings, historical=historical))
        elif o[0] == "offline":
            checker.feed(s.device_lost(o[1]))
        elif o[0] == "rebirth":
            checker.feed(s.rebirth())
        else:
            s.disconnected()
            checker.will(s.connect())
            checker.feed(s.birth())
    assert checker.messages >= len(ops) // 2
    target(float(checker.wraps))
    event(f"seq wrapped {min(checker.wraps, 3)}+ times")


def test_seq_wraps_in_a_long_deterministic_session() -> None:
    s = SparkplugSession("g", "e", clock=lambda: 1)
    checker = Checker(0)
    checker.will(s.connect())
    checker.feed(s.birth({"d0": [("a", "int64", None)]}))
    for i in range(1000):
        checker.feed(s.data("d0", [Reading("d0", "a", i, 0, None, i, 1, i)]))
    assert checker.wraps == 3  # 1002 messages: seq 0..255 then three wraps


class Checker:
    def __init__(self, first_bd_seq: int) -> None:
        self.bd_seq = (first_bd_seq - 1) % 256
        self.seq: int | None = None
        self.aliases: dict[str, set[int]] = {}  # device → aliases of its latest DBIRTH
        self.messages = 0
        self.wraps = 0

    def will(self, msg: Message) -> None:
        self.bd_seq = (self.bd_seq + 1) % 256
        assert by_name(decode_payload(msg.payload))["bdSeq"]["value"] == self.bd_seq
        self.seq = None
        self.aliases.clear()

    def feed(self, msgs: list[Message]) -> None:
        for msg in msgs:
            self.messages += 1
            kind = msg.topic.split("/")[2]
            device = msg.topic.split("/")[4] if kind.startswith("D") else None
            payload = decode_payload(msg.payload)
            if kind == "NBIRTH":
                assert payload["seq"] == 0
                assert by_name(payload)["bdSeq"]["value"] == self.bd_seq
                self.aliases.clear()
            else:
                assert self.seq is not None, f"{kind} before NBIRTH"
                assert payload["seq"] == (self.seq + 1) % 256
                assert 0 <= payload["seq"] <= 255
                self.wraps += payload["seq"] == 0
            self.seq = payload["seq"]
            if kind == "DBIRTH":
                assert payload["metrics"], "an empty DBIRTH"
                assert device not in self.aliases, "a DBIRTH while the device is born: no DDEATH first"
                assert device is not None
                self.aliases[device] = {m["alias"] for m in payload["metrics"]}
            elif kind == "DDEATH":
                self.aliases.pop(device or "", None)
            elif kind == "DDATA":
                assert device in self.aliases, "DDATA before the device's DBIRTH"
                assert {m["alias"] for m in payload["metrics"]} <= self.aliases[device]
