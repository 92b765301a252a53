"""Sparkplug session: births, seq/bdSeq, aliases, report by exception, device deaths, rebirth, replay,
reload. Every message is decoded independently (tests/support/sparkplug_decode.py), as a host would."""

from __future__ import annotations

from typing import Any

import pytest

from collector.model import Reading, Value
from collector.sinks.sparkplug import (
    Message,
    SessionError,
    SparkplugSession,
    TagSpec,
    group_id_for,
    host_state,
)
from tests.support.sparkplug_decode import HostView, by_name, decode_payload, encode_ncmd_rebirth

pytestmark = pytest.mark.unit

DEVICES: dict[str, list[TagSpec]] = {
    "cnc-07": [
        TagSpec("spindle_speed", "float64", "r/min", 5.0),
        TagSpec("part_count", "uint32"),
        TagSpec("State/Current", "string"),
    ],
    "press-2": [TagSpec("running", "bool"), TagSpec("temp", "int16", "°C")],
}
BAD = 0x800A0000
UNCERTAIN = 0x408F0000


class Clock:
    def __init__(self) -> None:
        self.t = 1_718_000_000_000

    def __call__(self) -> int:
        self.t += 1
        return self.t


def reading(
    device: str, tag: str, value: Value, status: int = 0, ts: int | None = 1_700_000_000_000, at: int = 500
) -> Reading:
    return Reading(device, tag, value, status, ts, 1_700_000_000_000 + at, 1, 0, None)


def cnc(speed: float = 1200.0, count: int = 41, state: str = "RUNNING", **kw: Any) -> list[Reading]:
    return [
        reading("cnc-07", "spindle_speed", speed, **kw),
        reading("cnc-07", "part_count", count, **kw),
        reading("cnc-07", "State/Current", state, **kw),
    ]


class Host:
    """Decodes the session's messages as a host would, keeping what births said."""

    def __init__(self) -> None:
        self.view = HostView()

    def __call__(self, msgs: list[Message]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for m in msgs:
            kind = m.topic.split("/")[2]
            out.append((kind, self.view.decode(kind, m.payload)))
        return out


@pytest.fixture
def session() -> SparkplugSession:
    s = SparkplugSession("acme-sz", "edge-1", clock=Clock())
    s.declare(DEVICES)
    s.connect()
    return s


@pytest.fixture
def host() -> Host:
    return Host()


def kinds(out: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, int]]:
    return [(k, p["seq"]) for k, p in out]


def values(payload: dict[str, Any], host: Host) -> dict[str, Any]:
    return {host.view.names[m["alias"]]: m.get("value") for m in payload["metrics"]}


def test_will_and_nbirth_share_bdseq(session: SparkplugSession, host: Host) -> None:
    will = session.will()
    assert (will.topic, will.qos, will.retain) == ("spBv1.0/acme-sz/NDEATH/edge-1", 1, False)
    death = decode_payload(will.payload)
    assert "seq" not in death
    [(kind, nbirth)] = host(session.birth())
    assert kind == "NBIRTH" and nbirth["seq"] == 0
    assert by_name(nbirth)["bdSeq"]["value"] == by_name(death)["bdSeq"]["value"] == 0
    assert by_name(nbirth)["Node Control/Rebirth"]["value"] is False
    assert all("alias" not in m for m in nbirth["metrics"])  # no alias on the control metrics


def test_bdseq_increments_per_connect_and_wraps() -> None:
    s = SparkplugSession("g", "e", clock=Clock(), first_bd_seq=254)
    seen = []
    for _ in range(4):
        will = decode_payload(s.connect().payload)
        nbirth = decode_payload(s.birth()[0].payload)
        assert by_name(will)["bdSeq"]["value"] == by_name(nbirth)["bdSeq"]["value"]
        seen.append(by_name(nbirth)["bdSeq"]["value"])
    assert seen == [254, 255, 0, 1]


def test_a_device_is_born_from_its_first_data_never_empty(session: SparkplugSession, host: Host) -> None:
    assert [k for k, _ in host(session.birth())] == ["NBIRTH"]  # nothing known yet: no DBIRTH at all
    out = host(session.data("cnc-07", cnc()))
    assert kinds(out) == [("DBIRTH", 1)]  # the birth carries the values: no DDATA repeating them
    dbirth = by_name(out[0][1])
    assert {n: m["value"] for n, m in dbirth.items()} == {
        "Telemetry/spindle_speed": 1200.0, "Telemetry/part_count": 41, "State/Current": "RUNNING",
    }  # fmt: skip
    assert [dbirth[n]["datatype"] for n in ("Telemetry/spindle_speed", "Telemetry/part_count")] == [10, 7]
    assert dbirth["Telemetry/spindle_speed"]["properties"]["engUnit"]["value"] == "r/min"
    assert all("properties" not in m or "Quality" not in m["properties"] for m in dbirth.values())
    out = host(session.data("press-2", [reading("press-2", "temp", -12)]))
    assert kinds(out) == [("DBIRTH", 2)]
    press = by_name(out[0][1])
    assert press["Telemetry/temp"]["value"] == -12 and press["Telemetry/running"]["is_null"] is True
    aliases = [m["alias"] for _k, p in out for m in p["metrics"]] + [m["alias"] for m in dbirth.values()]
    assert len(set(aliases)) == len(aliases), "aliases are unique across the whole edge node"


def test_ddata_by_exception_with_aliases_only(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc()))
    assert session.data("cnc-07", cnc()) == []  # nothing changed: nothing to say
    assert session.data("cnc-07", cnc(speed=1204.0)) == []  # inside the 5 r/min deadband
    [(kind, ddata)] = host(session.data("cnc-07", cnc(speed=1210.0, count=42, ts=None)))
    assert kind == "DDATA" and ddata["seq"] == 2
    assert all("name" not in m and "datatype" not in m for m in ddata["metrics"])
    assert values(ddata, host) == {"Telemetry/spindle_speed": 1210.0, "Telemetry/part_count": 42}
    assert {m["timestamp"] for m in ddata["metrics"]} == {1_700_000_000_500}  # no source ts: collector's
    [(_, stale)] = host(session.data("cnc-07", cnc(speed=1210.0, count=42, status=UNCERTAIN)))
    assert [m["properties"]["Quality"]["value"] for m in stale["metrics"]] == [500, 500, 500]


def test_refresh_resends_unchanged_values() -> None:
    clock = Clock()
    s = SparkplugSession("g", "e", clock=clock, refresh_ms=60_000)
    s.declare(DEVICES)
    s.connect()
    s.birth()
    s.data("cnc-07", cnc())
    assert s.data("cnc-07", cnc()) == []
    clock.t += 60_000
    [ddata] = s.data("cnc-07", cnc())
    assert len(decode_payload(ddata.payload)["metrics"]) == 3


def test_ddata_metrics_are_in_chronological_order(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc()))
    later = [
        reading("cnc-07", "spindle_speed", 900.0, ts=3_000),
        reading("cnc-07", "part_count", 43, ts=2_000),
    ]
    [(_, ddata)] = host(session.data("cnc-07", later))
    assert [m["timestamp"] for m in ddata["metrics"]] == [2_000, 3_000]


def test_values_a_datatype_cannot_carry_become_bad_nulls(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("press-2", [reading("press-2", "temp", 20)]))
    [(_, ddata)] = host(session.data("press-2", [reading("press-2", "temp", 70000)]))  # > Int16
    [temp] = ddata["metrics"]
    assert temp["is_null"] and "value" not in temp and temp["properties"]["Quality"]["value"] == 0
    assert session.data("press-2", [reading("press-2", "temp", None, status=BAD)]) == []  # still a bad null
    [(_, ddata)] = host(session.data("press-2", [reading("press-2", "temp", -3)]))
    assert [(m["value"], "properties" in m) for m in ddata["metrics"]] == [(-3, False)]


def test_a_lost_device_dies_and_comes_back_with_fresh_values(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc()))
    host(session.data("press-2", [reading("press-2", "temp", 20)]))
    lost = [reading("cnc-07", t, None, 0x80310000, None, at=600) for t in ("spindle_speed", "part_count")]
    out = host(session.device_lost("cnc-07", lost))
    assert kinds(out) == [("DDEATH", 3)] and out[0][1]["metrics"] == []
    assert session.device_lost("cnc-07", lost) == []  # already dead: nothing more to say
    assert session.device_lost("unknown") == []
    assert [m.topic.split("/")[-1] for m in session.rebirth()] == ["edge-1", "press-2"]  # no cnc-07
    back = host(session.data("cnc-07", cnc(speed=300.0, at=700)[:2]))
    assert kinds(back) == [("DBIRTH", 2)]
    dbirth = by_name(back[0][1])
    assert dbirth["Telemetry/spindle_speed"]["value"] == 300.0  # the new value, not the one before the loss
    assert (
        "properties" not in dbirth["Telemetry/part_count"]
        or "Quality" not in dbirth["Telemetry/part_count"]["properties"]
    )
    state = dbirth["State/Current"]  # not in the first batch back: last known, marked stale
    assert state["value"] == "RUNNING" and state["properties"]["Quality"]["value"] == 500


def test_rebirth_keeps_bdseq_aliases_and_current_values(session: SparkplugSession, host: Host) -> None:
    first = host(session.birth())
    born = host(session.data("cnc-07", cnc()))
    host(session.data("cnc-07", cnc(count=45)))
    assert session.handle_command("spBv1.0/acme-sz/NCMD/other-node", encode_ncmd_rebirth(1)) == []
    assert session.handle_command("spBv1.0/acme-sz/NCMD/edge-1", encode_ncmd_rebirth(1, False)) == []
    again = host(session.handle_command("spBv1.0/acme-sz/NCMD/edge-1", encode_ncmd_rebirth(1)))
    assert kinds(again) == [("NBIRTH", 0), ("DBIRTH", 1)]
    assert by_name(again[0][1])["bdSeq"]["value"] == by_name(first[0][1])["bdSeq"]["value"]
    old, new = by_name(born[0][1]), by_name(again[1][1])
    assert {n: m["alias"] for n, m in old.items()} == {n: m["alias"] for n, m in new.items()}
    assert new["Telemetry/part_count"]["value"] == 45 and "properties" not in new["Telemetry/part_count"]
    assert session.data("cnc-07", cnc(count=45)) == []  # the rebirth is the new baseline


def test_after_a_reconnect_births_mark_values_stale(session: SparkplugSession, host: Host) -> None:
    session.birth()
    born = by_name(host(session.data("cnc-07", cnc()))[0][1])
    session.disconnected()
    with pytest.raises(SessionError):
        session.data("cnc-07", cnc())
    will = decode_payload(session.connect().payload)
    again = host(session.birth())
    assert by_name(will)["bdSeq"]["value"] == by_name(again[0][1])["bdSeq"]["value"] == 1
    assert kinds(again) == [("NBIRTH", 0), ("DBIRTH", 1)]
    reborn = by_name(again[1][1])
    assert {n: m["alias"] for n, m in reborn.items()} == {n: m["alias"] for n, m in born.items()}
    assert all(m["properties"]["Quality"]["value"] == 500 for m in reborn.values())  # not vouched for
    [(_, fresh)] = host(session.data("cnc-07", cnc()))  # same values, now good again: sent
    assert len(fresh["metrics"]) == 3 and all("properties" not in m for m in fresh["metrics"])


def test_order_is_enforced() -> None:
    s = SparkplugSession("g", "e", clock=Clock())
    with pytest.raises(SessionError):
        s.birth()
    s.connect()
    with pytest.raises(SessionError):
        s.data("cnc-07", [reading("cnc-07", "part_count", 1)])
    assert s.handle_command(s.topic("NCMD"), encode_ncmd_rebirth(1)) == []  # not born: nothing to redo


def test_replayed_data_is_historical_and_never_current(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc(count=50, ts=2_000)))
    [(_, ddata)] = host(session.data("cnc-07", [reading("cnc-07", "part_count", 7, ts=1_000)], True))
    assert ddata["metrics"][0]["is_historical"] is True and ddata["metrics"][0]["value"] == 7
    [(_, live)] = host(session.data("cnc-07", [reading("cnc-07", "part_count", 51, ts=3_000)]))
    assert "is_historical" not in live["metrics"][0]
    assert by_name(host(session.rebirth())[1][1])["Telemetry/part_count"]["value"] == 51


def test_replay_before_any_live_data_births_with_stale_values(session: SparkplugSession, host: Host) -> None:
    session.birth()
    out = host(session.data("cnc-07", cnc(count=9), historical=True))  # a restart's backlog
    assert [k for k, _ in out] == ["DBIRTH", "DDATA"]
    assert all(m["properties"]["Quality"]["value"] == 500 for m in out[0][1]["metrics"])
    assert all(m["is_historical"] for m in out[1][1]["metrics"])


def test_replay_of_a_device_lost_since_births_and_dies_again(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc(at=100)))
    lost = [reading("cnc-07", "part_count", None, 0x80310000, None, at=900)]
    host(session.device_lost("cnc-07", lost))
    out = host(session.data("cnc-07", cnc(count=44, at=200), historical=True))  # older than the loss
    assert [k for k, _ in out] == ["DBIRTH", "DDATA", "DDEATH"]  # born for the history, dead again
    assert session.device_lost("cnc-07", lost[:1], historical=True) == []


def test_a_new_tag_mid_session_ends_the_device_session_first(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc()))
    feed = Reading("cnc-07", "feed_override", 95.0, 0, None, 1_700_000_001_000, 1, 9, "%")
    out = host(session.data("cnc-07", [feed]))
    assert [k for k, _ in out] == ["DDEATH", "DBIRTH"]  # never a second DBIRTH without a DDEATH
    new = by_name(out[1][1])["Telemetry/feed_override"]
    assert (new["datatype"], new["value"], new["properties"]["engUnit"]["value"]) == (10, 95.0, "%")
    assert len(out[1][1]["metrics"]) == 4


def test_untyped_tags_take_unit_and_deadband_from_the_plant_and_type_from_a_value(host: Host) -> None:
    s = SparkplugSession("g", "e", clock=Clock())
    s.declare({"cnc-9": [TagSpec("speed", None, "r/min", 10.0), TagSpec("mode", None)]})
    s.connect()
    s.birth()
    assert s.data("cnc-9", [reading("cnc-9", "mode", None, status=BAD)]) == []  # no value, no type yet
    [(kind, birth)] = host(s.data("cnc-9", [reading("cnc-9", "speed", 100), reading("cnc-9", "mode", None)]))
    assert kind == "DBIRTH" and set(by_name(birth)) == {"Telemetry/speed"}
    speed = by_name(birth)["Telemetry/speed"]
    assert (speed["datatype"], speed["properties"]["engUnit"]["value"]) == (4, "r/min")
    assert s.data("cnc-9", [reading("cnc-9", "speed", 105)]) == []  # within its deadband


def test_reload_redefines_and_removes_devices(session: SparkplugSession, host: Host) -> None:
    session.birth()
    host(session.data("cnc-07", cnc()))
    host(session.data("press-2", [reading("press-2", "temp", 20)]))
    session.redefine({"cnc-07": [*DEVICES["cnc-07"], TagSpec("load", "float32", "%")]})  # press-2 removed
    [(kind, _)] = host(session.pending())
    assert kind == "DDEATH" and session.pending() == []
    out = host(session.data("cnc-07", [*cnc(), reading("cnc-07", "load", 0.5)]))
    assert [k for k, _ in out] == ["DDEATH", "DBIRTH"]
    assert by_name(out[1][1])["Telemetry/load"]["properties"]["engUnit"]["value"] == "%"
    unit = [TagSpec("spindle_speed", "float64", "rpm", 5.0), *DEVICES["cnc-07"][1:]]
    session.redefine({"cnc-07": unit})  # only a unit changed; "load" is gone
    out = host(session.data("cnc-07", cnc(speed=1300.0)))
    assert [k for k, _ in out] == ["DDEATH", "DBIRTH"]
    reborn = by_name(out[1][1])
    assert (
        "Telemetry/load" not in reborn
        and reborn["Telemetry/spindle_speed"]["properties"]["engUnit"]["value"] == "rpm"
    )


def test_redeclared_datatype_keeps_alias_and_drops_the_old_value(
    session: SparkplugSession, host: Host
) -> None:
    session.birth()
    first = by_name(host(session.data("cnc-07", cnc()))[0][1])["State/Current"]
    session.redefine({"cnc-07": [*DEVICES["cnc-07"][:2], TagSpec("State/Current", "int16")]})
    out = host(session.data("cnc-07", cnc()[:1]))
    new = by_name(out[1][1])["State/Current"]
    assert new["alias"] == first["alias"] and new["datatype"] == 2 and new["is_null"] is True


def test_empty_batch_sends_nothing(session: SparkplugSession) -> None:
    session.birth()
    assert session.data("cnc-07", []) == []


def test_intentional_death(session: SparkplugSession) -> None:
    session.birth()
    session.data("cnc-07", cnc())
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
        session.declare({"d": [("x", "int32", None), ("Telemetry/x", "int32", None)]})


def test_group_id_and_host_state() -> None:
    assert group_id_for("acme", "sz") == "acme-sz"
    with pytest.raises(ValueError):
        group_id_for("acme", "s/z")
    assert host_state(b'{"online": true, "timestamp": 1}') is True
    assert host_state(b'{"online": false, "timestamp": 1}') is False
    assert host_state(b'{"online": false}') is None  # 3.0 STATE always has its timestamp
    assert host_state(b"OFFLINE") is None and host_state(b"[]") is None
