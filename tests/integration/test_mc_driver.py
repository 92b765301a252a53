"""The MC driver against a hand-written 3E responder (tests/support/mc_responder.py) with values placed
word by word here: every type and device decodes, X/Y follow the series' notation, a read past a
device's end or of a device the CPU lacks makes only its tags Bad, reads merge, a smaller frame limit
is learned, and a dead PLC does not delay another."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import replace

import pytest

from drivers.base import DeviceUnreachable
from drivers.mc.driver import McDriver
from drivers.mc.options import McDriverOptions
from drivers.mc.spec import McTagSpec, McType, Series, parse_address
from drivers.status import BAD_NOT_READABLE, GOOD
from tests.support.mc_responder import Responder
from tests.support.net import free_port

pytestmark = pytest.mark.integration
D, W, R, ZR, SD, M, X, Y, B, L, F, SM = 0xA8, 0xB4, 0xAF, 0xB0, 0xA9, 0x90, 0x9C, 0x9D, 0xA0, 0x92, 0x93, 0x91


def words_of(fmt: str, *values: object) -> list[int]:
    data = struct.pack("<" + fmt, *values)
    return list(struct.unpack(f"<{len(data) // 2}H", data))


def memory() -> dict[int, list[int]]:
    d = [0] * 200
    d[10] = 0xFFFE  # int16 -2
    d[11] = 54321  # uint16
    d[12:14] = words_of("i", -7_654_321)
    d[14:16] = words_of("I", 3_000_000_001)
    d[16:18] = words_of("f", 1.5)
    d[18:22] = words_of("d", -1234.5678)
    d[22:25] = words_of("6s", "AB泵".encode("gbk"))  # 'AB泵': 4 bytes of text, then NUL
    d[30] = 0b1000_0000_0000_1000  # bits 3 and F
    d[199] = 4242  # the last D register
    bits = [0] * 40
    bits[0] = 1 << 5  # M5 / X5 ...
    bits[1] = 1 << 15  # point 31 = X1F (hex) = X37 (octal)
    return {
        D: d, W: [0] * 16 + [0x1A2B], R: [0] * 5 + words_of("h", -300), ZR: [0] * 100 + [65000],
        SD: [0] * 210 + [2026], M: bits, X: bits, Y: bits, B: bits, L: bits, F: bits, SM: bits,
    }  # fmt: skip


def tag(name: str, address: str, type_: McType = McType.INT16, length: int | None = None,
        series: Series = Series.Q) -> McTagSpec:  # fmt: skip
    a = parse_address(address, series)
    kind = McType.BOOL if a.device.is_bit or a.bit is not None else type_
    return McTagSpec(name, a.device, a.number, kind, a.bit, length)


TAGS = [
    tag("d_int16", "D10"), tag("d_uint16", "D11", McType.UINT16), tag("d_int32", "D12", McType.INT32),
    tag("d_uint32", "D14", McType.UINT32), tag("d_float", "D16", McType.FLOAT32),
    tag("d_double", "D18", McType.FLOAT64), tag("d_text", "D22", McType.STRING, 6),
    tag("d_bit3", "D30.3"), tag("d_bitf", "D30.F"), tag("d_bit0", "D30.0"), tag("d_last", "D199"),
    tag("w_hex", "W10", McType.UINT16), tag("r", "R5"), tag("zr", "ZR100", McType.UINT16),
    tag("sd", "SD210"), tag("m5", "M5"), tag("m31", "M31"), tag("m6", "M6"), tag("x1f", "X1F"),
    tag("y5", "Y5"), tag("b1f", "B1F"), tag("l5", "L5"), tag("f31", "F31"), tag("sm5", "SM5"),
]  # fmt: skip
EXPECTED = {
    "d_int16": -2, "d_uint16": 54321, "d_int32": -7_654_321, "d_uint32": 3_000_000_001, "d_float": 1.5,
    "d_double": -1234.5678, "d_text": "AB泵", "d_bit3": True, "d_bitf": True, "d_bit0": False,
    "d_last": 4242, "w_hex": 0x1A2B, "r": -300, "zr": 65000, "sd": 2026, "m5": True, "m31": True,
    "m6": False, "x1f": True, "y5": True, "b1f": True, "l5": True, "f31": True, "sm5": True,
}  # fmt: skip


def options(port: int, tags: list[McTagSpec], **kw: object) -> McDriverOptions:
    base = McDriverOptions(id="plc-mc", host="127.0.0.1", port=port, tags=tuple(tags), timeout=2.0)
    return replace(base, **kw)  # type: ignore[arg-type]


async def test_every_type_and_device_decodes_in_merged_reads() -> None:
    async with Responder(memory()) as plc, McDriver(options(plc.port, TAGS)) as drv:
        samples = await drv.read()
        plan = drv.describe_plan()
    assert all(s.status == GOOD for s in samples), [s for s in samples if s.status != GOOD]
    assert {s.tag: s.value for s in samples} == EXPECTED
    # one read per device letter: D10..D30 and D199 are two (the gap is larger than max_gap)
    assert drv.stats.last_poll_requests == 13 and plan.startswith("24 tags → 13 requests per poll")
    assert plc.requests == 13


async def test_x_and_y_are_octal_on_fx5() -> None:
    fx5 = [tag("x37", "X37", series=Series.IQ_F), tag("x5", "X5", series=Series.IQ_F)]
    async with Responder(memory()) as plc, McDriver(options(plc.port, fx5, series=Series.IQ_F)) as drv:
        assert [(s.tag, s.value) for s in await drv.read()] == [("x37", True), ("x5", True)]
    with pytest.raises(ValueError, match="octal"):
        parse_address("X18", Series.IQ_F)


async def test_a_read_past_the_end_or_of_a_missing_device_costs_only_its_own_tags() -> None:
    tags = [tag("last", "D199"), tag("past", "D200"), tag("ok", "D10"), tag("none", "ZR5")]
    mem = memory()
    del mem[ZR]  # this CPU has no file registers
    async with Responder(mem) as plc, McDriver(options(plc.port, tags, max_gap=400)) as drv:
        first = {s.tag: s for s in await drv.read()}
        isolating = drv.stats.last_poll_requests
        second = {s.tag: s for s in await drv.read()}
    for poll in (first, second):
        assert (poll["last"].value, poll["last"].status) == (4242, GOOD)
        assert (poll["ok"].value, poll["ok"].status) == (-2, GOOD)
        assert (poll["past"].value, poll["past"].status) == (None, BAD_NOT_READABLE)
        assert (poll["none"].value, poll["none"].status) == (None, BAD_NOT_READABLE)
    # D10..D200 in one read, refused; then one read per D tag; then D10..D199 and ZR only
    assert isolating == 1 + 3 + 1 and drv.stats.last_poll_requests == 2
    assert drv.unreadable.active() == {"past"}


async def test_a_smaller_frame_limit_is_learned() -> None:
    tags = [tag("a", "D0"), tag("b", "D100"), tag("c", "D190")]
    async with (
        Responder(memory(), max_points=100) as plc,
        McDriver(options(plc.port, tags, max_gap=200)) as drv,
    ):
        first = await drv.read()
        second = await drv.read()
    assert all(s.status == GOOD for s in first + second)
    assert drv.stats.limit_learned == 95 and drv.stats.last_poll_requests == 2  # D0, D100..D190


async def test_a_dead_plc_does_not_delay_another() -> None:
    silent = socket.socket()  # accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        async with Responder(memory()) as plc:
            dead = McDriver(options(silent.getsockname()[1], TAGS[:1], timeout=30.0))
            async with dead, McDriver(options(plc.port, TAGS)) as alive:
                dead_poll = asyncio.create_task(dead.read())
                for _ in range(5):
                    assert all(s.status == GOOD for s in await alive.read())
                assert not dead_poll.done()  # still waiting for its answer after the other's 5 polls
                dead_poll.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await dead_poll
    finally:
        silent.close()


async def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(DeviceUnreachable):
        async with McDriver(options(free_port(), TAGS[:1])):
            pass
