"""S7Simulator: a PLC profile in an S7 CPU's memory, served by python-snap7's server.

Layout: holding registers in DB1 (register n at DBW2n, 32-bit values big-endian, as S7 keeps them),
input registers in DB2, coils in M (coil n at M(n/8).(n%8)), discrete inputs in I; 32 timers and 32
counters at zero. The server is the library's (an implementation our driver did not write); a proxy in
front of it gives the stall, drop and restart faults. A `bad` register takes its whole DB (or area)
away until `clear_bad`, so reads of it answer "object does not exist", as after a download without it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from snap7.server import Server
from snap7.type import SrvArea

from simulators.mapped import MappedPlc
from simulators.modbus.device import FAILING
from simulators.modbus.profiles import Table
from simulators.s7.proxy import FaultProxy

log = logging.getLogger(__name__)
# (server area, index) each profile table is laid into
LAYOUT: dict[Table, tuple[SrvArea, int]] = {
    Table.HOLDING_REGISTER: (SrvArea.DB, 1),
    Table.INPUT_REGISTER: (SrvArea.DB, 2),
    Table.COIL: (SrvArea.MK, 0),
    Table.DISCRETE_INPUT: (SrvArea.PE, 0),
}
_COUNTED = ((SrvArea.TM, 0), (SrvArea.CT, 0))


class S7Simulator(MappedPlc):
    def __init__(
        self, name: str = "s7-01", profile: Any = "stacklight-plc", seed: int = 1, host: str = "127.0.0.1",
        port: int = 0, **kw: Any,
    ) -> None:  # fmt: skip
        super().__init__(name, profile, seed, byte_order="ABCD", **kw)
        self.host = host
        self._proxy = FaultProxy(host, port, 0, lambda: self.stalled)
        self._server: Server | None = None
        self._memory: dict[Table, bytearray] = {}
        self._missing: set[Table] = set()

    @property
    def protocol(self) -> str:
        return "S7"

    @property
    def port(self) -> int:
        return self._proxy.port

    @property
    def endpoint(self) -> str:
        return f"s7://{self.host}:{self.port} rack 0 slot 1"

    @property
    def connections(self) -> int:
        return self._proxy.connections

    async def serve(self) -> None:
        server = Server(log=False)
        for table, (area, index) in LAYOUT.items():
            if table not in self._missing:
                server.register_area(area, index, self._area(table))
        for area, index in _COUNTED:
            server.register_area(area, index, bytearray(64))
        server.start(0)  # any free port: only the proxy connects to it
        assert server.server_socket is not None
        self._server, self._proxy.backend_port = server, server.server_socket.getsockname()[1]
        await self._proxy.start()

    async def close(self) -> None:
        await self._proxy.stop()
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop)  # joins the library's threads: keep the loop free

    async def drop_connections(self) -> None:
        await self._proxy.drop()

    def _area(self, table: Table) -> bytearray:
        if table not in self._memory:
            image = self.words(table) if not table.is_bit else self.bits(table)
            self._memory[table] = bytearray(len(image))
        return self._memory[table]

    def publish(self) -> None:
        for table, (area, index) in LAYOUT.items():
            image = self.bits(table) if table.is_bit else self.words(table)
            failing = FAILING in self.unit.status[table]
            self._presence(table, area, index, present=not failing)
            memory = self._area(table)
            if self._server is not None and not failing:
                self._server.lock_area(area, index)
                try:
                    memory[:] = image
                finally:
                    self._server.unlock_area(area, index)
            else:
                memory[:] = image

    def _presence(self, table: Table, area: SrvArea, index: int, *, present: bool) -> None:
        if present == (table not in self._missing):
            return
        if present:
            self._missing.discard(table)
            if self._server is not None:
                self._server.register_area(area, index, self._area(table))
        else:
            self._missing.add(table)
            if self._server is not None:
                self._server.unregister_area(area, index)
