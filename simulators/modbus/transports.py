"""Byte-level Modbus servers on asyncio: TCP (MBAP), RTU over TCP, and RTU on a serial line.

The servers know nothing about registers: each complete request is handed to
``dispatch(unit_id, pdu)``, which returns the response PDU or None for "no
answer" (dead unit, stalled device, unknown unit on a shared bus). Requests on
one connection / one serial line are answered strictly in order, like a real
single-threaded PLC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from simulators.modbus.framing import RtuSplitter, with_crc

log = logging.getLogger(__name__)

Dispatch = Callable[[int, bytes], Awaitable[bytes | None]]
_MBAP = struct.Struct(">HHHB")


class TcpModbusServer:
    """Modbus TCP (``framing="mbap"``) or RTU-over-TCP (``framing="rtu"``) listener."""

    def __init__(self, dispatch: Dispatch, host: str, port: int, framing: str = "mbap") -> None:
        if framing not in ("mbap", "rtu"):
            raise ValueError(f"framing must be 'mbap' or 'rtu', got {framing!r}")
        self.dispatch, self.host, self.port, self.framing = dispatch, host, port, framing
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self.port)
        # Keep the port the OS picked so restart() binds the same one again.
        self.port = self._server.sockets[0].getsockname()[1]
        log.debug("listening on %s:%d (%s)", self.host, self.port, self.framing)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Reset every client connection (the listener keeps accepting)."""
        for writer in list(self._conns):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._conns.add(writer)
        peer = writer.get_extra_info("peername")
        log.debug("client %s connected", peer)
        try:
            if self.framing == "mbap":
                await self._serve_mbap(reader, writer)
            else:
                await self._serve_rtu(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Cancelled by drop_connections()/stop(): end quietly. Re-raising would make
            # asyncio's stream callback log the cancelled task as an error.
            pass
        finally:
            self._conns.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()
            log.debug("client %s gone", peer)

    async def _serve_mbap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            tid, proto, length, unit = _MBAP.unpack(await reader.readexactly(7))
            if proto != 0 or not 2 <= length <= 254:
                log.warning("bad MBAP header (proto=%d len=%d), closing", proto, length)
                return
            pdu = await reader.readexactly(length - 1)
            resp = await self.dispatch(unit, pdu)
            if resp is not None:
                writer.write(_MBAP.pack(tid, 0, len(resp) + 1, unit) + resp)

    async def _serve_rtu(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Network jitter can split a frame; only a long pause counts as a frame break.
        splitter = RtuSplitter(gap_s=0.5)
        while data := await reader.read(512):
            for frame in splitter.feed(data):
                resp = await self.dispatch(frame[0], frame[1:])
                if resp is not None:
                    writer.write(with_crc(bytes((frame[0],)) + resp))


class SerialModbusServer:
    """RTU slave(s) on a serial device (a real port or one end of a socat pty pair)."""

    def __init__(
        self,
        dispatch: Dispatch,
        device: str,
        baudrate: int = 19200,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: int = 1,
    ) -> None:
        self.dispatch, self.device = dispatch, device
        self.settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits}
        # 3.5 character times (11 bits each) of silence end a frame; pty timing is coarse.
        self.gap_s = max(3.5 * 11 / baudrate, 0.05)
        self._serial: Any = None
        self._fd = -1
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._splitter = RtuSplitter(self.gap_s)

    async def start(self) -> None:
        import serial  # pyserial configures termios (raw mode, speed, parity) for us

        ser = serial.Serial(port=self.device, timeout=0, exclusive=False, **self.settings)
        self._serial, self._fd = ser, ser.fileno()
        self._splitter = RtuSplitter(self.gap_s)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._fd, self._on_readable)
        self._worker = asyncio.create_task(self._work(), name=f"rtu-{self.device}")
        log.debug("serving RTU on %s %s", self.device, self.settings)

    async def stop(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._serial is not None:
            self._serial.close()
            self._serial, self._fd = None, -1
        self._queue = asyncio.Queue()

    async def drop_connections(self) -> None:
        """A serial line has no connections; discard anything half-received instead."""
        self._splitter = RtuSplitter(self.gap_s)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 512)
        except BlockingIOError:
            return
        except OSError as exc:
            data, reason = b"", str(exc)
        else:
            reason = "end of file"
        if not data:
            # The line is gone (pty peer closed): stop watching instead of spinning on EIO.
            log.warning("serial line %s closed (%s); call restart() to reopen", self.device, reason)
            asyncio.get_running_loop().remove_reader(self._fd)
            return
        for frame in self._splitter.feed(data):
            self._queue.put_nowait(frame)

    async def _work(self) -> None:
        while True:
            frame = await self._queue.get()
            resp = await self.dispatch(frame[0], frame[1:])
            if resp is None or self._fd < 0:
                continue
            try:
                os.write(self._fd, with_crc(bytes((frame[0],)) + resp))
            except OSError as exc:
                log.warning("serial write on %s failed: %s", self.device, exc)
