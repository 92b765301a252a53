"""The Modbus commissioning defects found against independent servers (issue 18), each a test that
failed before its fix: a device that answers exception 03 to long reads teaches the plan its limit;
`probe` exits 1 while a tag is Bad, says what it learned, and gives the plan as JSON rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.config.modbus import ModbusTcpDevice
from drivers.modbus import BusRegistry, ModbusDriver
from drivers.status import BAD_NOT_READABLE, GOOD
from simulators.modbus import PlcSimulator, Quirks
from simulators.modbus.testing import ManualClock

pytestmark = pytest.mark.integration

METER = [("voltage", 0), ("current", 2), ("power", 4), ("energy_kwh", 6), ("frequency", 8),
         ("power_factor", 10), ("device_time", 20), ("ct_ratio", 30)]  # fmt: skip


def meter(port: int, **extra: object) -> dict[str, object]:
    tags = [{"name": n, "address": {"table": "holding_register", "offset": a},
             "type": "uint16" if n == "ct_ratio" else "uint32" if n == "device_time" else "float32"}
            for n, a in METER]  # fmt: skip
    return {"id": "meter-01", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port,
            "byte_order": "CDAB", "tags": tags, **extra}  # fmt: skip


async def test_exception_03_for_long_reads_teaches_the_plan_its_limit() -> None:
    quirks = Quirks(max_registers=12)  # refuses the merged 31-register read with exception 03
    async with PlcSimulator(
        profile="energy-meter", byte_order="CDAB", quirks=quirks, clock=ManualClock()
    ) as sim:
        options = ModbusTcpDevice.model_validate(meter(sim.port)).driver_options()
        async with ModbusDriver(options, BusRegistry()) as drv:
            first = await drv.read()
            second = await drv.read()
    for poll in (first, second):
        assert [s.status for s in poll] == [GOOD] * len(METER)
        assert {s.tag: s.value for s in poll} == {n: sim.value(n) for n, _ in METER}
    # 31 refused -> halves of at most 15, which the device takes (its own limit is 12, and the tags
    # fall into reads of 12 and 11): the plan keeps 15 and sends 2 reads instead of 1 refused one
    assert drv.stats.limit_learned == {"registers": 15}
    assert [r.count for r in drv.plan] == [12, 11] and drv.stats.last_poll_requests == 2


def plant(tmp_path: Path, device: dict[str, object]) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(json.dumps({"version": 1, "site": {"enterprise": "t", "site": "s"}, "devices": [device]}))
    return path


async def test_probe_exits_1_while_a_tag_is_bad_and_gives_the_plan_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quirks = Quirks(holes=[("holding_register", 8, 9)])  # frequency answers exception 02
    async with PlcSimulator(
        profile="energy-meter", byte_order="CDAB", quirks=quirks, clock=ManualClock()
    ) as sim:
        path = plant(tmp_path, meter(sim.port))
        code = await _in_thread(["probe", "-c", str(path), "--plan", "--json"])
    out, err = capsys.readouterr()
    (report,) = json.loads(out)
    assert code == 1 and "meter-01: 1 tag Bad: frequency" in err
    assert {t["name"]: t["status"] for t in report["tags"]}["frequency"] == BAD_NOT_READABLE
    assert report["plan_requests"] == [
        {"unit": 1, "table": "holding_register", "start": 0, "count": 31, "tags": [n for n, _ in METER]}
    ]


async def test_probe_says_what_it_learned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quirks = Quirks(max_registers=12)
    async with PlcSimulator(
        profile="energy-meter", byte_order="CDAB", quirks=quirks, clock=ManualClock()
    ) as sim:
        path = plant(tmp_path, meter(sim.port))
        code = await _in_thread(["probe", "-c", str(path), "--plan"])
    out = capsys.readouterr().out
    assert code == 0
    assert "LEARNED: the device refused longer reads (exception 03): learned max_registers: 15" in out
    assert "8 tags → 2 requests" in out  # the plan shown is the one learned


async def _in_thread(argv: list[str]) -> int:
    """`main` runs its own event loop: call it off this test's loop."""
    import asyncio

    return await asyncio.to_thread(main, argv)
