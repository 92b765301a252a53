"""PLC simulator over Modbus TCP: values, byte orders and device quirks seen by pymodbus's client."""

from __future__ import annotations

import asyncio
import re
import struct
import time
from collections.abc import AsyncIterator, Sequence
from typing import Literal

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ModbusPDU

from simulators.machine import MachineModel
from simulators.modbus import PlcSimulator, Quirks, load_profile
from simulators.modbus.cli import run_plc
from simulators.modbus.device import machine_profile
from simulators.modbus.testing import ManualClock
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def connect(sim: PlcSimulator, timeout: float = 1.0) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=timeout, retries=0)
    assert await client.connect()
    return client


@pytest.fixture
async def stacklight(clock: ManualClock) -> AsyncIterator[PlcSimulator]:
    # update_interval is huge so only explicit step() calls change values: exact assertions.
    async with PlcSimulator(
        name="plc-01", profile="stacklight-plc", seed=7, clock=clock, update_interval=3600
    ) as sim:
        yield sim


async def run_for(sim: PlcSimulator, clock: ManualClock, seconds: float, step: float = 300.0) -> None:
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(min(step, end - clock.now()))
        await sim.step()


def u32(regs: Sequence[int]) -> int:
    return (regs[0] << 16) | regs[1]


def expected_parts(profile: str, seed: int, t: float) -> int:
    model = MachineModel(machine_profile(load_profile(profile).machine), seed=seed, start=T0)
    model.advance_to(t)
    return model.snapshot.parts_total


def check_exception(resp: ModbusPDU, code: int) -> None:
    assert resp.isError(), f"expected exception {code}, got {resp}"
    assert resp.exception_code == code


async def test_endpoint_and_port(stacklight: PlcSimulator) -> None:
    assert stacklight.port > 0
    assert stacklight.endpoint == f"tcp://127.0.0.1:{stacklight.port}"


async def test_part_counters_match_model_after_simulated_hours(
    stacklight: PlcSimulator, clock: ManualClock
) -> None:
    await run_for(stacklight, clock, 3 * 3600)
    want = expected_parts("stacklight-plc", 7, clock.now())
    assert want > 20, "the model should have produced parts in 3 h"
    client = await connect(stacklight)
    try:
        rr = await client.read_holding_registers(0, count=3, device_id=1)
        assert not rr.isError()
        assert rr.registers[0] == want == stacklight.value("parts_count16")
        assert u32(rr.registers[1:3]) == want == stacklight.value("parts_total")
        bits = await client.read_coils(0, count=5, device_id=1)
        lamps = bits.bits[:5]
        assert lamps == [
            bool(stacklight.value(n))
            for n in ("lamp_red", "lamp_yellow", "lamp_green", "run_bit", "alarm_bit")
        ]
        assert sum(lamps[:3]) <= 1, "at most one stack-light lamp is lit"
    finally:
        client.close()


async def test_uint16_counter_rolls_over(clock: ManualClock) -> None:
    quirks = Quirks(counter_start=65530)
    async with PlcSimulator(
        profile="stacklight-plc", seed=7, clock=clock, update_interval=3600, quirks=quirks
    ) as sim:
        client = await connect(sim)
        try:
            rr = await client.read_holding_registers(0, count=3, device_id=1)
            assert rr.registers[0] == 65530
            await run_for(sim, clock, 3 * 3600)
            parts = expected_parts("stacklight-plc", 7, clock.now())
            assert parts > 6
            rr = await client.read_holding_registers(0, count=3, device_id=1)
            assert rr.registers[0] == (65530 + parts) % 65536 < 65530  # wrapped to a small value
            assert u32(rr.registers[1:3]) == 65530 + parts  # the 32-bit counter did not wrap
            assert sim.value("parts_count16") == rr.registers[0]
        finally:
            client.close()


def decode_float(regs: Sequence[int], order: str) -> float:
    """Independent decoder: rebuild the ABCD byte string from the wire words."""
    raw = struct.pack(">HH", *regs)
    perm = {"ABCD": (0, 1, 2, 3), "BADC": (1, 0, 3, 2), "CDAB": (2, 3, 0, 1), "DCBA": (3, 2, 1, 0)}[order]
    value: float = struct.unpack(">f", bytes(raw[i] for i in perm))[0]
    return value


@pytest.mark.parametrize("order", ["ABCD", "BADC", "CDAB", "DCBA"])
async def test_float32_decodes_only_with_the_right_byte_order(order: str, clock: ManualClock) -> None:
    async with PlcSimulator(
        profile="energy-meter", byte_order=order, clock=clock, update_interval=3600
    ) as sim:
        client = await connect(sim)
        try:
            rr = await client.read_holding_registers(0, count=2, device_id=1)
            served = sim.value("voltage")
            assert 225.0 < served < 235.0
            for candidate in ("ABCD", "BADC", "CDAB", "DCBA"):
                decoded = decode_float(rr.registers, candidate)
                if candidate == order:
                    assert decoded == served
                else:
                    assert not 200.0 < decoded < 260.0, f"{candidate} should not decode {order} data"
            if order in ("ABCD", "CDAB"):  # the two orders pymodbus itself understands
                word_order: Literal["big", "little"] = "big" if order == "ABCD" else "little"
                dt = client.DATATYPE.FLOAT32
                assert client.convert_from_registers(rr.registers, dt, word_order=word_order) == served
        finally:
            client.close()


async def test_energy_meter_values_and_device_clock_skew(clock: ManualClock) -> None:
    async with PlcSimulator(profile="energy-meter", clock=clock, update_interval=3600) as sim:
        await run_for(sim, clock, 1800)
        client = await connect(sim)
        try:
            rr = await client.read_holding_registers(0, count=8, device_id=1)
            names = ("voltage", "current", "power", "energy_kwh")
            for i, name in enumerate(names):
                assert decode_float(rr.registers[2 * i : 2 * i + 2], "ABCD") == sim.value(name)
            ir = await client.read_input_registers(0, count=2, device_id=1)
            assert decode_float(ir.registers, "ABCD") == sim.value("voltage")
            assert sim.value("energy_kwh") > 12873.4  # integrated some energy
            rr = await client.read_holding_registers(20, count=2, device_id=1)
            assert u32(rr.registers) == int(clock.now())
            sim.skew_clock(-3600)
            rr = await client.read_holding_registers(20, count=2, device_id=1)
            assert u32(rr.registers) == int(clock.now()) - 3600 == sim.value("device_time")
        finally:
            client.close()


async def test_injection_molding_scaled_temperatures_and_setpoint_write(clock: ManualClock) -> None:
    async with PlcSimulator(profile="injection-molding", clock=clock, update_interval=3600) as sim:
        await run_for(sim, clock, 2 * 3600, step=60)
        client = await connect(sim)
        try:
            rr = await client.read_holding_registers(10, count=5, device_id=1)
            temps = [struct.unpack(">h", struct.pack(">H", r))[0] for r in rr.registers]
            for i, raw in enumerate(temps[:4]):
                assert raw * 0.1 == pytest.approx(sim.value(f"barrel_temp_{i + 1}"))
            assert 200.0 < sim.value("barrel_temp_1") < 216.0  # heated toward its 215 °C setpoint
            wr = await client.write_register(20, 1800, device_id=1)  # zone 1 setpoint 180.0 °C
            assert not wr.isError()
            assert sim.value("zone1_setpoint") == pytest.approx(180.0)
            before = sim.value("barrel_temp_1")
            await run_for(sim, clock, 3600, step=60)
            assert sim.value("barrel_temp_1") < before - 10  # cooling toward the new setpoint
            rr = await client.read_holding_registers(20, count=1, device_id=1)
            assert rr.registers == [1800]
            bits = await client.read_coils(0, count=4, device_id=1)
            assert bits.bits[:2] == [bool(sim.value("cycle_bit")), bool(sim.value("mold_closed"))]
            word = (await client.read_holding_registers(9, count=1, device_id=1)).registers[0]
            di = (await client.read_discrete_inputs(0, count=3, device_id=1)).bits
            assert word == sim.value("status_word")
            assert [bool(word >> i & 1) for i in (0, 3)] == [di[0], di[2]]  # powered, door closed
            assert bool(word >> 1 & 1) == bool(sim.value("run_bit"))
        finally:
            client.close()


async def test_writes_only_to_writable_registers(stacklight: PlcSimulator) -> None:
    client = await connect(stacklight)
    try:
        assert not (await client.write_register(20, 512, device_id=1)).isError()
        assert stacklight.value("shift_target") == 512
        assert (await client.read_holding_registers(20, count=1, device_id=1)).registers == [512]
        check_exception(await client.write_register(1, 5, device_id=1), 2)  # counter is read-only
        check_exception(await client.write_registers(20, [1, 2], device_id=1), 2)  # 21 unmapped
        assert not (await client.write_coil(8, True, device_id=1)).isError()
        assert stacklight.value("horn_mute") == 1
        check_exception(await client.write_coil(0, True, device_id=1), 2)  # lamp is an output of the PLC
        check_exception(await client.write_coils(8, [True, False], device_id=1), 2)
    finally:
        client.close()


async def test_address_base_one_shifts_the_map(clock: ManualClock) -> None:
    quirks = Quirks(address_base=1)
    async with PlcSimulator(
        profile="stacklight-plc", seed=7, clock=clock, update_interval=3600, quirks=quirks
    ) as sim:
        await run_for(sim, clock, 3 * 3600)
        client = await connect(sim)
        try:
            check_exception(await client.read_holding_registers(0, count=1, device_id=1), 2)
            rr = await client.read_holding_registers(1, count=3, device_id=1)
            assert rr.registers[0] == sim.value("parts_count16") > 0
            assert u32(rr.registers[1:3]) == sim.value("parts_total")
            bits = await client.read_coils(1, count=3, device_id=1)
            assert bits.bits[:3] == [bool(sim.value(n)) for n in ("lamp_red", "lamp_yellow", "lamp_green")]
        finally:
            client.close()


async def test_max_registers_and_max_bits(clock: ManualClock) -> None:
    quirks = Quirks(max_registers=4, max_bits=3)
    async with PlcSimulator(
        profile="stacklight-plc", clock=clock, update_interval=3600, quirks=quirks
    ) as sim:
        client = await connect(sim)
        try:
            assert not (await client.read_holding_registers(0, count=4, device_id=1)).isError()
            check_exception(await client.read_holding_registers(0, count=5, device_id=1), 3)
            assert not (await client.read_coils(0, count=3, device_id=1)).isError()
            check_exception(await client.read_coils(0, count=4, device_id=1), 3)
        finally:
            client.close()


async def test_holes_and_reads_outside_the_map(clock: ManualClock) -> None:
    quirks = Quirks(holes=(("holding_register", 12, 15),))
    async with PlcSimulator(profile="energy-meter", clock=clock, update_interval=3600, quirks=quirks) as sim:
        client = await connect(sim)
        try:
            assert not (await client.read_holding_registers(0, count=12, device_id=1)).isError()
            check_exception(await client.read_holding_registers(0, count=13, device_id=1), 2)
            check_exception(await client.read_holding_registers(14, count=1, device_id=1), 2)
            assert not (await client.read_holding_registers(16, count=6, device_id=1)).isError()
            check_exception(await client.read_holding_registers(30, count=2, device_id=1), 2)  # past the end
            check_exception(await client.read_holding_registers(500, count=1, device_id=1), 2)
            check_exception(await client.read_coils(0, count=1, device_id=1), 2)  # no coils at all
            check_exception(await client.read_input_registers(6, count=4, device_id=1), 2)
        finally:
            client.close()


async def test_busy_every_nth_request(clock: ManualClock) -> None:
    async with PlcSimulator(clock=clock, update_interval=3600, quirks=Quirks(busy_every=3)) as sim:
        client = await connect(sim)
        try:
            codes = []
            for _ in range(6):
                rr = await client.read_holding_registers(0, count=1, device_id=1)
                codes.append(rr.exception_code if rr.isError() else 0)
            assert codes == [0, 0, 6, 0, 0, 6]
        finally:
            client.close()


async def test_busy_probability_is_seeded(clock: ManualClock) -> None:
    async with PlcSimulator(clock=clock, update_interval=3600, quirks=Quirks(busy_probability=0.5)) as sim:
        client = await connect(sim)
        try:
            results = [
                (await client.read_holding_registers(0, count=1, device_id=1)).isError() for _ in range(40)
            ]
            assert 5 < sum(results) < 35
        finally:
            client.close()


async def test_slow_answers_are_measurable(clock: ManualClock) -> None:
    async with PlcSimulator(clock=clock, update_interval=3600, quirks=Quirks(delay_s=0.3)) as slow:
        client = await connect(slow, timeout=2.0)
        try:
            t0 = time.monotonic()
            rr = await client.read_holding_registers(0, count=3, device_id=1)
            elapsed = time.monotonic() - t0
            assert not rr.isError()
        finally:
            client.close()
    # a lower bound the simulator enforces (it waits before answering), not a speed requirement
    assert elapsed >= 0.3


async def test_unknown_unit_id_gets_no_answer(stacklight: PlcSimulator) -> None:
    client = await connect(stacklight, timeout=0.3)
    try:
        with pytest.raises(Exception, match="No response"):
            await client.read_holding_registers(0, count=1, device_id=9)
        assert not (await client.read_holding_registers(0, count=1, device_id=1)).isError()
    finally:
        client.close()


async def test_real_clock_updates_in_background() -> None:
    # time_scale 3600: one real second is an hour of machine time, so counters move quickly.
    async with PlcSimulator(profile="stacklight-plc", time_scale=3600, update_interval=0.05) as sim:
        first = sim.value("power_on_s")
        client = await connect(sim)

        async def power_on_s() -> int:
            rr = await client.read_input_registers(0, count=2, device_id=1)
            return u32(rr.registers)

        try:
            await async_wait_for(
                power_on_s, 5, f"the power_on_s register to pass {first + 60}", until=lambda s: s > first + 60
            )
        finally:
            client.close()


async def test_cli_run_plc_prints_endpoint_and_serves(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(
        run_plc("plc-cli", "127.0.0.1", 0, "energy-meter", 1, 1.0, 1.0, "tcp", byte_order="CDAB", unit_id=5)
    )
    out: list[str] = []

    def printed() -> bool:
        out.append(capsys.readouterr().out)
        return "tcp://" in "".join(out)

    try:
        await async_wait_for(printed, 5, "the simulator to print its endpoint")
        match = re.search(r"tcp://127\.0\.0\.1:(\d+)", "".join(out))
        assert match
        client = AsyncModbusTcpClient("127.0.0.1", port=int(match.group(1)), timeout=1, retries=0)
        assert await client.connect()
        try:
            rr = await client.read_holding_registers(0, count=2, device_id=5)
            assert 225 < decode_float(rr.registers, "CDAB") < 235
        finally:
            client.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
