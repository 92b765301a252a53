"""A small plant scenario: devices start, the emitted plant file is valid, faults arrive over HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from collector.config import load_plant
from simulators.control import ControlServer
from simulators.emit import write_plant_config
from simulators.plant import SimulatedPlant
from simulators.scenario import load_scenario

pytestmark = pytest.mark.integration

SCENARIO = """
name: small
seed: 7
time_scale: 600
update_interval: 200ms
site:
  enterprise: t
  site: s
  areas: [{id: a1, lines: [{id: l1}]}]
cnc:
  - {prefix: cnc, count: 1, profile: machinetool, area: a1, line: l1}
  - {prefix: lathe, count: 1, profile: legacy-cnc}
plc:
  - {prefix: sl, count: 2, profile: stacklight-plc, area: a1, line: l1}
  - {prefix: meter, count: 1, profile: energy-meter, byte_order: CDAB, transport: rtu-over-tcp}
buses:
  - {name: bus, units: {1: energy-meter, 2: stacklight-plc, 3: energy-meter}, dead_units: [3]}
"""


async def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    def call() -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    return await asyncio.to_thread(call)


async def read_hr(port: int, address: int, count: int, timeout: float = 1.0) -> list[int] | None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=timeout, retries=0)
    await client.connect()
    try:
        rr = await client.read_holding_registers(address, count=count, device_id=1)
        return None if rr.isError() else list(rr.registers)
    except ModbusException:
        return None
    finally:
        client.close()


async def test_plant_starts_emits_a_valid_config_and_takes_faults(tmp_path: Path) -> None:
    scenario_file = tmp_path / "small.yaml"
    scenario_file.write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(scenario_file)
    async with SimulatedPlant(scenario) as plant, ControlServer(plant) as control:
        assert sorted(plant.devices) == sorted(scenario.device_names())

        emitted = tmp_path / "plant.yaml"
        write_plant_config(plant, emitted)
        loaded = load_plant(emitted)
        by_id = {d.id: d for d in loaded.config.devices}
        assert set(by_id) == set(plant.devices)
        assert by_id["cnc-01"].protocol == "opcua"
        assert by_id["meter-01"].protocol == "modbus_rtu_over_tcp"
        assert by_id["bus-u3"].protocol == "modbus_rtu_over_tcp"
        assert {by_id[f"bus-u{u}"].port for u in (1, 2, 3)} == {plant.devices["bus-u1"].sim.port}  # type: ignore[union-attr]

        # The emitted browse path resolves on the live CNC server.
        cnc = plant.devices["cnc-01"].sim
        async with Client(cnc.endpoint, timeout=5) as client:
            ns = await client.get_namespace_index(cnc.namespace_uri)  # type: ignore[union-attr]
            node = await client.nodes.objects.get_child(
                [f"{ns}:Machines", f"{ns}:cnc-01", f"{ns}:Monitoring", f"{ns}:Spindle", f"{ns}:ActualSpeed"]
            )
            assert isinstance(await node.read_value(), float)

        status, devices = await http("GET", f"{control.url}/devices")
        assert status == 200 and len(devices) == len(plant.devices)

        status, detail = await http("GET", f"{control.url}/devices/cnc-01")
        assert status == 200 and detail["snapshot"]["parts_total"] >= 0

        sl_port = plant.devices["sl-01"].sim.port  # type: ignore[union-attr]
        assert await read_hr(sl_port, 0, 3) is not None
        status, result = await http("POST", f"{control.url}/devices/sl-01/faults", {"kind": "stall"})
        assert status == 200, result
        assert await read_hr(sl_port, 0, 3, timeout=0.5) is None  # accepted, never answered
        status, _ = await http("POST", f"{control.url}/devices/sl-01/faults", {"kind": "unstall"})
        assert status == 200
        assert await read_hr(sl_port, 0, 3) is not None

        status, err = await http("POST", f"{control.url}/devices/sl-01/faults", {"kind": "melt"})
        assert status == 400 and "unknown fault" in err["error"]
        status, err = await http("GET", f"{control.url}/devices/nope")
        assert status == 404
        status, log = await http("GET", f"{control.url}/faults")
        assert [f["kind"] for f in log] == ["stall", "unstall"]
