"""S7 driver: one CPU, every tag read once per `read()` in the fewest PDU-sized requests.

    async with S7Driver(options) as drv:      # connects (bounded by 2 x timeout) or DeviceUnreachable
        samples = await drv.read()            # one RawSample per tag, in configuration order

The plan is made at connect time from the PDU size the CPU granted (python-snap7's optimiser merges
nearby tags of one area into blocks and packs blocks into requests). Each block comes back with its
own return code: a block the CPU refuses makes only its tags Bad. A merged block refused as "address
out of range" (a tag past the end of a DB) is read again tag by tag; the tags that fail alone are
remembered (`unreadable_ttl`, until reconnect) and the next polls read around them.

`read()` raises only DeviceUnreachable (connection lost or cannot be made); it reconnects by itself
at the start of the next `read()`. A request without an answer within `timeout` makes its tags
BAD_TIMEOUT, the remaining requests of that poll are not sent, and the connection is re-opened on the
next poll. Read-only: the driver sends read jobs only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from drivers.base import RawSample
from drivers.blockpoll import BlockPollingDriver
from drivers.s7.options import S7DriverOptions
from drivers.s7.plan import Block, Request, describe_plan, single_items
from drivers.s7.spec import S7TagSpec
from drivers.s7.transport import ITEM_OK, REFUSED_BY_PROTECTION, Garbled, LinkDown, Refused, S7Link, Timeout
from drivers.status import (
    BAD_COMMUNICATION_ERROR,
    BAD_DEVICE_FAILURE,
    BAD_NODE_ID_UNKNOWN,
    BAD_NOT_READABLE,
    BAD_TIMEOUT,
    BAD_TYPE_MISMATCH,
    BAD_USER_ACCESS_DENIED,
)

log = logging.getLogger(__name__)

ADDRESS_OUT_OF_RANGE = 0x05
# An item's return code -> (status of its tags, what to tell the integrator).
ITEM_CODES: dict[int, tuple[int, str]] = {
    0x01: (BAD_DEVICE_FAILURE, "hardware error in the CPU"),
    0x03: (
        BAD_USER_ACCESS_DENIED,
        "access to the object not allowed: on S7-1200/1500 untick 'Optimized block access' "
        "(优化的块访问) in the DB's properties, compile and download",
    ),
    0x05: (BAD_NOT_READABLE, "address out of range (past the end of the DB or area)"),
    0x06: (BAD_TYPE_MISMATCH, "data type not supported"),
    0x07: (BAD_TYPE_MISMATCH, "data type inconsistent"),
    0x0A: (BAD_NODE_ID_UNKNOWN, "object does not exist (no such DB in the CPU)"),
}
PUT_GET_HINT = (
    "the CPU refuses PUT/GET access: in TIA Portal open the CPU's properties → Protection & Security → "
    "Connection mechanisms (连接机制), tick 'Permit access with PUT/GET communication from remote "
    "partner' (允许来自远程对象的 PUT/GET 通信访问), and download the hardware configuration"
)


class S7Driver(BlockPollingDriver[S7TagSpec, Request, bytes]):
    """Polls one S7 CPU; see the module doc for the contract."""

    link_down = LinkDown

    def __init__(self, options: S7DriverOptions) -> None:
        self.options = options
        self.s7 = S7Link(options)
        super().__init__(options.id, options.tags, self.s7, options.unreadable_ttl, log)

    def _make_plan(self, tags: Sequence[S7TagSpec]) -> list[Request]:
        return self.s7.plan(tags)

    def describe_plan(self) -> str:
        return describe_plan(self._current_plan(), self.s7.pdu or self.options.pdu_size)

    async def _read_all(self, plan: Sequence[Request], got: dict[str, RawSample], failures: set[str]) -> None:
        timed_out = False
        for req in plan:
            if timed_out:  # the CPU is not answering: do not spend a timeout per request
                self._put_request_bad(got, req, BAD_TIMEOUT)
                continue
            try:
                answers = await self._send(req)
            except Timeout as exc:
                self.stats.timeouts += 1
                self._put_request_bad(got, req, BAD_TIMEOUT)
                failures.add(str(exc))
                timed_out = True
                continue
            except Refused as exc:
                self.stats.refused[f"{exc.code:#06x}"] += 1
                protected = exc.code in REFUSED_BY_PROTECTION
                self._put_request_bad(got, req, BAD_USER_ACCESS_DENIED if protected else BAD_DEVICE_FAILURE)
                failures.add(PUT_GET_HINT if protected else str(exc))
                continue
            except Garbled as exc:
                self._put_request_bad(got, req, BAD_COMMUNICATION_ERROR)
                failures.add(f"garbled answer ({exc})")
                continue
            for block, (code, data) in zip(req.blocks, answers, strict=True):
                await self._settle(block, code, data, got, failures)

    @classmethod
    def _put_request_bad(cls, got: dict[str, RawSample], req: Request, status: int) -> None:
        for block in req.blocks:
            cls._put_bad(got, block.tags, status)

    async def _send(self, req: Request) -> list[tuple[int, bytes]]:
        started = time.perf_counter()
        self.stats.requests += 1
        answers = await self.s7.read(req)
        self.stats.last_latency_s = time.perf_counter() - started
        return answers

    async def _settle(
        self, block: Block, code: int, data: bytes, got: dict[str, RawSample], failures: set[str]
    ) -> None:
        if code == ITEM_OK:
            self._decode(block, data, got)
            return
        self.stats.refused[f"{code:#04x}"] += 1
        if code == ADDRESS_OUT_OF_RANGE and not block.area.counted and _spans_several(block):
            await self._isolate(block, got, failures)
            return
        status, why = ITEM_CODES.get(code, (BAD_DEVICE_FAILURE, f"item refused with code {code:#04x}"))
        for tag in block.tags:
            got[tag.name] = RawSample(tag.name, None, status)
        failures.add(f"{block.describe().split(':')[0]}: {why}")

    async def _isolate(self, block: Block, got: dict[str, RawSample], failures: set[str]) -> None:
        """Read a refused block's tags one item each; remember the ones the CPU refuses alone."""
        refused: list[str] = []
        pdu = self.s7.pdu or self.options.pdu_size
        for req in single_items(block.tags, pdu, self.options.string_encoding):
            for single, (code, data) in zip(req.blocks, await self._send(req), strict=True):
                if code == ITEM_OK:
                    self._decode(single, data, got)
                else:
                    status = ITEM_CODES.get(code, (BAD_DEVICE_FAILURE, ""))[0]
                    got[single.tags[0].name] = RawSample(single.tags[0].name, None, status)
                    refused.append(single.tags[0].name)
        self._remember_refused(refused, failures, "address out of range (past the end of the DB or area)")

    def _decode(self, block: Block, data: bytes, got: dict[str, RawSample]) -> None:
        self._put_decoded(got, block.tags, block.codec, data)
        if self._raw is not None:
            for tag in block.tags:
                at = 2 * (tag.offset - block.start) if tag.area.counted else tag.offset - block.start
                self._raw[tag.name] = bytes(data[at : at + tag.size])


def _spans_several(block: Block) -> bool:
    first = block.tags[0]
    return any((t.offset, t.size) != (first.offset, first.size) for t in block.tags)
