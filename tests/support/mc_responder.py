"""A minimal MC protocol (3E binary) responder written for the tests from the frame layout alone: it
imports neither the driver nor the simulator, so the driver is checked against code it did not write.

    async with Responder({0xA8: words}, max_points=960) as plc:     # device code -> its words
        plc.port

Word-unit batch reads (command 0401, subcommand 0000) only. Device memory is a list of 16-bit words per
device code (bit devices: 16 points a word, point 0 in bit 0). Answers: C05B for a device code it does
not have, C056 for a read past the end of a device, C051 for more words than `max_points`.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from types import TracebackType


class Responder:
    def __init__(self, memory: dict[int, list[int]], max_points: int = 960) -> None:
        self.memory = memory
        self.max_points = max_points
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Responder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._clients):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readexactly(9)  # subheader .. request data length
                body = await reader.readexactly(struct.unpack_from("<H", head, 7)[0])
                self.requests += 1
                writer.write(self._answer(head, body))
                await writer.drain()
        self._clients.discard(writer)
        writer.close()

    def _answer(self, head: bytes, body: bytes) -> bytes:
        assert head[:2] == b"\x50\x00", head.hex()
        command, subcommand = struct.unpack_from("<HH", body, 2)
        first = int.from_bytes(body[6:9], "little")
        code, points = body[9], struct.unpack_from("<H", body, 10)[0]
        if (command, subcommand) != (0x0401, 0x0000):
            return self._frame(head, 0xC059, b"")
        words = self.memory.get(code)
        if words is None:
            return self._frame(head, 0xC05B, b"")
        if points > self.max_points:
            return self._frame(head, 0xC051, b"")
        start = first // 16 if code in BIT_DEVICES else first
        if start + points > len(words):
            return self._frame(head, 0xC056, b"")
        return self._frame(head, 0, struct.pack(f"<{points}H", *words[start : start + points]))

    @staticmethod
    def _frame(head: bytes, end_code: int, data: bytes) -> bytes:
        route = head[2:7]  # network, PC, module I/O, module station: echoed
        if end_code:
            data = route + b"\x01\x04\x00\x00"  # the refused command, as a CPU names it
        return b"\xd0\x00" + route + struct.pack("<HH", 2 + len(data), end_code) + data


BIT_DEVICES = frozenset({0x90, 0x9C, 0x9D, 0xA0, 0x92, 0x93, 0x91})  # M X Y B L F SM
