"""The S7 and MC plant simulators as the collector's drivers see them: the profile's values at the
addresses the emitted plant file names, and the faults of the Modbus PLC simulator (stall, drop,
restart, bad, freeze) with the statuses the drivers give them; and `--emit-config` for a scenario with
both, complete with state rules, counters, OEE and a calendar."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.config.mc import McDevice
from collector.config.s7 import S7Device
from drivers.base import DeviceUnreachable, RawSample
from drivers.mc.driver import McDriver
from drivers.s7.driver import S7Driver
from drivers.status import BAD_DEVICE_FAILURE, BAD_NODE_ID_UNKNOWN, BAD_TIMEOUT, GOOD
from simulators.emit import write_plant_config
from simulators.mapped import MappedPlc
from simulators.mc import McSimulator
from simulators.modbus.testing import ManualClock
from simulators.plant import SimulatedPlant
from simulators.s7 import S7Simulator
from simulators.scenario import Scenario
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "s7-mc", "seed": 5, "time_scale": 60, "update_interval": "200ms", "control_port": None,
    "site": {"enterprise": "t", "site": "s", "areas": [{"id": "a1", "lines": [{"id": "l1"}]}]},
    "s7": [{"prefix": "s7", "count": 1, "profile": "stacklight-plc", "area": "a1", "line": "l1"}],
    "mc": [{"prefix": "mc", "count": 1, "profile": "injection-molding", "area": "a1", "line": "l1"},
           {"prefix": "fx", "count": 1, "profile": "energy-meter", "series": "iq-f"}],
}  # fmt: skip


async def emitted(tmp_path: Path) -> tuple[SimulatedPlant, Path]:
    plant = SimulatedPlant(Scenario.model_validate(SCENARIO), run_faults=False)
    await plant.__aenter__()
    path = tmp_path / "plant.yaml"
    write_plant_config(plant, path)
    return plant, path


def driver_for(device: object) -> S7Driver | McDriver:
    if isinstance(device, S7Device):
        return S7Driver(device.driver_options())
    assert isinstance(device, McDevice)
    return McDriver(device.driver_options())


def by_tag(samples: list[RawSample]) -> dict[str, RawSample]:
    return {s.tag: s for s in samples}


async def test_the_emitted_file_reads_every_value_the_simulators_serve(tmp_path: Path) -> None:
    plant, path = await emitted(tmp_path)
    try:
        loaded = load_plant(path)
        for device in loaded.config.devices:
            sim = plant.devices[device.id].sim
            assert isinstance(sim, MappedPlc)
            sim.freeze()  # the image stops changing, so the read and sim.value() see the same instant
            async with driver_for(device) as drv:
                got = by_tag(await drv.read())
            for name, sample in got.items():
                assert sample.status == GOOD, (device.id, name)
                assert sample.value == pytest.approx(sim.value(name), rel=1e-6), (device.id, name)
    finally:
        await plant.__aexit__(None, None, None)


async def test_the_emitted_file_is_as_complete_as_the_demos(tmp_path: Path) -> None:
    plant, path = await emitted(tmp_path)
    await plant.__aexit__(None, None, None)
    config = load_plant(path).config
    assert [s.name for s in config.calendar.shifts] == ["D", "N"]
    for device in config.devices:
        assert device.state is not None and device.asset.type, device.id
    machines = {d.id: d for d in config.devices if d.id != "fx-01"}  # the meter has no parts
    assert all(d.counters and d.oee and d.oee.ideal_cycle_time for d in machines.values())


@pytest.mark.parametrize("kind", ["s7", "mc"])
async def test_faults_become_the_drivers_statuses(kind: str) -> None:
    clock = ManualClock()
    sim: MappedPlc = (S7Simulator if kind == "s7" else McSimulator)(profile="stacklight-plc", clock=clock)
    async with sim:
        device = (S7Device if kind == "s7" else McDevice).model_validate(_device(kind, sim.port))
        drv = driver_for(device)
        async with drv:
            assert all(s.status == GOOD for s in await drv.read())
            sim.set_bad(["parts_total"])  # a register of the word area
            got = by_tag(await drv.read())
            bad = BAD_NODE_ID_UNKNOWN if kind == "s7" else BAD_DEVICE_FAILURE  # the DB is gone / C05F
            assert got["parts_total"].status == bad and got["lamp_red"].status == GOOD
            sim.clear_bad()
            assert all(s.status == GOOD for s in await drv.read())
            await sim.stall()
            assert {s.status for s in await drv.read()} == {BAD_TIMEOUT}
            await sim.unstall()
            assert all(s.status == GOOD for s in await drv.read())  # reconnected by itself
            await sim.restart()
            got_after = await async_wait_for(_read_or_none(drv), 10, "a read after the restart")
            assert all(s.status == GOOD for s in got_after)
            assert drv.stats.reconnects >= 2


def _read_or_none(drv: S7Driver | McDriver):  # type: ignore[no-untyped-def]
    async def attempt() -> list[RawSample] | None:
        try:
            return await drv.read()
        except DeviceUnreachable:
            return None

    return attempt


def _device(kind: str, port: int) -> dict[str, object]:
    tags = [{"name": "lamp_red", "address": "M0.0" if kind == "s7" else "M0"},
            {"name": "parts_total", "address": "DB1.DBD2" if kind == "s7" else "D1",
             "type": "udint" if kind == "s7" else "uint32"}]  # fmt: skip
    return {"id": f"{kind}-01", "protocol": kind, "host": "127.0.0.1", "port": port, "timeout": "300ms",
            "tags": tags}  # fmt: skip


async def test_probe_plan_prints_the_requests_per_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from collector.cli import main

    plant, path = await emitted(tmp_path)
    try:
        code = await asyncio.to_thread(
            main, ["probe", "-c", str(path), "--plan", "--device", "s7-01", "--device", "mc-01"]
        )
    finally:
        await plant.__aexit__(None, None, None)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "16 tags → 1 requests per poll (PDU 480 bytes)" in out  # the stack light's 16 tags, merged
    assert "23 tags → 4 requests per poll (batch reads in word units)" in out  # D, W, M, X
