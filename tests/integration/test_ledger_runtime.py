"""`shopfloor run`'s audit ledger against a real Modbus simulator and the embedded SQLite store.

The simulator is stopped (device outage) and started again on the same port; the ledger must tell
that story (disconnect, reconnect, an OFFLINE interval), count exactly the readings handed to the
delivery stage, and verify as one signed chain from COLLECTOR_START to the stop checkpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_plant
from collector.ledger import chain, iter_entries, keys
from collector.normalise.records import State
from collector.outbox import Outbox
from collector.service import Collector
from simulators.modbus import PlcSimulator
from tests.support.engine import current_change
from tests.support.net import async_wait_for
from tests.support.plants import stacklight_plant

pytestmark = pytest.mark.integration


def plant_yaml(port: int) -> str:
    return stacklight_plant(port)


def entries_of(ledger_dir: Path, type_: str | None = None) -> list[dict[str, Any]]:
    return [e for e in iter_entries(ledger_dir) if type_ is None or e["type"] == type_]


def raw_batches(ledger_dir: Path) -> list[dict[str, Any]]:
    """sl-01's rows of the RAW_BATCH entries that counted readings."""
    rows = [e["payload"]["devices"].get("sl-01") for e in entries_of(ledger_dir, "RAW_BATCH")]
    return [r for r in rows if r is not None and r["count"]]


def current_state(collector: Collector, device: str) -> State | None:
    change = current_change(collector.engine, device)
    return change.state if change is not None else None


async def test_a_device_outage_is_recorded_in_a_verifiable_chain(tmp_path: Path) -> None:
    async with PlcSimulator(name="sl", profile="stacklight-plc", seed=7, update_interval=0.1) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(plant_yaml(sim.port), encoding="utf-8")
        plant = load_plant(path)
        ledger_dir = plant.resolve(plant.config.evidence.ledger_dir)
        collector = Collector.open(plant)
        run = asyncio.create_task(collector.run(flush_deadline=5))
        try:
            await async_wait_for(lambda: bool(entries_of(ledger_dir, "DEVICE_CONNECT")), 20, "connected")
            await async_wait_for(lambda: current_state(collector, "sl-01") is not None, 20, "a state")

            await async_wait_for(lambda: bool(raw_batches(ledger_dir)), 20, "a first RAW_BATCH")

            await sim.stop()  # the device goes away
            await async_wait_for(lambda: bool(entries_of(ledger_dir, "DEVICE_DISCONNECT")), 20, "outage")
            await async_wait_for(
                lambda: current_state(collector, "sl-01") is State.OFFLINE, 20, "OFFLINE committed"
            )
            await sim.start()  # and comes back on the same port
            await async_wait_for(
                lambda: len(entries_of(ledger_dir, "DEVICE_CONNECT")) >= 2, 30, "reconnected"
            )
            await async_wait_for(
                lambda: any(
                    e["payload"]["state"] == "OFFLINE" for e in entries_of(ledger_dir, "STATE_INTERVAL")
                ),
                20,
                "the OFFLINE interval closed",
            )
        finally:
            collector.engine.stop()
            await asyncio.wait_for(run, 30)

    entries = entries_of(ledger_dir)
    types = [e["type"] for e in entries]

    # one chain, every entry linked and hashed, signed at stop by the exported key
    assert chain.check_links(entries) == []
    assert types[0] == "COLLECTOR_START" and types[-2:] == ["COLLECTOR_STOP", "CHECKPOINT"]
    start = entries[0]["payload"]
    key = keys.load_or_create(plant.resolve(plant.config.evidence.signing_key_file))
    assert start["session"] == collector.session and start["devices"] == ["sl-01"]
    assert start["key_id"] == keys.key_id(key) and start["config_hash"].startswith("sha256:")
    assert entries[0]["actor"] == "collector@edge-07"
    stop = entries[-1]["payload"]
    pem = keys.public_pem_path(plant.resolve(plant.config.evidence.signing_key_file)).read_bytes()
    assert chain.verify_checkpoint(pem, stop) and stop["reason"] == "stop"
    assert (stop["head_seq"], stop["head_hash"]) == (entries[-2]["seq"], entries[-2]["entry_hash"])
    assert sum(stop["counts"].values()) == len(entries) - 1
    assert {"RULE_CHANGE", "MASTERDATA_CHANGE", "CALENDAR_CHANGE"} <= set(types[1:5])
    if shutil.which("chronyc") is None:
        timesync = entries_of(ledger_dir, "TIMESYNC")
        assert [t["payload"]["status"] for t in timesync] == ["unavailable"]

    # the outage: connect, disconnect (once, not per retry), connect; an OFFLINE interval between
    device_story = [(e["type"], e["payload"]) for e in entries if e["type"].startswith("DEVICE_")]
    assert [t for t, _ in device_story] == ["DEVICE_CONNECT", "DEVICE_DISCONNECT", "DEVICE_CONNECT"]
    assert device_story[1][1]["device"] == "sl-01" and device_story[1][1]["kind"] == "unreachable"
    offline = [
        e["payload"] for e in entries_of(ledger_dir, "STATE_INTERVAL") if e["payload"]["state"] == "OFFLINE"
    ]
    assert len(offline) == 1 and offline[0]["end"] > offline[0]["start"]
    assert offline[0]["state_zh"] == "离线" and offline[0]["bucket"] == "UNKNOWN"
    assert offline[0]["rule"].startswith("stacklight@")
    i_disconnect = types.index("DEVICE_DISCONNECT")
    assert types.index("DEVICE_CONNECT", i_disconnect) < types.index("COLLECTOR_STOP")

    # RAW_BATCH counts = what the engine handed to delivery = what the store's outbox accepted
    raw = [e["payload"]["devices"]["sl-01"] for e in entries_of(ledger_dir, "RAW_BATCH")]
    counted = sum(r["count"] for r in raw)
    outbox = Outbox(plant.resolve(plant.config.data_dir) / "outbox" / "store.sqlite")
    try:
        accepted = outbox.counters()[("sl-01", "accepted")]
        acked = outbox.counters()[("sl-01", "acked")]
    finally:
        outbox.close()
    assert counted == accepted > 0
    with_data = raw_batches(ledger_dir)
    assert len(with_data) >= 2  # one before the outage, one after
    assert with_data[0]["seq_first"] == 1 and with_data[-1]["seq_last"] == counted  # seq 1..count
    for a, b in itertools.pairwise(with_data):
        assert b["seq_first"] == a["seq_last"] + 1
    assert all("holes" not in r and r["count"] == r["seq_last"] - r["seq_first"] + 1 for r in with_data)
    assert sum(r["errors"].get("unreachable", 0) for r in raw) >= 1
    sink_batches = [e["payload"] for e in entries_of(ledger_dir, "SINK_BATCH")]
    assert {b["sink"] for b in sink_batches} == {"store"}
    assert sum(b["devices"]["sl-01"]["accepted"] for b in sink_batches) == accepted
    assert sum(b["devices"]["sl-01"]["acked"] for b in sink_batches) == acked == accepted
