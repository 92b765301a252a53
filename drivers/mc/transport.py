"""A small MC protocol client: 3E frames in binary over one TCP connection, batch reads in word units.

Request (all fields little-endian):  50 00 | network | PC | module I/O (2) | module station | data
length (2) | monitoring timer (2, 250 ms units) | command 0401 (2) | subcommand 0000 (2) | head device
number (3) | device code (1) | points (2). Answer: D0 00 | the same four routing fields | data length (2) |
end code (2) | data — or, when the end code is not 0, nine bytes naming the refused request.

The 3E frame carries no serial number, so a late answer cannot be told from the next one: after a
timeout the connection is closed and opened again on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from drivers.base import DriverError
from drivers.mc.options import McDriverOptions

READ_BATCH, WORD_UNITS = 0x0401, 0x0000
_REQUEST = struct.Struct("<HBBHBHHHHHBBH")  # ... head number as 2 + 1 bytes (a 24-bit number)
_ANSWER_HEAD = struct.Struct("<HBBHBH")
_REQUEST_SUBHEADER, _ANSWER_SUBHEADER = 0x0050, 0x00D0


class LinkDown(DriverError):
    """The connection is gone or could not be made."""


class Timeout(DriverError):
    """No answer within the device's timeout; the connection was dropped."""


class Garbled(DriverError):
    """An answer that does not belong to the request."""


class EndCode(DriverError):
    """The CPU answered with an error end code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"end code {code:#06x}")
        self.code = code


class McLink:
    """One TCP connection to one CPU's MC port; requests are sent one at a time."""

    def __init__(self, options: McDriverOptions) -> None:
        self.options = options
        self.timeout = options.timeout
        self._route = (options.network, options.station, options.module_io, options.module_station)
        self._timer = max(1, min(0xFFFF, round(options.timeout * 4)))  # the CPU's own wait, 250 ms units
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        o = self.options
        try:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await asyncio.open_connection(o.host, o.port)
        except (TimeoutError, OSError) as exc:
            raise LinkDown(f"cannot connect to {o.host}:{o.port} ({exc or type(exc).__name__})") from exc

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):  # the peer reset it first
                await writer.wait_closed()

    def frame(self, code: int, head: int, points: int) -> bytes:
        """A batch read of `points` words of device `code` from point `head`."""
        return _REQUEST.pack(
            _REQUEST_SUBHEADER, *self._route, 12, self._timer, READ_BATCH, WORD_UNITS,
            head & 0xFFFF, head >> 16, code, points,
        )  # fmt: skip

    async def read_words(self, code: int, head: int, points: int) -> bytes:
        """The `2 * points` bytes of the answer; EndCode when the CPU refuses."""
        if self._reader is None or self._writer is None:
            raise LinkDown("not connected")
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    self._writer.write(self.frame(code, head, points))
                    head_bytes = await self._reader.readexactly(_ANSWER_HEAD.size)
                    subheader, *route, length = _ANSWER_HEAD.unpack(head_bytes)
                    body = await self._reader.readexactly(length)
            except TimeoutError as exc:
                await self.close()
                raise Timeout(f"no answer within {self.timeout:g} s") from exc
            except (OSError, asyncio.IncompleteReadError) as exc:
                await self.close()
                raise LinkDown(f"connection lost ({exc or type(exc).__name__})") from exc
        if subheader != _ANSWER_SUBHEADER or tuple(route) != self._route or length < 2:
            await self.close()
            raise Garbled(f"an answer that is not a 3E answer to this request ({head_bytes.hex()})")
        end_code = int.from_bytes(body[:2], "little")
        if end_code:
            raise EndCode(end_code)
        if len(body) != 2 + 2 * points:
            await self.close()
            raise Garbled(f"{len(body) - 2} data bytes for {points} words")
        return body[2:]
