"""Faults on demand (drop, stall, restart, bad registers, freeze) observed from a Modbus TCP client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException

from simulators.modbus import PlcSimulator
from simulators.modbus.testing import ManualClock
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[PlcSimulator]:
    async with PlcSimulator(
        name="plc-f", profile="stacklight-plc", seed=3, clock=clock, update_interval=3600
    ) as s:
        yield s


class Client:
    """pymodbus client that records connect/disconnect events."""

    def __init__(self, port: int, timeout: float = 0.5) -> None:
        self.events: list[bool] = []
        self.modbus = AsyncModbusTcpClient(
            "127.0.0.1",
            port=port,
            timeout=timeout,
            retries=0,
            reconnect_delay=0.05,
            trace_connect=self.events.append,
        )

    async def __aenter__(self) -> Client:
        assert await self.modbus.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.modbus.close()

    async def read(self, address: int = 0, count: int = 3) -> list[int]:
        rr = await self.modbus.read_holding_registers(address, count=count, device_id=1)
        assert not rr.isError(), rr
        return list(rr.registers)

    async def read_ok(self) -> bool:
        try:
            await self.read()
        except ModbusException:  # timeout, or not (yet) reconnected
            return False
        return True


async def test_drop_connections_resets_clients_which_reconnect(sim: PlcSimulator) -> None:
    async with Client(sim.port) as c:
        await c.read()
        await async_wait_for(
            lambda: sim.connections, 5, "one connection at the simulator", until=lambda n: n == 1
        )
        await sim.drop_connections()
        assert sim.connections == 0
        await async_wait_for(lambda: False in c.events, 3, "the client to see the connection go")
        await async_wait_for(c.read_ok, 5, "answers again after reconnecting")
        assert c.events.count(True) >= 2


async def test_drop_connections_seen_on_a_raw_socket(sim: PlcSimulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        await async_wait_for(
            lambda: sim.connections, 5, "one connection at the simulator", until=lambda n: n == 1
        )
        await sim.drop_connections()
        async with asyncio.timeout(3):
            with contextlib.suppress(ConnectionResetError):  # an abort may surface as RST
                assert await reader.read(100) == b""
    finally:
        writer.close()


async def test_stall_accepts_but_never_answers_until_unstalled(sim: PlcSimulator) -> None:
    async with Client(sim.port, timeout=0.3) as c:
        await c.read()
        await sim.stall()
        assert sim.stalled
        with pytest.raises(ModbusIOException):
            await c.read()
        async with Client(sim.port, timeout=0.3) as fresh:  # new connections are still accepted
            assert fresh.modbus.connected
            with pytest.raises(ModbusIOException):
                await fresh.read()
        await sim.unstall()
        await async_wait_for(c.read_ok, 5, "an answer to a read")


async def test_timed_stall_ends_by_itself(sim: PlcSimulator) -> None:
    async with Client(sim.port, timeout=0.2) as c:
        await sim.stall(0.5)
        t0 = time.monotonic()
        assert not await c.read_ok()
        await async_wait_for(c.read_ok, 5, "an answer to a read")
        assert time.monotonic() - t0 >= 0.4


async def test_restart_keeps_the_port_and_clients_reconnect(sim: PlcSimulator) -> None:
    port = sim.port
    async with Client(port) as c:
        before = await c.read()
        await sim.restart()
        assert sim.port == port
        await async_wait_for(lambda: False in c.events, 3, "the client to see the connection go")
        await async_wait_for(c.read_ok, 5, "an answer to a read")
        assert await c.read() == before


async def test_bad_registers_answer_slave_device_failure(sim: PlcSimulator) -> None:
    async with Client(sim.port) as c:
        sim.set_bad(["parts_total"])  # holding registers 1-2
        assert sim.status()["units"][1]["bad"] == ["parts_total"]
        rr = await c.modbus.read_holding_registers(0, count=3, device_id=1)
        assert rr.isError() and rr.exception_code == 4
        rr = await c.modbus.read_holding_registers(2, count=1, device_id=1)
        assert rr.isError() and rr.exception_code == 4
        await c.read(0, 1)  # parts_count16 is fine
        await c.read(3, 3)
        assert not (await c.modbus.read_coils(0, count=5, device_id=1)).isError()
        sim.set_bad(None)  # every register
        assert (await c.modbus.read_coils(0, count=1, device_id=1)).exception_code == 4
        sim.clear_bad()
        await c.read(0, 3)
        assert not (await c.modbus.read_coils(0, count=5, device_id=1)).isError()


async def test_freeze_keeps_values_while_the_machine_runs(sim: PlcSimulator, clock: ManualClock) -> None:
    async with Client(sim.port) as c:
        sim.freeze(True)
        frozen = await c.read(0, 8)
        for _ in range(12):
            clock.advance(900)
            await sim.step()
        assert await c.read(0, 8) == frozen
        assert sim.device().machine.snapshot.parts_total > frozen[0]  # the model kept producing
        sim.freeze(False)
        thawed = await c.read(0, 8)
        assert thawed != frozen
        assert thawed[0] == sim.device().machine.snapshot.parts_total == sim.value("parts_count16")
