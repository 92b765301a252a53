"""The S7 driver against python-snap7's own server, with values written here byte by byte (never by
our simulator or our codec): every type decodes, a read past a DB's end or of a DB that does not
exist makes only its tags Bad, the plan merges reads, and a dead PLC does not delay another."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator
from dataclasses import replace

import pytest
from snap7.server import Server
from snap7.type import SrvArea

from drivers.base import DeviceUnreachable
from drivers.s7.driver import S7Driver
from drivers.s7.options import S7DriverOptions
from drivers.s7.spec import S7TagSpec, S7Type, parse_address
from drivers.status import BAD_NODE_ID_UNKNOWN, BAD_NOT_READABLE, GOOD
from tests.support.net import free_port

pytestmark = pytest.mark.integration


def tag(name: str, address: str, type_: S7Type | None = None, length: int | None = None) -> S7TagSpec:
    a = parse_address(address)
    return S7TagSpec(name, a.area, a.db, a.offset, type_ or a.type or S7Type.BOOL, a.bit, length or a.length)


def db1() -> bytearray:
    """DB1 laid out by hand: the offsets below are the only link between this and the tags."""
    db = bytearray(120)
    db[0] = 0b1010_0000  # bits 5 and 7
    db[1] = 0xFE  # BYTE 254, SINT -2
    struct.pack_into(">H", db, 2, 0xBEEF)
    struct.pack_into(">h", db, 4, -12345)
    struct.pack_into(">I", db, 6, 0xDEADBEEF)
    struct.pack_into(">i", db, 10, -987654321)
    struct.pack_into(">f", db, 14, 3.14159)
    struct.pack_into(">d", db, 18, -2.718281828459045)
    struct.pack_into(">q", db, 26, -(2**40) - 7)
    db[34:38] = bytes((8, 5)) + "泵A".encode("gbk")[:2]  # STRING[8] '泵' (two GBK bytes)
    db[34 + 1] = 2
    struct.pack_into(">HH", db, 44, 6, 3)
    db[48:54] = "温度C".encode("utf-16-be")  # WSTRING[6] '温度C'
    db[60:68] = bytes((0x24, 0x05, 0x17, 0x13, 0x45, 0x30, 0x12, 0x34))  # DT 2024-05-17 13:45:30.123
    struct.pack_into(">HBBBBBBI", db, 68, 2025, 12, 31, 4, 23, 59, 58, 500_000_000)  # DTL
    struct.pack_into(">i", db, 80, 90_061_001)  # TIME 1d 1h 1m 1.001s in ms
    struct.pack_into(">H", db, 84, 12_000)  # DATE: 1990-01-01 + 12000 days
    struct.pack_into(">I", db, 86, 45_296_789)  # TOD 12:34:56.789
    struct.pack_into(">H", db, 90, 0x2123)  # S5TIME: base 1 s, 123 -> 123.0 s
    db[92] = ord("Z")
    struct.pack_into(">Q", db, 100, 2**63 + 5)
    struct.pack_into(">f", db, 116, 42.5)  # the last four bytes of the DB
    return db


EXPECTED = {
    "b5": True, "b6": False, "b7": True, "byte": 254, "sint": -2, "word": 0xBEEF, "int": -12345,
    "dword": 0xDEADBEEF, "dint": -987654321, "lreal": -2.718281828459045, "lint": -(2**40) - 7,
    "str": "泵", "wstr": "温度C", "dt": "2024-05-17T13:45:30.123", "dtl": "2025-12-31T23:59:58.500000",
    "time": 90_061_001, "date": "2022-11-09", "tod": 45_296_789, "s5": 123.0, "char": "Z",
    "ulint": 2**63 + 5, "last": 42.5, "m_bit": True, "mw": 777, "iw": -2, "qd": 1.25, "vw": 0xBEEF,
    "t3": 2.5, "c2": 42,
}  # fmt: skip
TAGS = [
    tag("b5", "DB1.DBX0.5"), tag("b6", "DB1.DBX0.6"), tag("b7", "DB1.DBX0.7"),
    tag("byte", "DB1.DBB1", S7Type.BYTE), tag("sint", "DB1.DBB1", S7Type.SINT),
    tag("word", "DB1.DBW2", S7Type.WORD), tag("int", "DB1.DBW4", S7Type.INT),
    tag("dword", "DB1.DBD6", S7Type.DWORD), tag("dint", "DB1.DBD10", S7Type.DINT),
    tag("real", "DB1.DBD14:REAL"), tag("lreal", "DB1.DBB18", S7Type.LREAL),
    tag("lint", "DB1.DBB26", S7Type.LINT), tag("str", "DB1.DBB34:STRING[8]"),
    tag("wstr", "DB1.DBB44:WSTRING[6]"), tag("dt", "DB1.DBB60", S7Type.DATE_AND_TIME),
    tag("dtl", "DB1.DBB68", S7Type.DTL), tag("time", "DB1.DBD80", S7Type.TIME),
    tag("date", "DB1.DBW84", S7Type.DATE), tag("tod", "DB1.DBD86", S7Type.TOD),
    tag("s5", "DB1.DBW90", S7Type.S5TIME), tag("char", "DB1.DBB92", S7Type.CHAR),
    tag("ulint", "DB1.DBB100", S7Type.ULINT), tag("last", "DB1.DBD116", S7Type.REAL),
    tag("m_bit", "M3.2"), tag("mw", "MW10", S7Type.INT), tag("iw", "IW4", S7Type.INT),
    tag("qd", "QD8", S7Type.REAL), tag("vw", "VW2", S7Type.WORD),
    tag("t3", "T3", S7Type.TIMER), tag("c2", "C2", S7Type.COUNTER),
]  # fmt: skip


@pytest.fixture
def plc() -> Iterator[int]:
    """python-snap7's server with DB1, M, I, Q, timers and counters; yields its port."""
    server = Server(log=False)
    mk, pe, pa = bytearray(16), bytearray(8), bytearray(16)
    mk[3] = 0b100
    struct.pack_into(">h", mk, 10, 777)
    struct.pack_into(">h", pe, 4, -2)
    struct.pack_into(">f", pa, 8, 1.25)
    timers, counters = bytearray(16), bytearray(16)
    struct.pack_into(">H", timers, 6, 0x1025)  # T3: base 100 ms, 25 -> 2.5 s
    struct.pack_into(">H", counters, 4, 0x0042)  # C2: BCD 42
    for area, index, data in (
        (SrvArea.DB, 1, db1()),
        (SrvArea.MK, 0, mk),
        (SrvArea.PE, 0, pe),
        (SrvArea.PA, 0, pa),
        (SrvArea.TM, 0, timers),
        (SrvArea.CT, 0, counters),
    ):
        server.register_area(area, index, data)  # fmt: skip
    port = free_port()
    server.start(port)
    try:
        yield port
    finally:
        server.stop()


def options(port: int, tags: list[S7TagSpec]) -> S7DriverOptions:
    return S7DriverOptions(id="plc-s7", host="127.0.0.1", port=port, tags=tuple(tags), timeout=2.0)


async def test_every_type_decodes_with_merged_reads(plc: int) -> None:
    async with S7Driver(options(plc, TAGS)) as drv:
        samples = await drv.read()
        plan = drv.describe_plan()
    got = {s.tag: s.value for s in samples}
    assert all(s.status == GOOD for s in samples), [s for s in samples if s.status != GOOD]
    assert got["real"] == pytest.approx(3.14159, rel=1e-6)
    assert {k: v for k, v in got.items() if k != "real"} == EXPECTED
    # 30 tags in 6 areas: DB1 (with V, which is DB1) merged into few blocks, all in 3 requests
    # (one for the byte areas, one for timers, one for counters)
    assert drv.stats.last_poll_requests == 3, plan
    assert plan.startswith("30 tags → 3 requests per poll")


async def test_a_read_past_the_end_of_a_db_costs_only_its_own_tags(plc: int) -> None:
    tags = [tag("last", "DB1.DBD116", S7Type.REAL), tag("past", "DB1.DBD118", S7Type.REAL),
            tag("gone", "DB9.DBW0", S7Type.INT), tag("mw", "MW10", S7Type.INT)]  # fmt: skip
    async with S7Driver(options(plc, tags)) as drv:
        first = {s.tag: s for s in await drv.read()}
        isolating = drv.stats.last_poll_requests
        second = {s.tag: s for s in await drv.read()}
    for poll in (first, second):
        assert (poll["last"].value, poll["last"].status) == (42.5, GOOD)
        assert (poll["mw"].value, poll["mw"].status) == (777, GOOD)
        assert (poll["past"].value, poll["past"].status) == (None, BAD_NOT_READABLE)
        assert (poll["gone"].value, poll["gone"].status) == (None, BAD_NODE_ID_UNKNOWN)
    # the first poll narrowed the refused block down (one more request); later polls read around it
    assert isolating == 2 and drv.stats.last_poll_requests == 1
    assert drv.unreadable.active() == {"past"}


async def test_a_dead_plc_does_not_delay_another(plc: int) -> None:
    silent = socket.socket()  # accepts the TCP connection, never answers: a hung CPU
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    dead = replace(options(silent.getsockname()[1], TAGS[:1]), timeout=30.0)
    try:
        dead_task = asyncio.create_task(S7Driver(dead).__aenter__())
        async with S7Driver(options(plc, TAGS)) as alive:
            for _ in range(5):
                assert all(s.status == GOOD for s in await alive.read())
        assert not dead_task.done()  # still waiting for its connection while the other polled 5 times
        dead_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dead_task
    finally:
        silent.close()


async def test_no_listener_or_a_silent_one_is_unreachable() -> None:
    with pytest.raises(DeviceUnreachable):
        async with S7Driver(options(free_port(), TAGS[:2])):
            pass
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        with pytest.raises(DeviceUnreachable, match="cannot connect"):
            async with S7Driver(replace(options(silent.getsockname()[1], TAGS[:1]), timeout=0.2)):
                pass
    finally:
        silent.close()


async def test_the_plan_fits_a_smaller_granted_pdu(plc: int) -> None:
    small = replace(options(plc, TAGS), pdu_size=240)  # an S7-1200 grants 240
    async with S7Driver(small) as drv:
        samples = await drv.read()
    assert drv.s7.pdu == 240 and all(s.status == GOOD for s in samples)
    byte_requests = [r for r in drv.plan if not r.counted]
    # every request's answer fits: header and parameter, then per item 4 bytes and the data, padded even
    assert all(14 + sum(4 + b.length + b.length % 2 for b in r.blocks) <= 240 for r in byte_requests)
    assert drv.stats.last_poll_requests == len(drv.plan)
