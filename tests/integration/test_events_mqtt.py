"""Engine events over MQTT: a stack-light PLC's state arrives retained on its UNS `state` topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.normalise.records import State
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions
from simulators.modbus import PlcSimulator
from tests.support.net import async_wait_for
from tests.support.servers import Server

pytestmark = pytest.mark.integration

TEMPLATES = Path(__file__).resolve().parents[2] / "configs" / "templates"


def plant_yaml(plc_port: int, broker_port: int, enterprise: str) -> str:
    return f"""
version: 1
site: {{enterprise: {enterprise}, site: s1, edge_id: ipc-1}}
data_dir: data
templates_dir: {TEMPLATES}
devices:
  - id: sl-01
    protocol: modbus_tcp
    host: 127.0.0.1
    port: {plc_port}
    area: a1
    line: l1
    template: stacklight-plc
    poll_interval: 50ms
    timeout: 500ms
    state:
      template: stacklight
      inputs: {{red: lamp_red, yellow: lamp_yellow, green: lamp_green, power: powered}}
      debounce: {{default: 0s}}
mqtt:
  mode: uns
  host: 127.0.0.1
  port: {broker_port}
storage: {{backend: sqlite, sqlite_path: data/hist.sqlite}}
"""


class Listener:
    def __init__(self, port: int, client_id: str) -> None:
        self.opts = MqttOptions("127.0.0.1", port, client_id)
        self.messages: list[tuple[str, dict[str, object], bool]] = []
        self.conn: MqttConnection | None = None

    def on_message(self, msg: object) -> None:
        self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))  # type: ignore[attr-defined]

    async def connect(self, topic: str) -> None:
        self.conn = MqttConnection(self.opts, self.on_message)
        await self.conn.connect()
        await self.conn.subscribe(topic, 1)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.disconnect()

    def on(self, topic: str) -> list[tuple[dict[str, object], bool]]:
        return [(m, r) for t, m, r in self.messages if t == topic]


async def test_engine_state_is_published_retained(tmp_path: Path, mosquitto: Server) -> None:
    enterprise = f"evt{uuid.uuid4().hex[:8]}"  # the broker is shared: no retained state from other tests
    base = f"uns/v1/{enterprise}/s1/a1/l1/sl-01"
    live = Listener(mosquitto.port, f"live-{enterprise}")
    await live.connect(f"uns/v1/{enterprise}/#")
    async with PlcSimulator(profile="stacklight-plc", port=0) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(plant_yaml(sim.port, mosquitto.port, enterprise), encoding="utf-8")
        plant = load_plant(path)
        delivery = Delivery.build(plant.config, plant.base_dir, session=4)
        engine = Engine(plant, delivery, events=delivery.events, session=4)
        stop = asyncio.Event()
        deliver = asyncio.create_task(delivery.run(stop, flush_deadline=5))
        run = asyncio.create_task(engine.run())
        try:
            await async_wait_for(lambda: bool(live.on(f"{base}/state")), 20, "a state message")
            await async_wait_for(lambda: bool(live.on(f"{base}/event/state_change")), 10, "a state change")
        finally:
            engine.stop()
            await asyncio.wait_for(run, 15)
            stop.set()
            await asyncio.wait_for(deliver, 20)
            delivery.close()
    await live.close()

    state, retained = live.on(f"{base}/state")[-1]
    assert retained is False  # delivered live to a subscriber that was already there
    assert state["v"] == 1 and state["device"] == "sl-01" and state["hist"] is False
    assert state["state"] in State.__members__
    assert state["state_zh"] == State[str(state["state"])].zh
    assert state["session"] == 4 and isinstance(state["seq"], int)
    assert {"sub", "since", "ts", "q", "iso22400", "e10", "rule"} <= state.keys()
    assert set(state["inputs"]) >= {"lamp_red", "lamp_yellow", "lamp_green", "powered"}  # type: ignore[call-overload]
    change, change_retained = live.on(f"{base}/event/state_change")[0]
    assert change_retained is False and "previous" in change and "closed" in change
    assert all(not r for _m, r in live.on(f"{base}/event/state_change"))

    late = Listener(mosquitto.port, f"late-{enterprise}")
    await late.connect(f"{base}/state")
    try:
        await async_wait_for(lambda: bool(late.on(f"{base}/state")), 10, "the retained state")
    finally:
        await late.close()
    kept, kept_retained = late.on(f"{base}/state")[0]
    assert kept_retained is True
    assert kept == state  # the newest state is what the broker keeps
