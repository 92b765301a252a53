"""RTU on a serial line (socat pty pair) and RTU over TCP, including a shared bus with a dead unit."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from simulators.modbus import PlcBusSimulator, PlcSimulator, Quirks, UnitSpec
from simulators.modbus.framing import with_crc
from simulators.modbus.testing import ManualClock, socat_pty_pair

pytestmark = pytest.mark.integration

BUS_UNITS: dict[int, str | UnitSpec] = {
    1: "stacklight-plc",
    2: UnitSpec("energy-meter", byte_order="CDAB"),
    3: "injection-molding",
    4: UnitSpec("energy-meter", quirks=Quirks(address_base=1, delay_s=0.2)),
}


def require_binary(name: str) -> None:
    """In CI a missing tool is a failure (the image must provide it); locally just skip."""
    if shutil.which(name) is None:
        msg = f"{name} binary not found (Debian package '{name}')"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture
async def pty_pair() -> AsyncIterator[tuple[str, str]]:
    require_binary("socat")
    async with socat_pty_pair() as pair:
        yield pair


def f32_cdab(regs: Sequence[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", regs[1], regs[0]))[0]
    return value


async def test_rtu_serial_single_device(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    clock = ManualClock()
    async with PlcSimulator(
        profile="energy-meter",
        transport="rtu",
        serial_port=server_end,
        baudrate=9600,
        clock=clock,
        update_interval=3600,
    ) as sim:
        assert sim.endpoint == f"rtu://{server_end}"
        client = AsyncModbusSerialClient(client_end, baudrate=9600, timeout=1, retries=0)
        assert await client.connect()
        try:
            rr = await client.read_holding_registers(0, count=2, device_id=1)
            value = client.convert_from_registers(rr.registers, client.DATATYPE.FLOAT32)
            assert value == sim.value("voltage")
            clock.advance(600)
            await sim.step()
            rr = await client.read_holding_registers(20, count=2, device_id=1)
            assert (rr.registers[0] << 16 | rr.registers[1]) == int(clock.now())
            assert not (await client.write_register(30, 200, device_id=1)).isError()
            assert sim.value("ct_ratio") == 200
            exc = await client.read_holding_registers(100, count=2, device_id=1)
            assert exc.isError() and exc.exception_code == 2
        finally:
            client.close()


async def test_shared_rtu_bus_dead_unit_times_out_others_answer(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    async with PlcBusSimulator(
        units=BUS_UNITS, serial_port=server_end, baudrate=19200, quirks=Quirks(dead_units={3})
    ) as bus:
        client = AsyncModbusSerialClient(client_end, baudrate=19200, timeout=0.4, retries=0)
        assert await client.connect()
        try:
            for _ in range(2):  # the line keeps working after the dead unit's timeout
                rr = await client.read_holding_registers(0, count=3, device_id=1)
                assert rr.registers[0] == bus.value("parts_count16", unit=1)
                t0 = time.monotonic()
                with pytest.raises(ModbusIOException):
                    await client.read_holding_registers(0, count=2, device_id=3)
                assert time.monotonic() - t0 >= 0.35
                rr = await client.read_holding_registers(0, count=2, device_id=2)
                assert f32_cdab(rr.registers) == bus.value("voltage", unit=2)
                # unit 4: 1-based map and slow; its voltage sits at wire address 1
                t0 = time.monotonic()
                rr = await client.read_holding_registers(1, count=2, device_id=4)
                assert time.monotonic() - t0 >= 0.2
                assert client.convert_from_registers(rr.registers, client.DATATYPE.FLOAT32) == bus.value(
                    "voltage", unit=4
                )
            with pytest.raises(ModbusIOException):  # a unit id nobody serves is silent too
                await client.read_holding_registers(0, count=1, device_id=9)
        finally:
            client.close()


async def test_rtu_serial_restart_reopens_the_line(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    async with PlcSimulator(profile="stacklight-plc", transport="rtu", serial_port=server_end) as sim:
        client = AsyncModbusSerialClient(client_end, baudrate=19200, timeout=0.5, retries=0)
        assert await client.connect()
        try:
            assert not (await client.read_holding_registers(0, count=1, device_id=1)).isError()
            await sim.restart()
            assert not (await client.read_holding_registers(0, count=1, device_id=1)).isError()
            await sim.stall()
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=1)
            await sim.unstall()
            assert not (await client.read_holding_registers(0, count=1, device_id=1)).isError()
        finally:
            client.close()


async def test_rtu_over_tcp_bus() -> None:
    async with PlcBusSimulator(
        units=BUS_UNITS, transport="rtu-over-tcp", quirks=Quirks(dead_units={3})
    ) as bus:
        assert bus.endpoint == f"rtu-over-tcp://127.0.0.1:{bus.port}"
        client = AsyncModbusTcpClient(
            "127.0.0.1", port=bus.port, framer=FramerType.RTU, timeout=0.4, retries=0
        )
        assert await client.connect()
        try:
            rr = await client.read_holding_registers(0, count=2, device_id=2)
            assert f32_cdab(rr.registers) == bus.value("voltage", unit=2)
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=2, device_id=3)
            rr = await client.read_holding_registers(1, count=2, device_id=1)
            assert (rr.registers[0] << 16 | rr.registers[1]) == bus.value("parts_total", unit=1)
            bits = await client.read_coils(0, count=4, device_id=1)
            assert bits.bits[2] == bool(bus.value("lamp_green", unit=1))
            bus.set_bad(["voltage"], unit=2)
            rr = await client.read_holding_registers(0, count=2, device_id=2)
            assert rr.isError() and rr.exception_code == 4
            assert not (await client.read_holding_registers(0, count=2, device_id=1)).isError()
        finally:
            client.close()


async def test_rtu_over_tcp_ignores_frames_with_bad_crc() -> None:
    async with PlcSimulator(profile="stacklight-plc", transport="rtu-over-tcp") as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        try:
            good = with_crc(bytes([1, 3, 0, 0, 0, 1]))
            writer.write(good[:-1] + bytes([good[-1] ^ 0xFF]))  # corrupted CRC: no answer
            writer.write(good)  # the next good frame is answered
            async with asyncio.timeout(2):
                resp = await reader.readexactly(7)
            assert resp[:3] == bytes([1, 3, 2])
            assert with_crc(resp[:5]) == resp
        finally:
            writer.close()
