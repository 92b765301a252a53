"""ModbusDriver over Modbus TCP against the PLC simulator: values, holes, limits, busy, slow, faults."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from collector.config.modbus import ModbusTcpDevice
from drivers.base import DeviceBusy, DeviceUnreachable, RawSample
from drivers.modbus import BusRegistry, ModbusDriver, WriteRefused
from drivers.status import (
    BAD_COMMUNICATION_ERROR,
    BAD_NOT_READABLE,
    BAD_TIMEOUT,
    GOOD,
)
from simulators.modbus import PlcSimulator, Quirks, load_profile
from simulators.modbus.testing import ManualClock
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration


def profile_tags(profile: str, writable: bool = False, order: str | None = None) -> list[dict[str, Any]]:
    """The profile's registers as config tags (table + 0-based offset), like an integrator would write.

    `order` goes on the 32/64-bit tags only: the decoder applies a byte swap (BADC, DCBA) to 16-bit
    registers too, while the simulated meter swaps only its multi-register values.
    """
    tags = []
    for reg in load_profile(profile).registers:
        tag: dict[str, Any] = {
            "name": reg.name,
            "address": {"table": reg.table.value, "offset": reg.address},
            "type": reg.type,
        }
        if reg.scale != 1:
            tag["scale"] = reg.scale
        if order and reg.words > 1:
            tag["byte_order"] = order
        if writable and reg.writable:
            tag["writable"] = True
        tags.append(tag)
    return tags


def tcp_device(port: int, profile: str, **options: Any) -> ModbusTcpDevice:
    raw: dict[str, Any] = {
        "id": "plc-test",
        "protocol": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "timeout": "1s",
        "tags": profile_tags(profile, options.pop("writable", False), options.pop("order", None)),
    }
    raw.update(options)
    return ModbusTcpDevice.model_validate(raw)


@contextlib.asynccontextmanager
async def simulator(profile: str, **kwargs: Any) -> AsyncIterator[PlcSimulator]:
    # A manual clock keeps the served values still, so a poll can be compared with sim.value().
    async with PlcSimulator(profile=profile, clock=ManualClock(), update_interval=3600, **kwargs) as sim:
        yield sim


def by_tag(samples: list[RawSample]) -> dict[str, RawSample]:
    return {s.tag: s for s in samples}


def assert_matches(sim: PlcSimulator, samples: list[RawSample], skip: frozenset[str] = frozenset()) -> None:
    for s in samples:
        if s.tag in skip:
            continue
        assert s.status == GOOD, s
        assert s.value == sim.value(s.tag), s


@pytest.mark.parametrize(
    ("profile", "order"),
    [
        ("energy-meter", "ABCD"),
        ("energy-meter", "BADC"),
        ("energy-meter", "CDAB"),
        ("energy-meter", "DCBA"),
        ("stacklight-plc", "ABCD"),
        ("injection-molding", "CDAB"),
    ],
)
async def test_every_register_of_each_profile_decodes_to_the_served_value(profile: str, order: str) -> None:
    async with simulator(profile, byte_order=order) as sim:
        device = tcp_device(sim.port, profile, order=order)
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            samples = await drv.read()
        assert [s.tag for s in samples] == [t.name for t in device.tags]
        assert_matches(sim, samples)
        assert drv.stats.last_poll_requests == len(drv.plan)


async def test_a_hole_costs_only_its_tags_and_is_read_around_next_time() -> None:
    quirks = Quirks(holes=[("holding_register", 8, 9)])  # frequency's registers answer 02
    async with (
        simulator("energy-meter", quirks=quirks) as sim,
        ModbusDriver(tcp_device(sim.port, "energy-meter").driver_options(), BusRegistry()) as drv,
    ):
        first = await drv.read()
        bad = by_tag(first)["frequency"]
        assert (bad.value, bad.status) == (None, BAD_NOT_READABLE)
        assert_matches(sim, first, skip=frozenset({"frequency"}))
        first_requests = drv.stats.last_poll_requests

        second = await drv.read()
        assert by_tag(second)["frequency"].status == BAD_NOT_READABLE
        assert_matches(sim, second, skip=frozenset({"frequency"}))
        # No bisection and no request over the hole: fewer requests, and no new exception 02.
        assert drv.stats.last_poll_requests < first_requests
        exceptions_02 = drv.stats.exceptions[2]
        await drv.read()
        assert drv.stats.exceptions[2] == exceptions_02


async def test_device_limit_on_registers_per_read_is_honoured() -> None:
    # The meter refuses reads longer than 8 registers (exception 03), like many cheap meters.
    async with simulator("energy-meter", quirks=Quirks(max_registers=8)) as sim:
        async with ModbusDriver(
            tcp_device(sim.port, "energy-meter").driver_options(), BusRegistry()
        ) as naive:
            samples = await naive.read()
        # without max_registers the plan learns the limit from the 03s (issue 18) and reads everything
        assert naive.stats.exceptions[3] > 0 and naive.stats.limit_learned["registers"] <= 8
        assert_matches(sim, samples)

        limited = tcp_device(sim.port, "energy-meter", max_registers=8)
        async with ModbusDriver(limited.driver_options(), BusRegistry()) as drv:
            assert all(r.count <= 8 for r in drv.plan)
            assert_matches(sim, await drv.read())
        assert drv.stats.exceptions[3] == 0


async def test_busy_answers_are_retried_in_place() -> None:
    async with simulator("stacklight-plc", quirks=Quirks(busy_every=2)) as sim:
        async with ModbusDriver(
            tcp_device(sim.port, "stacklight-plc").driver_options(), BusRegistry()
        ) as drv:
            for _ in range(3):
                assert_matches(sim, await drv.read())
        assert drv.stats.exceptions[6] > 0
        assert drv.stats.busy_retries == drv.stats.exceptions[6]


async def test_a_device_that_stays_busy_raises_device_busy() -> None:
    async with simulator("stacklight-plc", quirks=Quirks(busy_probability=1.0)) as sim:
        async with ModbusDriver(
            tcp_device(sim.port, "stacklight-plc").driver_options(), BusRegistry(), busy_retries=2
        ) as drv:
            with pytest.raises(DeviceBusy):
                await drv.read()
        assert drv.stats.exceptions[6] == 3


async def test_slow_answers_within_the_timeout_are_good() -> None:
    async with simulator("energy-meter", quirks=Quirks(delay_s=0.05)) as sim:
        async with ModbusDriver(tcp_device(sim.port, "energy-meter").driver_options(), BusRegistry()) as drv:
            assert_matches(sim, await drv.read())
        assert drv.stats.timeouts == 0


async def test_answers_beyond_the_timeout_are_bad_and_do_not_wedge_the_driver() -> None:
    async with simulator("energy-meter", quirks=Quirks(delay_s=0.6)) as sim:
        device = tcp_device(sim.port, "energy-meter", timeout="200ms", retries=0)
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            samples = await drv.read()
            assert {(s.value, s.status) for s in samples} == {(None, BAD_TIMEOUT)}
            # The device becomes fast again; its late answers to the old requests must not be
            # mistaken for answers to the new ones.
            dev = sim.device()
            dev.quirks = dataclasses.replace(dev.quirks, delay_s=0.0)
            assert_matches(sim, await drv.read())
            assert_matches(sim, await drv.read())
        assert drv.stats.timeouts >= 1


async def test_stall_gives_timeouts_then_reads_resume_after_unstall() -> None:
    async with simulator("stacklight-plc") as sim:
        device = tcp_device(sim.port, "stacklight-plc", timeout="200ms", retries=0)
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            assert_matches(sim, await drv.read())
            await sim.stall()
            samples = await drv.read()
            assert {(s.value, s.status) for s in samples} == {(None, BAD_TIMEOUT)}
            # Only the first request waited: the rest of the poll is not spent on a silent device.
            assert drv.stats.timeouts == 1
            await sim.unstall()
            assert_matches(sim, await drv.read())


async def reads_good(drv: ModbusDriver, sim: PlcSimulator) -> bool:
    try:
        samples = await drv.read()
    except DeviceUnreachable:
        return False
    return all(s.status == GOOD and s.value == sim.value(s.tag) for s in samples)


@pytest.mark.parametrize("fault", ["restart", "drop_connections"])
async def test_reads_resume_after_the_device_restarts_without_a_new_driver(fault: str) -> None:
    async with simulator("stacklight-plc") as sim:
        device = tcp_device(sim.port, "stacklight-plc", timeout="300ms")
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            assert_matches(sim, await drv.read())
            await getattr(sim, fault)()
            await async_wait_for(lambda: reads_good(drv, sim), 5, "Good reads of the simulator's values")
            assert drv.stats.reconnects >= 1


async def test_connect_to_nothing_raises_device_unreachable() -> None:
    async with simulator("stacklight-plc") as sim:
        port = sim.port
    device = tcp_device(port, "stacklight-plc", timeout="300ms")
    with pytest.raises(DeviceUnreachable):
        async with ModbusDriver(device.driver_options(), BusRegistry()):
            pass


Tamper = Callable[[int, bytes], bytes]  # (answer number from 1, answer bytes) -> bytes sent on


class FunctionCodeSpy:
    """A Modbus TCP proxy on 127.0.0.1 that counts function codes and may tamper with answers."""

    def __init__(self, target_port: int, tamper: Tamper | None = None) -> None:
        self.target_port = target_port
        self.seen: Counter[int] = Counter()
        self.answers = 0
        self._tamper = tamper
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> FunctionCodeSpy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        back = asyncio.create_task(self._pump(s_reader, c_writer))
        try:
            while True:
                header = await c_reader.readexactly(7)
                (length,) = struct.unpack(">H", header[4:6])
                pdu = await c_reader.readexactly(length - 1)
                self.seen[pdu[0]] += 1
                s_writer.write(header + pdu)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            back.cancel()
            s_writer.close()
            c_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):  # one answer per chunk on loopback
                self.answers += 1
                writer.write(self._tamper(self.answers, data) if self._tamper else data)


async def test_polls_send_only_read_function_codes_and_writes_need_writable() -> None:
    async with simulator("stacklight-plc") as sim, FunctionCodeSpy(sim.port) as spy:
        device = tcp_device(spy.port, "stacklight-plc", writable=True)
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            for _ in range(3):
                assert_matches(sim, await drv.read())
            assert set(spy.seen) <= {1, 2, 3, 4}
            assert sum(spy.seen.values()) == 3 * len(drv.plan)

            before = spy.seen.copy()
            with pytest.raises(WriteRefused):
                await drv.write("parts_count16", 7)  # configured read-only
            with pytest.raises(WriteRefused):
                await drv.write("no_such_tag", 7)
            assert spy.seen == before  # refused before anything reached the wire

            await drv.write("shift_target", 480)
            await async_wait_for(
                lambda: sim.value("shift_target"), 5, "the written 480", until=lambda v: v == 480
            )
            await drv.write("horn_mute", True)
            assert sim.value("horn_mute") == 1
        assert spy.seen[6] == 1 and spy.seen[5] == 1


def wrong_transaction_id(n: int, answer: bytes) -> bytes:
    """The 3rd answer (first of the 2nd poll) has another transaction id, like a late answer would."""
    return (answer[:2][::-1] if answer[0] != answer[1] else b"\xff\xff") + answer[2:] if n == 3 else answer


def garbage(n: int, answer: bytes) -> bytes:
    return b"\x00\x01\x00\x00\x00\x03\x01\x83" if n == 3 else answer  # wrong length, wrong function


@pytest.mark.parametrize("tamper", [wrong_transaction_id, garbage])
async def test_a_mismatched_answer_is_never_used_and_the_driver_recovers(tamper: Tamper) -> None:
    async with simulator("energy-meter") as sim, FunctionCodeSpy(sim.port, tamper) as spy:
        device = tcp_device(spy.port, "energy-meter", timeout="300ms", retries=0)
        async with ModbusDriver(device.driver_options(), BusRegistry()) as drv:
            assert_matches(sim, await drv.read())
            try:
                samples = await drv.read()
            except DeviceUnreachable:  # garbage may make pymodbus drop the connection
                samples = []
            # pymodbus skips frames it cannot match; bytes without an answer count as garbled.
            assert {s.status for s in samples} <= {GOOD, BAD_COMMUNICATION_ERROR}
            assert drv.stats.garbled == 1 and drv.stats.timeouts == 0
            for s in samples:  # whatever was not read correctly carries no value
                assert s.value is None if s.status != GOOD else s.value == sim.value(s.tag)
            await async_wait_for(lambda: reads_good(drv, sim), 5, "Good reads of the simulator's values")
            assert drv.stats.reconnects >= 1
