"""The OPC UA driver against the CNC simulator on 127.0.0.1: values, modes, reconnects, Bad nodes.

Simulated time is injected and the simulator's update loop is off: every value the driver reports
is compared with what the simulator's address space holds after `await sim.step()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers import status
from drivers.opcua.driver import OpcUaDriver
from simulators.opcua import CncSimulator
from tests.support.net import async_wait_for
from tests.support.opcua import (
    PATHS,
    START,
    EngineLike,
    FakeTime,
    as_dict,
    device,
    expected,
    running,
    simulator,
    tag_name,
)

pytestmark = pytest.mark.integration

BAD_NO_MATCH = 0x806F0000


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def sim(ft: FakeTime) -> AsyncIterator[CncSimulator]:
    async with simulator(ft) as s:
        yield s


async def _values_follow(sim: CncSimulator, ft: FakeTime, driver: OpcUaDriver) -> None:
    for offset in (10, 101, 221, 281):
        ft.at(offset)
        await sim.step()
        want = await expected(sim, PATHS)
        await async_wait_for(
            lambda: read_values(driver),
            10,
            f"the simulator's values at +{offset} s {want}",
            until=want.__eq__,
        )


async def read_values(driver: OpcUaDriver) -> dict[str, tuple[Any, int]]:
    return as_dict(await driver.read())


@pytest.mark.parametrize("mode", ["subscribe", "poll"])
async def test_values_equal_the_simulators(sim: CncSimulator, ft: FakeTime, mode: str) -> None:
    async with OpcUaDriver(device(sim, mode=mode).driver_options()) as driver:
        await _values_follow(sim, ft, driver)
        samples = await driver.read()
    assert all(status.is_good(s.status) for s in samples)
    # Both server timestamps in ms, taken from the simulator's (injected) wall clock.
    assert all(START * 1000 < (s.source_ts or 0) <= ft.wall * 1000 for s in samples)
    assert all(START * 1000 < (s.server_ts or 0) <= ft.wall * 1000 for s in samples)


async def test_source_timestamp_is_the_servers(sim: CncSimulator, ft: FakeTime) -> None:
    path = "Production/Statistics/PartsProducedInLifetime"
    async with OpcUaDriver(device(sim, paths=[path], mode="poll").driver_options()) as driver:
        ft.at(101)
        await sim.step()
        ft.at(161)
        wall_at_write = ft.wall
        await sim.step()  # first part completes: the counter changes and is written with this wall time
        (sample,) = await driver.read()
    assert sample.value == 1
    assert sample.source_ts == int(wall_at_write * 1000)


async def test_mixed_modes_per_tag(sim: CncSimulator, ft: FakeTime) -> None:
    paths = PATHS[:6]
    extra = [
        {
            "name": "polled_speed",
            "node": f"m:Machines/{sim.name}/Monitoring/Spindle/ActualSpeed",
            "mode": "poll",
        }
    ]
    async with OpcUaDriver(device(sim, paths=paths, extra_tags=extra).driver_options()) as driver:
        ft.at(101)
        await sim.step()
        want = await expected(sim, [*paths, "Monitoring/Spindle/ActualSpeed"])
        want["polled_speed"] = want.pop(tag_name("Monitoring/Spindle/ActualSpeed"))

        await async_wait_for(
            lambda: read_values(driver), 10, f"the simulator's values {want}", until=lambda got: got == want
        )
        assert driver.read_calls >= 1 and driver._subs is not None and len(driver._subs.feeds) == 1


@pytest.mark.parametrize("mode", ["subscribe", "poll"])
async def test_bad_and_unknown_nodes_leave_the_others_alone(
    sim: CncSimulator, ft: FakeTime, mode: str
) -> None:
    bad_path = "Monitoring/Spindle/ActualSpeed"
    extra = [
        {"name": "missing_path", "node": f"m:Machines/{sim.name}/Monitoring/NoSuchThing"},
        {"name": "missing_id", "node": "ns=2;s=does-not-exist"},
        {"name": "missing_ns", "node": "nsu=urn:nobody;s=x"},
    ]
    sim.set_bad([bad_path])
    ft.at(101)
    await sim.step()
    async with OpcUaDriver(device(sim, extra_tags=extra, mode=mode).driver_options()) as driver:
        want = await expected(sim, PATHS)

        await async_wait_for(
            lambda: read_values(driver),
            10,
            f"the simulator's values {want} beside the bad nodes",
            until=lambda got: all(got[k] == v for k, v in want.items()),
        )
        got = {s.tag: s for s in await driver.read()}
    assert got[tag_name(bad_path)].status == status.BAD_SENSOR_FAILURE
    assert got[tag_name(bad_path)].value is None
    assert got["missing_path"].status == BAD_NO_MATCH
    assert got["missing_id"].status == status.BAD_NODE_ID_UNKNOWN
    assert got["missing_ns"].status == status.BAD_NODE_ID_UNKNOWN
    good = [
        s for t, s in got.items() if t not in (tag_name(bad_path), "missing_path", "missing_id", "missing_ns")
    ]
    assert len(good) == len(PATHS) - 1 and all(status.is_good(s.status) for s in good)


@pytest.mark.parametrize("mode", ["subscribe", "poll"])
async def test_restart_with_renumbered_namespaces(sim: CncSimulator, ft: FakeTime, mode: str) -> None:
    engine = EngineLike(lambda: OpcUaDriver(device(sim, mode=mode).driver_options()))
    async with running(engine):
        ft.at(101)
        await sim.step()
        want = await expected(sim, PATHS)
        await async_wait_for(engine.values, 15, "first values", until=want.__eq__)
        old_index = sim.namespace_index
        await sim.restart(renumber_namespaces=True)
        assert sim.namespace_index != old_index
        ft.at(221)
        await sim.step()
        want = await expected(sim, PATHS)
        await async_wait_for(engine.values, 15, "values after the restart", until=want.__eq__)
    assert engine.entered >= 2 and engine.unreachable


@pytest.mark.parametrize("mode", ["subscribe", "poll"])
async def test_stalled_server_detected_and_recovered(sim: CncSimulator, ft: FakeTime, mode: str) -> None:
    engine = EngineLike(lambda: OpcUaDriver(device(sim, mode=mode, watchdog="1s").driver_options()))
    async with running(engine):
        ft.at(101)
        await sim.step()
        want = await expected(sim, PATHS)
        await async_wait_for(engine.values, 15, "first values", until=want.__eq__)
        await sim.stall()
        # The watchdog (1s) notices a silent server; without it only the session timeout (60s) would.
        await async_wait_for(lambda: bool(engine.unreachable), 15.0, "stall detected")
        await sim.unstall()
        ft.at(221)
        await sim.step()
        want = await expected(sim, PATHS)
        await async_wait_for(engine.values, 15, "values after unstall", until=want.__eq__)
    assert engine.entered >= 2


async def test_absolute_deadband_filters_on_the_server(sim: CncSimulator, ft: FakeTime) -> None:
    node = f"m:Machines/{sim.name}/Monitoring/Spindle/ActualSpeed"
    extra = [
        {"name": "speed", "node": node},
        {"name": "speed_deadband", "node": node, "deadband": {"type": "absolute", "value": 1e9}},
    ]
    ft.at(10)  # setup: spindle stopped
    await sim.step()
    async with OpcUaDriver(device(sim, paths=[], extra_tags=extra).driver_options()) as driver:
        first = await async_wait_for(
            driver.read, 15, "Good values", until=lambda s: all(status.is_good(x.status) for x in s)
        )
        assert [s.value for s in first] == [0.0, 0.0]
        ft.at(101)  # running: the speed jumps, by far less than the deadband
        await sim.step()
        speed = (await expected(sim, ["Monitoring/Spindle/ActualSpeed"]))[
            tag_name("Monitoring/Spindle/ActualSpeed")
        ]
        later = await async_wait_for(
            driver.read, 15, f"the speed {speed[0]}", until=lambda s: s[0].value == speed[0]
        )
    # Both items sit in one subscription and one publish: the filtered one did not come with it.
    assert speed[0] != 0.0 and later[1].value == 0.0
