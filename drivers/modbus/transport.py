"""One Modbus connection (TCP, RTU on a serial port, RTU over TCP) and its translation into our errors.

This is the only module that imports pymodbus (it renames things between minor releases). pymodbus's
own recovery is switched off because it fights ours: no automatic reconnect (`reconnect_delay=0`),
no retries, and its timeout is only a backstop behind our `asyncio.timeout`, so a timeout leaves the
client idle (the pending answer is dropped when it arrives) instead of half-way through a retry.
A link is never repaired in place: `open()` always builds a fresh client, so a reconnect cannot
inherit a half-read buffer or a transaction id that a late answer could still match.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from drivers.modbus.errors import ExceptionResponse, GarbledResponse, LinkDown, RequestTimeout
from drivers.modbus.options import Endpoint, Kind
from drivers.modbus.spec import Table

log = logging.getLogger(__name__)

READ_FC: dict[Table, int] = {
    Table.COIL: 1,
    Table.DISCRETE_INPUT: 2,
    Table.HOLDING_REGISTER: 3,
    Table.INPUT_REGISTER: 4,
}
WRITE_FCS = frozenset({5, 6, 15, 16, 22, 23})
# pymodbus's own timeout, only a backstop: ours (per request, at most minutes) always fires first.
_BACKSTOP_S = 3600.0


Client = AsyncModbusTcpClient | AsyncModbusSerialClient
Trace = Callable[[int], None]


class Link:
    """A pymodbus client behind our error tree. Not safe for concurrent requests: the bus serialises."""

    def __init__(self, endpoint: Endpoint, timeout: float, on_request: Trace | None = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._client: Client | None = None
        self._on_request = on_request  # called with each function code sent (stats, tests)
        # pymodbus silently skips frames it cannot match (wrong transaction id, unit, bad CRC or
        # garbage); bytes that arrived without an answer turn the timeout into a garbled answer.
        self._heard = False

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    def _new_client(self) -> Client:
        ep, backstop, trace = self.endpoint, _BACKSTOP_S, self._trace
        if ep.serial is not None:
            s = ep.serial
            return AsyncModbusSerialClient(
                s.port, framer=FramerType.RTU, baudrate=s.baudrate, bytesize=s.bytesize, parity=s.parity,
                stopbits=s.stopbits, timeout=backstop, retries=0, reconnect_delay=0, trace_packet=trace,
            )  # fmt: skip
        framer = FramerType.RTU if ep.kind is Kind.RTU_OVER_TCP else FramerType.SOCKET
        return AsyncModbusTcpClient(
            ep.host, port=ep.port, framer=framer, timeout=backstop, retries=0, reconnect_delay=0,
            trace_packet=trace,
        )  # fmt: skip

    def _trace(self, sending: bool, data: bytes) -> bytes:
        self._heard = not sending
        return data

    async def open(self) -> None:
        """(Re)connect with a fresh client; LinkDown if that fails within the timeout."""
        self.close()
        client = self._new_client()
        try:
            async with asyncio.timeout(self.timeout):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise LinkDown(f"cannot connect to {self.endpoint}: {exc or 'timeout'}") from exc
        if not ok:
            client.close()
            raise LinkDown(f"cannot connect to {self.endpoint}")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(
        self, unit: int, table: Table, start: int, count: int, wait_s: float | None = None
    ) -> list[int]:
        """Registers (or bits as 0/1) of one read; raises RequestFailed subclasses or LinkDown.

        `wait_s` overrides the link's timeout for this request (units on one line may differ).
        """
        client = self._require()
        fc = READ_FC[table]
        call: Callable[..., Awaitable[Any]] = {
            1: client.read_coils,
            2: client.read_discrete_inputs,
            3: client.read_holding_registers,
            4: client.read_input_registers,
        }[fc]
        resp = await self._call(fc, call(start, count=count, device_id=unit), wait_s)
        values = resp.bits if table.is_bit else resp.registers
        if len(values) < count:
            raise GarbledResponse(f"asked {count} values from unit {unit} fc {fc}, got {len(values)}")
        return [int(v) for v in values[:count]]

    async def write_registers(self, unit: int, address: int, words: Sequence[int]) -> None:
        client = self._require()
        if len(words) == 1:
            await self._call(6, client.write_register(address, words[0], device_id=unit))
        else:
            await self._call(16, client.write_registers(address, list(words), device_id=unit))

    async def write_coil(self, unit: int, address: int, value: bool) -> None:
        await self._call(5, self._require().write_coil(address, value, device_id=unit))

    async def mask_write(self, unit: int, address: int, and_mask: int, or_mask: int) -> None:
        client = self._require()
        pending = client.mask_write_register(
            address=address, and_mask=and_mask, or_mask=or_mask, device_id=unit
        )
        await self._call(22, pending)

    def _require(self) -> Client:
        if not self.connected:
            raise LinkDown(f"not connected to {self.endpoint}")
        assert self._client is not None
        return self._client

    async def _call(self, fc: int, pending: Awaitable[Any], wait_s: float | None = None) -> Any:
        if self._on_request is not None:
            self._on_request(fc)
        limit = self.timeout if wait_s is None else wait_s
        try:
            async with asyncio.timeout(limit):
                resp = await pending
        except TimeoutError as exc:
            if not self.connected:
                raise LinkDown(f"connection to {self.endpoint} lost") from exc
            if self._heard:
                raise GarbledResponse(f"only unusable bytes within {limit:g} s") from exc
            raise RequestTimeout(f"no answer within {limit:g} s") from exc
        except ConnectionException as exc:
            raise LinkDown(f"connection to {self.endpoint} lost: {exc}") from exc
        except (ModbusIOException, ModbusException) as exc:
            if not self.connected:
                raise LinkDown(f"connection to {self.endpoint} lost: {exc}") from exc
            raise GarbledResponse(str(exc)) from exc
        if resp.isError():
            raise ExceptionResponse(int(getattr(resp, "exception_code", 0)), fc)
        if resp.function_code != fc:
            raise GarbledResponse(f"sent function {fc}, answer is function {resp.function_code}")
        return resp
