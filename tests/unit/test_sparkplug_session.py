"""Sparkplug session: births, seq/bdSeq, aliases, DDEATH, rebirth, replay. Decoded independently."""

from __future__ import annotations

from typing import Any

import pytest

from collector.model import Reading, Value
from collector.sinks.sparkplug import Message, SessionError, SparkplugSession, group_id_for, host_state
from tests.support.sparkplug_decode import by_name, decode_payload, encode_ncmd_rebirth

pytestmark = pytest.mark.unit

DEVICES: dict[str, list[tuple[str, str | int, str | None]]] = {
    "cnc-07": [
        ("spindle_speed", "float64", "r/min"),
        ("part_count", "uint32", None),
        ("State/Current", "string", None),
    ],
    "press-2": [("running", "bool", None), ("temp", "int16", "°C")],
}


class Clock:
    def __init__(self) -> None:
        self.t = 1_718_000_000_000

    def __call__(self) -> int:
        self.t += 1
        return self.t


def reading(
    device: str, tag: str, value: Value, status: int = 0, ts: int | None = 1_700_000_000_000
) -> Reading:
    return Reading(device, tag, value, status, ts, 1_700_000_000_500, 1, 0)


def decoded(msgs: list[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(m.topic.split("/")[2], decode_payload(m.payload)) for m in msgs]


@pytest.fixture
def session() -> SparkplugSession:
    s = SparkplugSession("acme-sz", "edge-1", clock=Clock())
    s.connect()
    return s


def test_will_and_nbirth_share_bdseq(session: SparkplugSession) -> None:
    will = session.will()
    assert (will.topic, will.qos, will.retain) == ("spBv1.0/acme-sz/NDEATH/edge-1", 1, False)
    death = decode_payload(will.payload)
    assert "seq" not in death
    [(kind, nbirth), *_] = decoded(session.birth(DEVICES))
    assert kind == "NBIRTH" and nbirth["seq"] == 0
    assert by_name(nbirth)["bdSeq"]["value"] == by_name(death)["bdSeq"]["value"] == 0
    assert by_name(nbirth)["Node Control/Rebirth"]["value"] is False


def test_bdseq_increments_per_connect_and_wraps() -> None:
    s = SparkplugSession("g", "e", clock=Clock(), first_bd_seq=254)
    seen = []
    for _ in range(4):
        will = decode_payload(s.connect().payload)
        nbirth = decode_payload(s.birth()[0].payload)
        assert by_name(will)["bdSeq"]["value"] == by_name(nbirth)["bdSeq"]["value"]
        seen.append(by_name(nbirth)["bdSeq"]["value"])
    assert seen == [254, 255, 0, 1]


def test_births_then_data_with_seq_and_aliases(session: SparkplugSession) -> None:
    msgs = session.birth(DEVICES)
    assert [m.topic for m in msgs] == [
        "spBv1.0/acme-sz/NBIRTH/edge-1",
        "spBv1.0/acme-sz/DBIRTH/edge-1/cnc-07",
        "spBv1.0/acme-sz/DBIRTH/edge-1/press-2",
    ]
    assert all(m.qos == 0 and not m.retain for m in msgs)
    payloads = [p for _, p in decoded(msgs)]
    assert [p["seq"] for p in payloads] == [0, 1, 2]
    cnc = by_name(payloads[1])
    assert set(cnc) == {"Telemetry/spindle_speed", "Telemetry/part_count", "State/Current"}
    assert all(m["is_null"] and "alias" in m and "datatype" in m for m in cnc.values())
    assert [
        cnc[n]["datatype"] for n in ("Telemetry/spindle_speed", "Telemetry/part_count", "State/Current")
    ] == [
        10,
        7,
        12,
    ]
    assert cnc["Telemetry/spindle_speed"]["properties"]["engUnit"]["value"] == "r/min"
    aliases = [m["alias"] for p in payloads[1:] for m in p["metrics"]]
    assert len(set(aliases)) == len(aliases), "aliases are unique across the whole edge node"

    [(kind, ddata)] = decoded(
        session.data(
            "cnc-07",
            [
                reading("cnc-07", "spindle_speed", 1200.5),
                reading("cnc-07", "State/Current", "RUNNING", ts=None),
            ],
        )
    )
    assert kind == "DDATA" and ddata["seq"] == 3
    assert all("name" not in m for m in ddata["metrics"]), "DATA messages carry aliases only"
    speed, state = ddata["metrics"]
    assert speed["alias"] == cnc["Telemetry/spindle_speed"]["alias"] and speed["value"] == 1200.5
    assert speed["timestamp"] == 1_700_000_000_000  # source timestamp
    assert state["alias"] == cnc["State/Current"]["alias"] and state["value"] == "RUNNING"
    assert state["timestamp"] == 1_700_000_000_500  # no source timestamp: collector time


def test_datatypes_and_null(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    readings = [
        reading("press-2", "running", True),
        reading("press-2", "temp", -12),
    ]
    [(_, ddata)] = decoded(session.data("press-2", readings))
    running, temp = ddata["metrics"]
    assert (running["datatype"], running["kind"], running["value"]) == (11, "boolean_value", True)
    assert (temp["datatype"], temp["kind"], temp["value"]) == (2, "int_value", -12)
    [(_, ddata)] = decoded(session.data("press-2", [reading("press-2", "temp", None, status=0x80050000)]))
    [temp] = ddata["metrics"]
    assert temp["is_null"] is True and "value" not in temp
    assert temp["properties"]["Quality"]["value"] == 0


def test_quality_only_when_not_good(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    readings = [
        reading("cnc-07", "spindle_speed", 1.0, status=0),
        reading("cnc-07", "spindle_speed", 2.0, status=0x408F0000),
        reading("cnc-07", "spindle_speed", 3.0, status=0x800A0000),
    ]
    [(_, ddata)] = decoded(session.data("cnc-07", readings))
    assert [m.get("properties", {}).get("Quality", {}).get("value") for m in ddata["metrics"]] == [
        None,
        500,
        0,
    ]


def test_unencodable_value_becomes_bad_null(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    [(_, ddata)] = decoded(session.data("press-2", [reading("press-2", "temp", 70000)]))  # > Int16
    [temp] = ddata["metrics"]
    assert temp["is_null"] and temp["properties"]["Quality"]["value"] == 0


def test_device_offline_sends_ddeath_then_dbirth_before_next_data(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    [(kind, ddeath)] = decoded(session.device_offline("press-2"))
    assert kind == "DDEATH" and ddeath["seq"] == 3 and ddeath["metrics"] == []
    assert session.device_offline("press-2") == []  # already dead: nothing more to say
    assert session.device_offline("unknown") == []
    out = decoded(session.data("press-2", [reading("press-2", "temp", 20)]))
    assert [(k, p["seq"]) for k, p in out] == [("DBIRTH", 4), ("DDATA", 5)]


def test_offline_device_gets_no_dbirth_on_rebirth(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    session.device_offline("press-2")
    kinds = [m.topic for m in session.rebirth()]
    assert kinds == ["spBv1.0/acme-sz/NBIRTH/edge-1", "spBv1.0/acme-sz/DBIRTH/edge-1/cnc-07"]


def test_rebirth_keeps_bdseq_and_aliases_and_reports_current_values(session: SparkplugSession) -> None:
    first = decoded(session.birth(DEVICES))
    session.data("cnc-07", [reading("cnc-07", "part_count", 41, status=0x408F0000)])
    cmd = encode_ncmd_rebirth(1)
    assert session.handle_command("spBv1.0/acme-sz/NCMD/other-node", cmd) == []
    assert session.handle_command("spBv1.0/acme-sz/NCMD/edge-1", encode_ncmd_rebirth(1, False)) == []
    again = decoded(session.handle_command("spBv1.0/acme-sz/NCMD/edge-1", cmd))
    assert [(k, p["seq"]) for k, p in again] == [("NBIRTH", 0), ("DBIRTH", 1), ("DBIRTH", 2)]
    assert by_name(again[0][1])["bdSeq"]["value"] == by_name(first[0][1])["bdSeq"]["value"]
    for (_, old), (_, new) in zip(first[1:], again[1:], strict=True):
        assert {n: m["alias"] for n, m in by_name(old).items()} == {
            n: m["alias"] for n, m in by_name(new).items()
        }
    count = by_name(again[1][1])["Telemetry/part_count"]
    assert count["value"] == 41 and count["timestamp"] == 1_700_000_000_000
    assert count["properties"]["Quality"]["value"] == 500


def test_reconnect_needs_new_births_and_keeps_aliases(session: SparkplugSession) -> None:
    first = decoded(session.birth(DEVICES))
    session.disconnected()
    with pytest.raises(SessionError):
        session.data("cnc-07", [reading("cnc-07", "part_count", 1)])
    will = decode_payload(session.connect().payload)
    again = decoded(session.birth())
    assert by_name(will)["bdSeq"]["value"] == by_name(again[0][1])["bdSeq"]["value"] == 1
    assert (
        by_name(first[1][1])["Telemetry/part_count"]["alias"]
        == by_name(again[1][1])["Telemetry/part_count"]["alias"]
    )


def test_order_is_enforced() -> None:
    s = SparkplugSession("g", "e", clock=Clock())
    with pytest.raises(SessionError):
        s.birth(DEVICES)
    s.connect()
    with pytest.raises(SessionError):
        s.data("cnc-07", [reading("cnc-07", "part_count", 1)])
    assert s.handle_command(s.topic("NCMD"), encode_ncmd_rebirth(1)) == []  # not born: nothing to redo


def test_historical_replay_is_flagged_and_not_current(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    session.data("cnc-07", [reading("cnc-07", "part_count", 50, ts=2_000)])
    [(_, ddata)] = decoded(
        session.data("cnc-07", [reading("cnc-07", "part_count", 7, ts=1_000)], historical=True)
    )
    assert ddata["metrics"][0]["is_historical"] is True and ddata["metrics"][0]["value"] == 7
    [(_, live)] = decoded(session.data("cnc-07", [reading("cnc-07", "part_count", 51, ts=3_000)]))
    assert "is_historical" not in live["metrics"][0]
    dbirth = decoded(session.rebirth())[1][1]
    assert by_name(dbirth)["Telemetry/part_count"]["value"] == 51


def test_undeclared_tag_triggers_a_new_dbirth(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    out = decoded(session.data("cnc-07", [reading("cnc-07", "feed_override", 95.0)]))
    assert [k for k, _ in out] == ["DBIRTH", "DDATA"]
    new = by_name(out[0][1])["Telemetry/feed_override"]
    assert new["datatype"] == 10
    assert out[1][1]["metrics"][0]["alias"] == new["alias"]
    out = decoded(session.data("lathe-9", [reading("lathe-9", "on", True)]))  # unknown device
    assert [k for k, _ in out] == ["DBIRTH", "DDATA"]


def test_undeclared_tags_that_cannot_be_declared_are_dropped(session: SparkplugSession) -> None:
    session.birth({"d": [("Telemetry/x", "int32", None)]})
    out = decoded(session.data("d", [reading("d", "x", 1), reading("d", "names", ["a", "b"])]))
    assert [k for k, _ in out] == ["DBIRTH", "DDATA"]
    assert set(by_name(out[0][1])) == {"Telemetry/x", "Telemetry/names"}
    [names] = out[1][1]["metrics"]  # "x" collides with "Telemetry/x": dropped, logged
    assert (names["datatype"], names["value"]) == (12, "['a', 'b']")


def test_redeclared_datatype_keeps_alias_and_drops_stale_value(session: SparkplugSession) -> None:
    first = decoded(session.birth({"d": [("mode", "string", None)]}))
    session.data("d", [reading("d", "mode", "AUTO")])
    again = decoded(session.birth({"d": [("mode", "int16", None)]}))
    old, new = by_name(first[1][1])["Telemetry/mode"], by_name(again[1][1])["Telemetry/mode"]
    assert new["alias"] == old["alias"] and new["datatype"] == 2 and new["is_null"] is True


def test_empty_batch_sends_nothing(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    assert session.data("cnc-07", []) == []


def test_intentional_death(session: SparkplugSession) -> None:
    session.birth(DEVICES)
    death = session.death()
    assert death.qos == 1 and "NDEATH" in death.topic
    assert not session.node_born and not session.device_born("cnc-07")


def test_command_subscriptions(session: SparkplugSession) -> None:
    assert session.command_subscriptions() == [
        ("spBv1.0/acme-sz/NCMD/edge-1", 1),
        ("spBv1.0/acme-sz/DCMD/edge-1/+", 1),
    ]


def test_metric_name_collisions_are_rejected(session: SparkplugSession) -> None:
    with pytest.raises(ValueError):
        session.birth({"d": [("x", "int32", None), ("Telemetry/x", "int32", None)]})


def test_group_id_and_host_state() -> None:
    assert group_id_for("acme", "sz") == "acme-sz"
    with pytest.raises(ValueError):
        group_id_for("acme", "s/z")
    assert host_state(b'{"online": true, "timestamp": 1}') is True
    assert host_state(b'{"online": false}') is False
    assert host_state(b"\x08\x01") is None
    assert host_state(b"[]") is None
