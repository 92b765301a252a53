"""The primary host's STATE as the edge node reads it, the plant file's tag definitions, and the replay
window: the pieces of the Sparkplug sink that need no broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.config import ConfigError, load_plant
from collector.outbox import OutboxRecord
from collector.sinks.sparkplug.host import PrimaryHost, parse_state
from collector.sinks.sparkplug.metrics import TagSpec
from collector.sinks.sparkplug.sink import SparkplugSink
from collector.sinks.sparkplug.specs import device_tags
from collector.sinks.sparkplug.tail import RecentTail

pytestmark = pytest.mark.unit

TOPIC = "spBv1.0/STATE/scada"


def state(online: bool, ts: int) -> bytes:
    return json.dumps({"online": online, "timestamp": ts}).encode()


def test_online_needs_a_state_for_this_host_with_online_true() -> None:
    host = PrimaryHost("scada")
    assert not host.online
    assert host.observe("spBv1.0/STATE/scada_WRONG", state(True, 10)) is None  # another host id
    assert host.observe(TOPIC, b"ONLINE") is None  # the 2.2 form is not a 3.0 STATE
    assert not host.online
    assert host.observe(TOPIC, state(True, 10)) is not None and host.online


def test_stale_states_are_ignored_and_a_death_is_final_at_its_timestamp() -> None:
    host = PrimaryHost("scada")
    host.observe(TOPIC, state(True, 10))
    assert host.observe(TOPIC, state(False, 9)) is None and host.online  # an older session's Will
    assert host.observe(TOPIC, state(False, 10)) is not None and not host.online  # this session's Will
    assert host.observe(TOPIC, state(True, 10)) is None and not host.online  # its birth again: stale
    assert host.observe(TOPIC, state(False, 10)) is not None  # the retained Will, delivered again
    assert host.observe(TOPIC, state(True, 11)) is not None and host.online  # a new host session


def test_state_payloads() -> None:
    assert parse_state(state(True, 5)) is not None
    for bad in (b"{}", b'{"online": "yes", "timestamp": 1}', b'{"online": true, "timestamp": true}', b"\xff"):
        assert parse_state(bad) is None


def test_tag_definitions_from_the_plant_file(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: a, site: b, edge_id: e}\ndevices:\n"
        "  - {id: plc-1, protocol: modbus_tcp, host: 127.0.0.1,\n"
        "     tags: [{name: count, address: 40001, type: uint32, deadband: 2},\n"
        "            {name: speed, address: 40003, type: int16, scale: 0.1, unit: rpm}]}\n"
        "  - {id: cnc-1, protocol: opcua, endpoint: 'opc.tcp://127.0.0.1:4840',\n"
        "     tags: [{name: load, node: 'ns=2;s=L', unit: '%', deadband: {type: absolute, value: 0.5}},\n"
        "            {name: feed, node: 'ns=2;s=F', deadband: {type: percent, value: 1}}]}\n",
        encoding="utf-8",
    )
    tags = device_tags(load_plant(path).config)
    assert tags["plc-1"] == [TagSpec("count", "uint32", None, 2.0), TagSpec("speed", "float64", "rpm", None)]
    assert tags["cnc-1"] == [TagSpec("load", None, "%", 0.5), TagSpec("feed", None, None, None)]


def record(i: int, size: int = 10) -> OutboxRecord:
    return OutboxRecord(i, "data", "d", 1, i, i, 1, 0, b"x" * size)


def test_replay_window_keeps_what_was_sent_within_it() -> None:
    now = [100.0]
    tail = RecentTail(60.0, clock=lambda: now[0])
    tail.add([record(1)])
    now[0] = 130.0
    tail.add([record(2), record(3)])
    now[0] = 175.0  # record 1 is 75 s old now
    assert [r.id for r in tail.take()] == [2, 3]
    assert tail.take() == []
    off = RecentTail(0.0)
    off.add([record(1)])
    assert off.take() == []


def test_replay_window_is_bounded_in_bytes() -> None:
    tail = RecentTail(60.0, max_bytes=25, clock=lambda: 1.0)
    tail.add([record(i) for i in range(5)])
    assert [r.id for r in tail.take()] == [3, 4] and tail.dropped == 3


def sparkplug_plant(tmp_path: Path, mqtt: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        f"version: 1\nsite: {{enterprise: a, site: b, edge_id: e}}\nmqtt: {mqtt}\n", encoding="utf-8"
    )
    return path


def test_the_edge_node_connects_with_a_clean_session(tmp_path: Path) -> None:
    plant = load_plant(sparkplug_plant(tmp_path, "{mode: sparkplug, sparkplug: {primary_host: scada}}"))
    sink = SparkplugSink(plant.config, plant.base_dir)
    assert sink.link.options.clean_start is True and sink.link.options.session_expiry == 0
    assert sink.qos == 1 and sink.link.host is not None and sink.link.host.topic == "spBv1.0/STATE/scada"


def test_sparkplug_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sparkplug\.delivery"):
        load_plant(sparkplug_plant(tmp_path, "{mode: sparkplug, qos: 0}"))
    with pytest.raises(ConfigError, match="host id"):
        load_plant(sparkplug_plant(tmp_path, "{mode: sparkplug, sparkplug: {primary_host: 'a/b'}}"))
    conformant = load_plant(
        sparkplug_plant(tmp_path, "{mode: sparkplug, qos: 1, sparkplug: {delivery: conformant}}")
    )
    assert SparkplugSink(conformant.config, conformant.base_dir).qos == 0
