"""`shopfloor probe` and `shopfloor modbus word-order` as processes against the PLC simulator."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from simulators.modbus import PlcSimulator
from simulators.modbus.testing import ManualClock

pytestmark = pytest.mark.integration

PLANT = """version: 1
site: {{enterprise: acme, site: s1, edge_id: ipc-01, areas: [{{id: a1, lines: [{{id: l1}}]}}]}}
devices:
  - id: meter-01
    protocol: modbus_tcp
    host: 127.0.0.1
    port: {port}
    byte_order: CDAB
    timeout: 1s
    tags:
      - {{name: voltage, address: "400001", type: float32}}
      - {{name: current, address: "400003", type: float32}}
      - {{name: device_time, address: "400021", type: uint32}}
      - {{name: ct_ratio, address: "400031", type: uint16}}
  - id: cnc-01
    protocol: opcua
    endpoint: opc.tcp://127.0.0.1:{opcua_port}/
    tags:
      - {{name: speed, node: "ns=2;s=Speed"}}
  - id: nobody-home
    protocol: modbus_tcp
    host: 127.0.0.1
    port: {dead_port}
    timeout: 300ms
    tags:
      - {{name: x, address: "400001"}}
"""


async def shopfloor(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def free_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def plant_file(tmp_path: Path, sim: PlcSimulator) -> Path:
    """The meter on the simulator; the OPC UA device and 'nobody-home' on ports nothing listens on."""
    path = tmp_path / "plant.yaml"
    text = PLANT.format(port=sim.port, dead_port=await free_port(), opcua_port=await free_port())
    path.write_text(text, encoding="utf-8")
    return path


async def test_probe_prints_values_plan_and_exits_1_for_an_unreachable_device(tmp_path: Path) -> None:
    async with PlcSimulator(profile="energy-meter", byte_order="CDAB", clock=ManualClock()) as sim:
        plant = await plant_file(tmp_path, sim)
        code, out, _err = await shopfloor("probe", "-c", str(plant), "--plan")
    assert code == 1
    assert "4 tags → 2 requests" in out
    assert "voltage" in out and "GOOD" in out and "UNREACHABLE" in out
    assert re.search(r"cnc-01  opc\.tcp://127\.0\.0\.1:\d+/\n  UNREACHABLE", out)  # OPC UA devices too


async def test_probe_json_of_one_device_matches_the_simulator(tmp_path: Path) -> None:
    async with PlcSimulator(profile="energy-meter", byte_order="CDAB", clock=ManualClock()) as sim:
        plant = await plant_file(tmp_path, sim)
        code, out, _ = await shopfloor("probe", "-c", str(plant), "--device", "meter-01", "--json")
        (report,) = json.loads(out)
        assert code == 0 and report["error"] is None
        for tag in report["tags"]:
            assert tag["quality"] == "GOOD"
            assert tag["value"] == sim.value(tag["name"])
        raw = {t["name"]: t["raw"] for t in report["tags"]}
        assert raw["ct_ratio"] == ["0x0064"]  # 100


async def test_probe_reports_config_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text(
        PLANT.format(port=502, dead_port=503, opcua_port=4840).replace('"400003"', "3"), encoding="utf-8"
    )
    code, _, err = await shopfloor("probe", "-c", str(bad))
    assert code == 2
    assert f"{bad.name}:" in err and "ambiguous" in err


async def test_word_order_live_and_offline(tmp_path: Path) -> None:
    async with PlcSimulator(profile="energy-meter", byte_order="CDAB", clock=ManualClock()) as sim:
        plant = await plant_file(tmp_path, sim)
        args = ("modbus", "word-order", "-c", str(plant), "--device", "meter-01", "--tag", "voltage")
        code, out, err = await shopfloor(*args, "--range", "200:250")
    assert code == 0, err
    assert out.splitlines()[1].startswith("float32 CDAB")
    code, out, _ = await shopfloor("modbus", "word-order", "--words", "0x4366,0x0000", "--range", "200:250")
    assert code == 0
    assert out.splitlines()[1] == "float32 ABCD → 230"
