"""An S7 driver's read plan: blocks (one address item each) packed into requests that fit the PDU.

The merging and packing of byte areas is python-snap7's multi-variable read optimiser, called from
transport.py (the only module that imports the library); timers and counters, which S7 addresses by
number rather than by byte, get one request per run of numbers (drivers/ranges.py). Each block carries
its compiled decoder, so a poll decodes a block with one struct unpack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.blockcodec import BlockCodec
from drivers.s7.codec import block_codec
from drivers.s7.options import MAX_ITEMS_PER_REQUEST
from drivers.s7.spec import Area, S7TagSpec

# S7 area codes on the wire (V memory is DB1).
AREA_CODES = {
    Area.DB: 0x84, Area.V: 0x84, Area.M: 0x83, Area.I: 0x81, Area.Q: 0x82, Area.T: 0x1D, Area.C: 0x1C,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Block:
    """One address item of a request: `length` bytes (or timers/counters) from `start`."""

    area: Area
    db: int
    start: int
    length: int
    tags: tuple[S7TagSpec, ...]
    codec: BlockCodec = field(compare=False, repr=False)

    @property
    def code(self) -> int:
        return AREA_CODES[self.area]

    def describe(self) -> str:
        where = f"DB{self.db}" if self.code == 0x84 else self.area.value.upper()
        unit = "numbers" if self.area.counted else "bytes"
        names = ", ".join(t.name for t in self.tags)
        span = f"{self.start}..{self.start + self.length - 1}"
        return f"{where} {span} ({self.length} {unit}, {len(self.tags)} tags): {names}"


def make_block(
    area: Area, db: int, start: int, length: int, tags: Sequence[S7TagSpec], encoding: str
) -> Block:
    return Block(area, db, start, length, tuple(tags), block_codec(tags, start, encoding))


@dataclass(frozen=True, slots=True)
class Request:
    """One S7 read job on the wire: several byte blocks, or one run of timers / counters."""

    blocks: tuple[Block, ...]

    @property
    def counted(self) -> bool:
        return self.blocks[0].area.counted


def describe_plan(requests: Sequence[Request], pdu: int) -> str:
    """For `shopfloor probe --plan`: a headline, then each request and its blocks."""
    n_tags = sum(len(b.tags) for r in requests for b in r.blocks)
    lines = [f"{n_tags} tags → {len(requests)} requests per poll (PDU {pdu} bytes)"]
    for i, req in enumerate(requests, 1):
        lines.append(f"  request {i}: {len(req.blocks)} item{'s' * (len(req.blocks) != 1)}")
        lines.extend(f"    {b.describe()}" for b in req.blocks)
    return "\n".join(lines)


def single_items(tags: Sequence[S7TagSpec], pdu: int, encoding: str) -> list[Request]:
    """Each tag (of the byte areas) as its own item, packed into requests that fit the PDU: how a
    refused merged block is narrowed down to the tags the CPU really refuses."""
    requests: list[Request] = []
    current: list[Block] = []
    used = _REPLY_OVERHEAD
    for t in tags:
        cost = 4 + t.size + t.size % 2
        if current and (used + cost > pdu or len(current) == MAX_ITEMS_PER_REQUEST):
            requests.append(Request(tuple(current)))
            current, used = [], _REPLY_OVERHEAD
        db = 1 if t.area is Area.V else t.db
        current.append(make_block(t.area, db, t.offset, t.size, [t], encoding))
        used += cost
    if current:
        requests.append(Request(tuple(current)))
    return requests


_REPLY_OVERHEAD = 14  # S7 header and parameter of a read answer
