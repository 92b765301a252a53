"""Group a device's tags into the fewest Modbus reads, and read around address holes.

Planning: tags are grouped per (unit id, table), sorted by address and merged greedily left to right.
A tag joins the open request when the unused gap before it is <= the table's max gap and the widened
request still fits the table's limit; otherwise the request is closed and a new one starts.

Why greedy is optimal: if the next tag is refused for its gap, every later tag starts even further
right, so nothing after it can ever share a request with what came before (the unread gap would be
there whatever else is chosen) — the problem splits in two. If it is refused for length, any later tag
that could still fit the open request ends before the refused tag does, and starts no earlier, so it
lies inside the refused tag and rides along free in the refused tag's request; closing now loses
nothing. The property tests check this against an exhaustive search on small random inputs.

Holes: some devices answer exception 02 (ILLEGAL DATA ADDRESS) for a merged read that spans an
unmapped register even though every tag alone is readable (or one tag is not). `bisect_read` splits
such a request along tag boundaries until it has isolated the unreadable tags, reading everything else.
`HoleMemory` remembers the unreadable ranges for a while so `replan` can read around them next cycle.
The driver's loop is then::

    requests, skipped = replan(base_plan, holes, limits)   # skipped tags: report Bad, do not read
    for req in requests:
        result = await read(req)
        if isinstance(result, IllegalAddress):
            found = await bisect_read(req, read)
            holes.remember_holes(found.holes)   # found.bad_tags: report Bad
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from drivers.base import DriverError
from drivers.modbus.options import PlanLimits
from drivers.modbus.spec import ModbusTagSpec, Table

T = TypeVar("T")

ADDRESS_SPACE = 65536


class PlanError(DriverError, ValueError):
    """The tags cannot be read within the limits (a tag is larger than one request allows)."""


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read on the wire and the tags whose values it carries."""

    unit_id: int
    table: Table
    start: int
    count: int
    tags: tuple[ModbusTagSpec, ...]

    @property
    def end(self) -> int:
        """Exclusive end address."""
        return self.start + self.count

    def words_for(self, tag: ModbusTagSpec, data: Sequence[T]) -> Sequence[T]:
        """The slice of this request's registers (or bits) that belongs to `tag`."""
        return data[tag.address - self.start : tag.end - self.start]


def _request(tags: Sequence[ModbusTagSpec]) -> ReadRequest:
    start = min(t.address for t in tags)
    end = max(t.end for t in tags)
    first = tags[0]
    return ReadRequest(first.unit_id, first.table, start, end - start, tuple(tags))


def _sort_key(tag: ModbusTagSpec) -> tuple[int, int, str]:
    return tag.address, tag.end, tag.name


def _check_tag(tag: ModbusTagSpec, limit: int) -> None:
    kind = "bits" if tag.table.is_bit else "registers"
    if tag.count > limit:
        raise PlanError(
            f"tag {tag.name!r} needs {tag.count} {kind} at {tag.table.value} {tag.address} "
            f"(unit {tag.unit_id}), more than one read allows ({limit}); shorten it or split it"
        )
    if tag.address < 0 or tag.end > ADDRESS_SPACE:
        raise PlanError(f"tag {tag.name!r} lies outside the address space 0..{ADDRESS_SPACE - 1}")


def _crosses(holes: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(lo < end and start < hi for lo, hi in holes)


def _plan_group(
    tags: Sequence[ModbusTagSpec], limit: int, gap: int, holes: Sequence[tuple[int, int]]
) -> list[ReadRequest]:
    out: list[ReadRequest] = []
    current: list[ModbusTagSpec] = []
    start = end = 0
    for tag in sorted(tags, key=_sort_key):
        new_end = max(end, tag.end)
        if (
            current
            and tag.address - end <= gap
            and new_end - start <= limit
            and not (holes and _crosses(holes, start, new_end))
        ):
            current.append(tag)
            end = new_end
            continue
        if current:
            out.append(_request(current))
        current, start, end = [tag], tag.address, tag.end
    if current:
        out.append(_request(current))
    return out


def _group(tags: Iterable[ModbusTagSpec]) -> dict[tuple[int, Table], list[ModbusTagSpec]]:
    groups: dict[tuple[int, Table], list[ModbusTagSpec]] = defaultdict(list)
    for tag in tags:
        groups[tag.unit_id, tag.table].append(tag)
    return groups


def plan_reads(
    tags: Iterable[ModbusTagSpec], limits: PlanLimits | None = None, *, holes: HoleMemory | None = None
) -> list[ReadRequest]:
    """Fewest requests covering every tag once, ordered by unit, table and address.

    With `holes`, no request spans a remembered hole; tags inside one must be filtered out first
    (`replan` does both). Raises PlanError for a tag larger than its table's limit.
    """
    limits = limits or PlanLimits()
    out: list[ReadRequest] = []
    for (unit_id, table), group in sorted(_group(tags).items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        limit, gap = limits.for_table(table)
        for tag in group:
            _check_tag(tag, limit)
        known = holes.ranges(unit_id, table) if holes else []
        out.extend(_plan_group(group, limit, gap, known))
    return out


class Replan(NamedTuple):
    requests: list[ReadRequest]
    skipped: list[ModbusTagSpec]  # inside a remembered hole: report Bad without reading


def replan(requests: Iterable[ReadRequest], holes: HoleMemory, limits: PlanLimits | None = None) -> Replan:
    """The plan's tags re-planned around the holes still remembered; tags in a hole are skipped."""
    keep: list[ModbusTagSpec] = []
    skipped: list[ModbusTagSpec] = []
    for req in requests:
        known = holes.ranges(req.unit_id, req.table)
        for tag in req.tags:
            (skipped if known and _crosses(known, tag.address, tag.end) else keep).append(tag)
    return Replan(plan_reads(keep, limits, holes=holes), skipped)


@dataclass(frozen=True, slots=True)
class IllegalAddress:
    """The device answered a read with exception 02, ILLEGAL DATA ADDRESS."""


ReadFn = Callable[[ReadRequest], Awaitable[Sequence[int] | IllegalAddress]]


class Hole(NamedTuple):
    """Addresses [start, end) of one unit and table that the device refuses to read."""

    unit_id: int
    table: Table
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class BisectResult:
    good: list[tuple[ReadRequest, Sequence[int]]]  # sub-requests that succeeded, with their data
    bad_tags: list[ModbusTagSpec]  # tags that cannot be read even alone
    holes: list[Hole]  # the bad tags' ranges, and unused gaps proven to hold a hole
    reads: int  # requests sent while bisecting


def _span(tag: ModbusTagSpec) -> tuple[int, int]:
    return tag.address, tag.end


def _halves(req: ReadRequest) -> list[ReadRequest]:
    """Split a request's tags in two, keeping tags with the same range on the same side."""
    tags = sorted(req.tags, key=_sort_key)
    mid = len(tags) // 2
    while mid < len(tags) and _span(tags[mid]) == _span(tags[mid - 1]):
        mid += 1
    if mid == len(tags):  # the upper half was all one range: cut below it instead
        mid = len(tags) // 2
        while mid > 0 and _span(tags[mid]) == _span(tags[mid - 1]):
            mid -= 1
    return [_request(tags[:mid]), _request(tags[mid:])]


def _one_range(req: ReadRequest) -> bool:
    first = req.tags[0]
    return all(t.address == first.address and t.end == first.end for t in req.tags)


class _Bisection:
    """One bisection run; `split` is called on a request known to have failed with 02."""

    def __init__(self, read: ReadFn) -> None:
        self.read = read
        self.good: list[tuple[ReadRequest, Sequence[int]]] = []
        self.bad: list[ModbusTagSpec] = []
        self.holes: list[Hole] = []
        self.reads = 0

    async def attempt(self, req: ReadRequest) -> bool:
        data = await self.read(req)
        self.reads += 1
        if isinstance(data, IllegalAddress):
            await self.split(req)
            return False
        self.good.append((req, data))
        return True

    async def split(self, req: ReadRequest) -> None:
        if _one_range(req):  # nothing left to split: these tags are the hole
            self.bad.extend(req.tags)
            self.holes.append(Hole(req.unit_id, req.table, req.start, req.end))
            return
        left, right = _halves(req)
        left_ok = await self.attempt(left)
        right_ok = await self.attempt(right)
        # Both halves read but the whole did not: the hole is in the unused space between them.
        if left_ok and right_ok and left.end < right.start:
            self.holes.append(Hole(req.unit_id, req.table, left.end, right.start))


async def bisect_read(req: ReadRequest, read: ReadFn, *, first_failed: bool = True) -> BisectResult:
    """Read `req` by halves until the tags (or unused gaps) behind exception 02 are isolated.

    `first_failed` says the caller already got 02 for `req` itself, so it is not read again.
    Costs at most 2·k·ceil(log2 n) reads for k holes among n tags. Other errors from `read`
    propagate. If both halves of a failed request read fine and touch or overlap, the hole cannot
    be placed and nothing is remembered for it (the device refused for some other reason).
    """
    run = _Bisection(read)
    if first_failed:
        await run.split(req)
    else:
        await run.attempt(req)
    return BisectResult(run.good, run.bad, run.holes, run.reads)


class HoleMemory:
    """Address ranges a device refused, per (unit, table), each forgotten `ttl` seconds after learning.

    `ttl=None` keeps them until `clear()`, which the driver calls on reconnect (the device may have
    been reconfigured). The clock is injectable so tests need not sleep.
    """

    def __init__(self, ttl: float | None = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._holes: dict[tuple[int, Table], dict[tuple[int, int], float]] = {}

    def remember(self, unit_id: int, table: Table, start: int, end: int) -> None:
        expires = float("inf") if self._ttl is None else self._clock() + self._ttl
        self._holes.setdefault((unit_id, table), {})[start, end] = expires

    def remember_holes(self, holes: Iterable[Hole]) -> None:
        for hole in holes:
            self.remember(hole.unit_id, hole.table, hole.start, hole.end)

    def remember_tags(self, tags: Iterable[ModbusTagSpec]) -> None:
        for tag in tags:
            self.remember(tag.unit_id, tag.table, tag.address, tag.end)

    def ranges(self, unit_id: int, table: Table) -> list[tuple[int, int]]:
        """Unexpired holes of one unit and table, sorted; expired ones are dropped on the way."""
        held = self._holes.get((unit_id, table))
        if not held:
            return []
        now = self._clock()
        for key in [k for k, expires in held.items() if expires <= now]:
            del held[key]
        return sorted(held)

    def clear(self) -> None:
        self._holes.clear()

    def __len__(self) -> int:
        return sum(len(self.ranges(unit, table)) for unit, table in list(self._holes))


def describe_plan(requests: Sequence[ReadRequest]) -> str:
    """Human summary for `shopfloor probe --plan`: a headline and one line per request."""
    n_tags = sum(len(r.tags) for r in requests)
    lines = [f"{n_tags} tag{'s' * (n_tags != 1)} → {len(requests)} request{'s' * (len(requests) != 1)}"]
    for r in requests:
        kind = "bits" if r.table.is_bit else "registers"
        names = ", ".join(t.name for t in sorted(r.tags, key=_sort_key))
        lines.append(
            f"  unit {r.unit_id} {r.table.value} {r.start}..{r.end - 1} ({r.count} {kind}, "
            f"{len(r.tags)} tags): {names}"
        )
    return "\n".join(lines)
