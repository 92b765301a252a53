"""ModbusDriver on shared lines: RTU over TCP (a serial device server) and RTU on a socat pty pair."""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from collector.config.modbus import ModbusRtuDevice, ModbusRtuOverTcpDevice
from drivers.base import DeviceUnreachable, RawSample
from drivers.modbus import Backoff, BusRegistry, ModbusDriver, QuarantinePolicy
from drivers.status import BAD_TIMEOUT, GOOD
from simulators.modbus import PlcBusSimulator, Quirks, UnitSpec, load_profile
from simulators.modbus.testing import ManualClock, socat_pty_pair

pytestmark = pytest.mark.integration

UNITS: dict[int, str | UnitSpec] = {
    1: "stacklight-plc",
    2: UnitSpec("energy-meter", byte_order="CDAB"),
    3: "injection-molding",
}
ORDERS = {2: "CDAB"}


def unit_tags(unit: int) -> list[dict[str, Any]]:
    spec = UNITS[unit]
    profile = spec.profile if isinstance(spec, UnitSpec) else spec
    assert isinstance(profile, str)
    tags = []
    for reg in load_profile(profile).registers:
        tag: dict[str, Any] = {
            "name": reg.name,
            "address": {"table": reg.table.value, "offset": reg.address},
            "type": reg.type,
        }
        if reg.scale != 1:
            tag["scale"] = reg.scale
        if reg.words > 1 and unit in ORDERS:
            tag["byte_order"] = ORDERS[unit]
        tags.append(tag)
    return tags


def gateway_device(port: int, unit: int, timeout: str = "500ms") -> ModbusRtuOverTcpDevice:
    return ModbusRtuOverTcpDevice.model_validate(
        {
            "id": f"unit-{unit}",
            "protocol": "modbus_rtu_over_tcp",
            "host": "127.0.0.1",
            "port": port,
            "unit_id": unit,
            "timeout": timeout,
            "retries": 1,
            "tags": unit_tags(unit),
        }
    )


def assert_matches(bus: PlcBusSimulator, unit: int, samples: list[RawSample]) -> None:
    for s in samples:
        assert s.status == GOOD, (unit, s)
        assert s.value == bus.value(s.tag, unit=unit), (unit, s)


async def test_rtu_over_tcp_units_share_one_connection_and_read_correct_values() -> None:
    async with PlcBusSimulator(units=UNITS, transport="rtu-over-tcp", clock=ManualClock()) as bus:
        registry = BusRegistry()
        drivers = [ModbusDriver(gateway_device(bus.port, unit).driver_options(), registry) for unit in UNITS]
        assert len(registry.buses()) == 1
        for drv in drivers:
            await drv.__aenter__()
        try:
            for unit, drv in zip(UNITS, drivers, strict=True):
                assert_matches(bus, unit, await drv.read())
            assert registry.buses()[0].stats.connects == 1
        finally:
            for drv in drivers:
                await drv.__aexit__(None, None, None)
        assert not registry.buses()[0].connected


async def poll(drv: ModbusDriver) -> list[RawSample] | None:
    try:
        return await drv.read()
    except DeviceUnreachable:
        return None


async def test_a_dead_unit_is_quarantined_and_costs_the_others_one_timeout_per_period() -> None:
    policy = QuarantinePolicy(after=3, base_s=0.4, cap_s=0.8)
    async with PlcBusSimulator(units=UNITS, transport="rtu-over-tcp", quirks=Quirks(dead_units={3})) as bus:
        registry = BusRegistry(policy)
        # The live units get a timeout no loaded test machine reaches, so a timeout on them can only be
        # the dead unit's cost; the dead unit's short one keeps the run short.
        live = {u: ModbusDriver(gateway_device(bus.port, u, "2s").driver_options(), registry) for u in (1, 2)}
        dead = ModbusDriver(gateway_device(bus.port, 3, "150ms").driver_options(), registry)
        line = registry.buses()[0]
        async with live[1], live[2], dead:
            first = await dead.read()
            assert {(s.value, s.status) for s in first} == {(None, BAD_TIMEOUT)}

            started, unreachable, cycles = time.monotonic(), 0, 0
            while time.monotonic() - started < 3.0:
                for unit, drv in live.items():
                    samples = await drv.read()
                    assert {s.status for s in samples} == {GOOD}, unit
                samples = await poll(dead)
                unreachable += samples is None
                cycles += 1
            window = time.monotonic() - started

        assert unreachable > 0 and cycles > unreachable  # skipped at once, probed now and then
        health = line.health(3)
        assert health.quarantines == 1
        # Before quarantine: `after` timeouts. Then at most one probe per period (which only grows).
        assert health.timeouts <= policy.after + window / policy.base_s + 1
        assert line.health(1).timeouts == 0 and line.health(2).timeouts == 0


def require_socat() -> None:
    if shutil.which("socat") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("socat binary not found")
        pytest.skip("socat binary not found")


@pytest.fixture
async def pty_pair() -> AsyncIterator[tuple[str, str]]:
    require_socat()
    async with socat_pty_pair() as pair:
        yield pair


def serial_device(path: str, unit: int) -> ModbusRtuDevice:
    return ModbusRtuDevice.model_validate(
        {
            "id": f"rtu-{unit}",
            "protocol": "modbus_rtu",
            "serial": {"port": path, "baudrate": 19200},
            "unit_id": unit,
            "timeout": "1s",
            "tags": unit_tags(unit),
        }
    )


async def test_rtu_on_a_serial_line_reads_correct_values(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    units = {1: UNITS[1], 2: UNITS[2]}
    clock = ManualClock()
    async with PlcBusSimulator(units=units, serial_port=server_end, baudrate=19200, clock=clock) as bus:
        registry = BusRegistry()
        meter = ModbusDriver(serial_device(client_end, 2).driver_options(), registry)
        plc = ModbusDriver(serial_device(client_end, 1).driver_options(), registry)
        assert len(registry.buses()) == 1
        async with meter, plc:
            for _ in range(2):
                assert_matches(bus, 2, await meter.read())
                assert_matches(bus, 1, await plc.read())


def test_backoff_doubles_to_its_cap_with_jitter_below_each_step() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    backoff.reset()
    assert backoff.step == 1.0 and backoff.failures == 0
