"""McSimulator: a Mitsubishi CPU's MC port (3E binary frame) serving a PLC profile.

The profile's tables sit in GX Works devices: holding registers in D (D0 = register 0), input registers
in W (W0..), coils in M (M0..), discrete inputs in X (X0..). 32- and 64-bit values are stored low word
first, as a Mitsubishi CPU keeps them, and every word travels little-endian. Every other device the
driver knows (R, ZR, SD, SM, Y, B, L, F) exists with 1024 zero points, so probing one is not an error;
a device code outside that list answers end code C05B.

Answers, like a CPU: C056 for a read past a device's end or into a profile hole, C051 for more than
`max_words` words, C05F while a register is marked bad, C059 for a command other than a word-unit
batch read. Written without the driver's code (docs/ARCHITECTURE.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from simulators.mapped import MappedPlc
from simulators.modbus.device import FAILING, UNMAPPED
from simulators.modbus.profiles import Table

_HEAD = struct.Struct("<HBBHBH")  # subheader, network, PC, module I/O, module station, data length
_READ = struct.Struct("<HHHHBBH")  # timer, command, subcommand, head (low 16), head (high 8), code, points
_TABLE_OF = {
    0xA8: Table.HOLDING_REGISTER,
    0xB4: Table.INPUT_REGISTER,
    0x90: Table.COIL,
    0x9C: Table.DISCRETE_INPUT,
}
_BIT_CODES = frozenset({0x90, 0x9C, 0x9D, 0xA0, 0x92, 0x93, 0x91})
_SPARE_CODES = frozenset({0xAF, 0xB0, 0xA9, 0x91, 0x9D, 0xA0, 0x92, 0x93})  # R ZR SD SM Y B L F
_SPARE_POINTS = 1024
OK, TOO_MANY, RANGE, NO_DEVICE, BAD_COMMAND, FAILED = 0, 0xC051, 0xC056, 0xC05B, 0xC059, 0xC05F


class McSimulator(MappedPlc):
    def __init__(
        self,
        name: str = "mc-01",
        profile: Any = "stacklight-plc",
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        max_words: int = 960,
        **kw: Any,
    ) -> None:
        super().__init__(name, profile, seed, byte_order="CDAB", **kw)
        self.host, self._port, self.max_words = host, port, max_words
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._words: dict[int, bytes] = {}
        self._status: dict[int, bytes] = {}

    @property
    def protocol(self) -> str:
        return "MC"

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"mc://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        return len(self._writers)

    def publish(self) -> None:
        """D and W: the register words swapped to little-endian; M and X: 16 points a word."""
        for code, table in _TABLE_OF.items():
            image, status = self.unit.image[table], self.unit.status[table]
            if table.is_bit:
                packed = self.bits(table)
                self._words[code] = bytes(packed + bytes(len(packed) % 2))
                per_word = range(0, len(status), 16)
                self._status[code] = bytes(_word_status(status[i : i + 16]) for i in per_word)
            else:
                swapped = bytearray(image)
                swapped[0::2], swapped[1::2] = image[1::2], image[0::2]
                self._words[code], self._status[code] = bytes(swapped), bytes(status)

    async def serve(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    head = await reader.readexactly(_HEAD.size)
                    body = await reader.readexactly(_HEAD.unpack(head)[5])
                    self.requests += 1
                    if self.stalled:
                        continue  # a hung CPU: the request is swallowed
                    if self.unit.quirks.delay_s:
                        await asyncio.sleep(self.unit.quirks.delay_s)
                    writer.write(self.answer(head, body))
                    await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    def answer(self, head: bytes, body: bytes) -> bytes:
        route = head[2:7]
        if head[:2] != b"\x50\x00" or len(body) != _READ.size:
            return _frame(route, BAD_COMMAND, b"")
        _timer, command, sub, low, high, code, points = _READ.unpack(body)
        if (command, sub) != (0x0401, 0x0000):
            return _frame(route, BAD_COMMAND, b"")
        first = low | high << 16
        start = first // 16 if code in _BIT_CODES else first
        end_code, data = self._read(code, start, points)
        return _frame(route, end_code, data)

    def _read(self, code: int, start: int, points: int) -> tuple[int, bytes]:
        if points > self.max_words or points < 1:
            return TOO_MANY, b""
        words = self._words.get(code)
        if words is None:
            if code not in _SPARE_CODES:
                return NO_DEVICE, b""
            limit = _SPARE_POINTS // 16 if code in _BIT_CODES else _SPARE_POINTS
            return (RANGE, b"") if start + points > limit else (OK, bytes(2 * points))
        status = self._status[code][start : start + points]
        if len(status) < points or UNMAPPED in status:
            return RANGE, b""
        if FAILING in status:
            return FAILED, b""
        return OK, words[2 * start : 2 * (start + points)]


def _word_status(points: bytes | bytearray) -> int:
    """A word of 16 bit-points is unmapped if any point is, failing if any point fails."""
    return UNMAPPED if UNMAPPED in points else FAILING if FAILING in points else 1


def _frame(route: bytes, end_code: int, data: bytes) -> bytes:
    if end_code:
        data = route + b"\x01\x04\x00\x00"  # the refused command, as a CPU echoes it
    return b"\xd0\x00" + route + struct.pack("<HH", 2 + len(data), end_code) + data
