"""The one module that imports python-snap7: the connection, the optimiser's plan, and one read job.

python-snap7's `AsyncClient` does the ISO-on-TCP and COTP handshake, the TSAPs and the PDU size
negotiation; its `S7Protocol` builds the read requests and parses the answers' headers; its optimiser
merges and packs byte areas into PDU-sized requests. What is ours: bounding every exchange by the
device's timeout (and dropping the connection after one, so a late answer is never taken for the next
request's), and reading each item's own return code, so one item the CPU refuses (past the end of a
DB, a DB that does not exist) fails only that item — the library's multi-read helper raises for the
whole request instead.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import defaultdict
from collections.abc import Sequence

from snap7.async_client import AsyncClient
from snap7.datatypes import S7Area, S7WordLen
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.optimizer import ReadItem, merge_items, packetize, sort_items
from snap7.type import Parameter

from drivers.base import DriverError
from drivers.ranges import Span, merge_spans
from drivers.s7.options import MAX_ITEMS_PER_REQUEST, S7DriverOptions
from drivers.s7.plan import AREA_CODES, Request, make_block
from drivers.s7.spec import Area, S7TagSpec

log = logging.getLogger(__name__)
ITEM_OK = 0xFF
# Header error classes/codes an S7-1200/1500 answers when the access itself is not allowed.
REFUSED_BY_PROTECTION = frozenset({0x8104, 0x8500, 0x8703, 0x8304})
_HEADER_OVERHEAD = 18  # S7 header, parameter and one item header: what a reply keeps from the PDU


class LinkDown(DriverError):
    """The connection is gone or could not be made."""


class Timeout(DriverError):
    """No answer within the device's timeout; the connection was dropped."""


class Garbled(DriverError):
    """An answer that does not belong to the request or cannot be parsed."""


class Refused(DriverError):
    """The CPU refused the whole request (an error in the answer's header)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"refused with {code:#06x}: {text}")
        self.code = code


class S7Link:
    """One connection to one CPU; `read(request)` returns (return code, data) per block."""

    def __init__(self, options: S7DriverOptions) -> None:
        self.options = options
        self.timeout = options.timeout
        self.pdu = 0
        self._client: AsyncClient | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.get_connected()

    async def connect(self) -> None:
        o = self.options
        client = AsyncClient()
        remote = o.remote_tsap
        if o.tsap is not None:
            client.set_connection_params(o.host, o.tsap.local, remote)
        client.set_connection_type(remote >> 8)
        client.set_param(Parameter.PDURequest, o.pdu_size)
        try:
            async with asyncio.timeout(2 * self.timeout):
                await client.connect(o.host, (remote >> 5) & 0x7, remote & 0x1F, o.port)
        except (TimeoutError, S7Error, OSError) as exc:
            await _quietly_close(client)
            raise LinkDown(f"cannot connect to {o.host}:{o.port} ({_why(exc)})") from exc
        if client.connection is not None:
            client.connection.timeout = self.timeout  # the library's own wait per receive
        self._client, self.pdu = client, client.get_pdu_length()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _quietly_close(client)

    def plan(self, tags: Sequence[S7TagSpec]) -> list[Request]:
        """Requests covering every tag, within the negotiated PDU (connect first)."""
        o, pdu = self.options, self.pdu or self.options.pdu_size
        byte_tags = [t for t in tags if not t.area.counted]
        items = [
            ReadItem(AREA_CODES[t.area], _db(t), t.offset, 0, t.size, i) for i, t in enumerate(byte_tags)
        ]
        blocks = merge_items(sort_items(items), max_gap=o.max_gap, max_block_size=pdu - _HEADER_OVERHEAD)
        requests: list[Request] = []
        for packet in packetize(blocks, pdu):
            ours = [
                make_block(byte_tags[b.items[0].index].area, b.db_number, b.start_offset, b.byte_length,
                           [byte_tags[i.index] for i in b.items], o.string_encoding)
                for b in packet.blocks
            ]  # fmt: skip
            for at in range(0, len(ours), MAX_ITEMS_PER_REQUEST):
                requests.append(Request(tuple(ours[at : at + MAX_ITEMS_PER_REQUEST])))
        return requests + _counted_requests(tags, pdu, o.string_encoding)

    async def read(self, request: Request) -> list[tuple[int, bytes]]:
        client = self._client
        if client is None:
            raise LinkDown("not connected")
        if request.counted:
            (b,) = request.blocks
            word = S7WordLen.TIMER if b.area is Area.T else S7WordLen.COUNTER
            pdu = client.protocol.build_read_request(S7Area(b.code), 0, b.start, word, b.length)
        else:
            specs = [(b.code, b.db, b.start, b.length) for b in request.blocks]
            pdu = client.protocol.build_multi_read_request(specs)
        answer = await self._exchange(client, pdu)
        return _items(answer, len(request.blocks))

    async def _exchange(self, client: AsyncClient, pdu: bytes) -> bytes:
        try:
            async with asyncio.timeout(self.timeout):
                raw = bytes(await client.iso_exchange_buffer(bytearray(pdu)))
        except (TimeoutError, S7TimeoutError) as exc:
            await self.close()
            raise Timeout(f"no answer within {self.timeout:g} s") from exc
        except (S7ConnectionError, OSError) as exc:
            await self.close()
            raise LinkDown(_why(exc)) from exc
        try:
            parsed = client.protocol.parse_response(raw)
        except S7ProtocolError as exc:
            if exc.error_code:
                raise Refused(exc.error_code, str(exc)) from exc
            await self.close()
            raise Garbled(str(exc)) from exc
        if parsed.get("sequence") != struct.unpack_from(">H", pdu, 4)[0]:
            await self.close()
            raise Garbled("an answer to another request")
        data = parsed.get("raw_data", b"")
        return bytes(data) if isinstance(data, bytes | bytearray) else b""


def _items(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """(return code, bytes) of each item of a read answer; items are padded to even length between."""
    out: list[tuple[int, bytes]] = []
    at = 0
    for i in range(count):
        if at + 4 > len(data):
            raise Garbled(f"answer ends before item {i + 1} of {count}")
        code, size_kind, length = data[at], data[at + 1], struct.unpack_from(">H", data, at + 2)[0]
        at += 4
        size = length // 8 if size_kind in (0x03, 0x04, 0x05) and length > 1 else length
        if code != ITEM_OK:
            out.append((code, b""))
            continue
        out.append((code, data[at : at + size]))
        at += size + (size % 2 if i < count - 1 else 0)
    return out


def _counted_requests(tags: Sequence[S7TagSpec], pdu: int, encoding: str) -> list[Request]:
    by_area: dict[Area, list[S7TagSpec]] = defaultdict(list)
    for t in tags:
        if t.area.counted:
            by_area[t.area].append(t)
    requests = []
    for area, group in sorted(by_area.items()):
        spans = [Span(t.offset, t.offset + 1, t) for t in group]
        for run in merge_spans(spans, (pdu - _HEADER_OVERHEAD) // 2, gap=4):
            requests.append(Request((make_block(area, 0, run.start, run.count, run.items, encoding),)))
    return requests


def _db(tag: S7TagSpec) -> int:
    return 1 if tag.area is Area.V else tag.db


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def _quietly_close(client: AsyncClient) -> None:
    try:
        await client.disconnect()
    except (S7Error, OSError) as exc:  # closing a connection that already failed
        log.debug("closing the S7 connection: %s", exc)
