"""Modbus read planning: merging, limits, optimality against exhaustive search, and hole bisection."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.planner import (
    HoleMemory,
    IllegalAddress,
    PlanError,
    PlanLimits,
    ReadRequest,
    bisect_read,
    describe_plan,
    plan_reads,
    replan,
)
from drivers.modbus.spec import DataType, ModbusTagSpec, Table

pytestmark = pytest.mark.unit

HR = Table.HOLDING_REGISTER
_names = count()


def reg(
    address: int, size: int = 1, unit: int = 1, table: Table = HR, name: str | None = None
) -> ModbusTagSpec:
    """A register tag of `size` registers (a string when size > 1 keeps any size possible)."""
    dt = DataType.UINT16 if size == 1 else DataType.STRING
    return ModbusTagSpec(
        name or f"t{next(_names)}", unit, table, address, dt, length=size if size > 1 else None
    )


def bit(address: int, unit: int = 1, table: Table = Table.COIL) -> ModbusTagSpec:
    return ModbusTagSpec(f"b{next(_names)}", unit, table, address, DataType.BOOL)


def spans(requests: Sequence[ReadRequest]) -> list[tuple[int, int]]:
    return [(r.start, r.count) for r in requests]


# --- examples ---------------------------------------------------------------------------------


def test_adjacent_and_near_tags_merge_but_far_ones_do_not() -> None:
    tags = [reg(0), reg(1, 2), reg(13), reg(24)]  # gaps: 0, 10, 10 -> one request
    assert spans(plan_reads(tags)) == [(0, 25)]
    tags = [reg(0), reg(12)]  # gap 11 > 10
    assert spans(plan_reads(tags)) == [(0, 1), (12, 1)]


def test_requests_never_exceed_the_register_limit() -> None:
    tags = [reg(a) for a in range(0, 300)]
    requests = plan_reads(tags)
    assert spans(requests) == [(0, 125), (125, 125), (250, 50)]


def test_units_and_tables_are_planned_separately() -> None:
    tags = [reg(0, unit=2), reg(1, unit=1), reg(2, table=Table.INPUT_REGISTER), bit(0), bit(1)]
    requests = plan_reads(tags)
    keys = [(r.unit_id, r.table, r.start, r.count) for r in requests]
    assert keys == [
        (1, Table.COIL, 0, 2),
        (1, HR, 1, 1),
        (1, Table.INPUT_REGISTER, 2, 1),
        (2, HR, 0, 1),
    ]


def test_bit_tables_use_bit_limits_and_gaps() -> None:
    tags = [bit(a) for a in (0, 33, 66, 100)]  # gaps 32, 32, 33 with max_bit_gap 32
    assert spans(plan_reads(tags)) == [(0, 67), (100, 1)]
    tags = [bit(a) for a in range(2500)]
    assert spans(plan_reads(tags)) == [(0, 2000), (2000, 500)]


def test_overlapping_tags_share_one_request() -> None:
    word = ModbusTagSpec("power", 1, HR, 10, DataType.UINT32)
    flag = ModbusTagSpec("flag", 1, HR, 11, DataType.BOOL, bit=3)
    flag2 = ModbusTagSpec("flag2", 1, HR, 10, DataType.BOOL, bit=0)
    [request] = plan_reads([flag, word, flag2])
    assert (request.start, request.count) == (10, 2)
    assert {t.name for t in request.tags} == {"power", "flag", "flag2"}
    assert list(request.words_for(flag, [0xAAAA, 0x0008])) == [0x0008]


def test_a_tag_larger_than_one_read_is_a_plan_error() -> None:
    long_string = reg(100, 130, name="serial_no")
    with pytest.raises(PlanError, match=r"'serial_no' needs 130 registers .* \(125\)"):
        plan_reads([long_string])
    with pytest.raises(PlanError, match="needs 12 registers"):
        plan_reads([reg(0, 12)], PlanLimits(max_registers=10))


def test_tags_beyond_the_address_space_are_a_plan_error() -> None:
    with pytest.raises(PlanError, match="address space"):
        plan_reads([reg(65535, 2)])


@pytest.mark.parametrize(
    "kw", [{"max_registers": 0}, {"max_registers": 126}, {"max_bits": 2001}, {"max_register_gap": -1}]
)
def test_limits_outside_the_protocol_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PlanLimits(**kw)


def test_describe_plan_lists_each_request() -> None:
    tags = [reg(0, name="speed"), reg(1, 2, name="serial"), reg(40, name="temp"), bit(5)]
    text = describe_plan(plan_reads(tags))
    assert text.splitlines() == [
        "4 tags → 3 requests",
        f"  unit 1 coil 5..5 (1 bits, 1 tags): {tags[3].name}",
        "  unit 1 holding_register 0..2 (3 registers, 2 tags): speed, serial",
        "  unit 1 holding_register 40..40 (1 registers, 1 tags): temp",
    ]
    assert describe_plan([]) == "0 tags → 0 requests"


# --- properties against an independent exhaustive search ------------------------------------


def block_ok(block: Iterable[ModbusTagSpec], limit: int, gap: int) -> bool:
    """Can these tags be one read? Span within the limit and no unused run longer than `gap`."""
    tags = list(block)
    start = min(t.address for t in tags)
    end = max(t.end for t in tags)
    if end - start > limit:
        return False
    used = {a for t in tags for a in range(t.address, t.end)}
    run = 0
    for address in range(start, end):
        run = 0 if address in used else run + 1
        if run > gap:
            return False
    return True


def fewest_reads(tags: Sequence[ModbusTagSpec], limit: int, gap: int) -> int:
    """Minimum number of reads over every partition of the tags (bitmask DP over subsets)."""
    n = len(tags)

    @cache
    def best(mask: int) -> float:
        if mask == 0:
            return 0
        low = mask & -mask
        rest = mask ^ low
        result = math.inf
        sub = rest
        while True:  # every block containing the lowest remaining tag
            block = sub | low
            if block_ok((tags[i] for i in range(n) if block >> i & 1), limit, gap):
                result = min(result, 1 + best(mask ^ block))
            if sub == 0:
                break
            sub = (sub - 1) & rest
        return result

    return int(best((1 << n) - 1))


def small_tags(max_size: int = 6, max_tags: int = 8) -> st.SearchStrategy[list[ModbusTagSpec]]:
    tag = st.builds(lambda a, s: reg(a, s), st.integers(0, 30), st.integers(1, max_size))
    return st.lists(tag, min_size=1, max_size=max_tags)


@settings(max_examples=400, deadline=None)
@given(small_tags(), st.integers(6, 14), st.integers(0, 4))
def test_greedy_plan_matches_exhaustive_optimum(tags: list[ModbusTagSpec], limit: int, gap: int) -> None:
    limits = PlanLimits(max_registers=limit, max_register_gap=gap)
    assert len(plan_reads(tags, limits)) == fewest_reads(tags, limit, gap)


mixed_tag = st.one_of(
    st.builds(lambda a, s, u: reg(a, s, unit=u), st.integers(0, 200), st.integers(1, 8), st.integers(1, 2)),
    st.builds(lambda a, u: bit(a, unit=u), st.integers(0, 200), st.integers(1, 2)),
    st.builds(lambda a: reg(a, table=Table.INPUT_REGISTER), st.integers(0, 200)),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(mixed_tag, max_size=40),
    st.integers(8, 20),
    st.integers(0, 6),
    st.integers(1, 40),
    st.integers(0, 8),
)
def test_plan_covers_every_tag_once_within_limits_and_gaps(
    tags: list[ModbusTagSpec], max_regs: int, reg_gap: int, max_bits: int, bit_gap: int
) -> None:
    limits = PlanLimits(
        max_registers=max_regs, max_register_gap=reg_gap, max_bits=max_bits, max_bit_gap=bit_gap
    )
    requests = plan_reads(tags, limits)
    planned = [id(t) for r in requests for t in r.tags]
    assert sorted(planned) == sorted(id(t) for t in tags)
    for r in requests:
        limit, gap = limits.for_table(r.table)
        assert r.count <= limit
        assert all(t.unit_id == r.unit_id and t.table == r.table for t in r.tags)
        assert r.start == min(t.address for t in r.tags) and r.end == max(t.end for t in r.tags)
        assert block_ok(r.tags, limit, gap)


# --- holes -----------------------------------------------------------------------------------


class FakeDevice:
    """In-memory register space: reads spanning any hole answer exception 02."""

    def __init__(self, holes: Iterable[int]) -> None:
        self.holes = set(holes)
        self.reads: list[ReadRequest] = []

    async def read(self, req: ReadRequest) -> list[int] | IllegalAddress:
        self.reads.append(req)
        if any(a in self.holes for a in range(req.start, req.end)):
            return IllegalAddress()
        return [(a * 7) & 0xFFFF for a in range(req.start, req.end)]


def values_by_tag(results: Iterable[tuple[ReadRequest, Sequence[int]]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for req, data in results:
        for tag in req.tags:
            assert tag.name not in out, "a tag was read twice"
            out[tag.name] = list(req.words_for(tag, data))
    return out


async def test_bisection_finds_exactly_the_tags_in_holes_and_reads_the_rest() -> None:
    tags = [reg(a * 2, 2, name=f"r{a}") for a in range(60)]  # 120 registers, no gaps
    [request] = plan_reads(tags)
    device = FakeDevice(holes={17, 64, 65, 119})
    assert isinstance(await device.read(request), IllegalAddress)
    found = await bisect_read(request, device.read)
    assert sorted(t.name for t in found.bad_tags) == ["r32", "r59", "r8"]
    got = values_by_tag(found.good)
    good_tags = [t for t in tags if t.name not in {"r8", "r32", "r59"}]
    assert got == {t.name: [(a * 7) & 0xFFFF for a in range(t.address, t.end)] for t in good_tags}
    assert found.reads == len(device.reads) - 1
    assert found.reads <= 2 * 3 * math.ceil(math.log2(60))


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 100), st.sets(st.integers(0, 99), max_size=4), st.data())
async def test_bisection_reads_are_logarithmic_per_hole(
    n: int, hole_tags: set[int], data: st.DataObject
) -> None:
    tags = [reg(a, name=f"r{a}") for a in range(n)]
    holes = {h for h in hole_tags if h < n}
    device = FakeDevice(holes)
    request = ReadRequest(1, HR, 0, n, tuple(tags))
    found = await bisect_read(request, device.read, first_failed=False)
    assert {t.address for t in found.bad_tags} == holes
    assert set(values_by_tag(found.good)) == {t.name for t in tags if t.address not in holes}
    k = len(holes)
    assert found.reads <= 1 + 2 * k * math.ceil(math.log2(n))


async def test_a_hole_in_unused_space_is_located_and_no_tag_is_bad() -> None:
    tags = [reg(0, name="a"), reg(5, name="b")]
    [request] = plan_reads(tags)
    device = FakeDevice(holes={3})
    found = await bisect_read(request, device.read)
    assert found.bad_tags == []
    assert set(values_by_tag(found.good)) == {"a", "b"}
    assert [(h.start, h.end) for h in found.holes] == [(1, 5)]


async def test_tags_sharing_one_range_are_condemned_together() -> None:
    flags = [ModbusTagSpec(f"f{b}", 1, HR, 9, DataType.BOOL, bit=b) for b in range(16)]
    [request] = plan_reads([*flags, reg(8, name="x")])
    device = FakeDevice(holes={9})
    found = await bisect_read(request, device.read)
    assert sorted(t.name for t in found.bad_tags) == sorted(f.name for f in flags)
    assert found.reads == 2  # one read per side of the single split


async def test_remembered_holes_are_read_around_on_the_next_cycle() -> None:
    tags = [reg(a, name=f"r{a}") for a in range(0, 40, 2)]
    base = plan_reads(tags)
    device = FakeDevice(holes={11, 21, 30})  # 11 and 21 are unused space, 30 is tag r30
    clock = [0.0]
    holes = HoleMemory(ttl=60.0, clock=lambda: clock[0])

    async def poll() -> tuple[dict[str, list[int]], set[str], int, int]:
        """One driver cycle: values, Bad tags, reads sent, reads refused with 02."""
        before = len(device.reads)
        refused = 0
        requests, skipped = replan(base, holes)
        values: dict[str, list[int]] = {}
        bad = {t.name for t in skipped}
        for req in requests:
            result = await device.read(req)
            if isinstance(result, IllegalAddress):
                refused += 1
                found = await bisect_read(req, device.read)
                holes.remember_holes(found.holes)
                bad |= {t.name for t in found.bad_tags}
                values |= values_by_tag(found.good)
            else:
                values |= values_by_tag([(req, result)])
        return values, bad, len(device.reads) - before, refused

    first, bad1, reads1, refused1 = await poll()
    second, bad2, reads2, refused2 = await poll()
    assert bad1 == bad2 == {"r30"}
    assert first == second and len(first) == len(tags) - 1
    assert refused1 == 1 and refused2 == 0
    assert reads2 == 4 < reads1
    assert spans(replan(base, holes).requests) == [(0, 11), (12, 9), (22, 7), (32, 7)]

    clock[0] = 61.0  # holes expire: the next cycle tries the merged read again
    assert len(holes) == 0
    assert replan(base, holes).requests == base


def test_hole_memory_clear_and_per_table_isolation() -> None:
    holes = HoleMemory(ttl=None)
    holes.remember(1, HR, 10, 12)
    assert holes.ranges(1, HR) == [(10, 12)]
    assert holes.ranges(2, HR) == [] and holes.ranges(1, Table.INPUT_REGISTER) == []
    holes.clear()
    assert len(holes) == 0


def test_replan_skips_tags_in_holes_and_splits_around_them() -> None:
    tags = [reg(a, name=f"r{a}") for a in range(10)]
    holes = HoleMemory(ttl=None)
    holes.remember(1, HR, 4, 5)
    requests, skipped = replan(plan_reads(tags), holes)
    assert [t.name for t in skipped] == ["r4"]
    assert spans(requests) == [(0, 4), (5, 5)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.builds(lambda a, s: reg(a, s), st.integers(0, 120), st.integers(1, 4)), max_size=30),
    st.lists(st.tuples(st.integers(0, 120), st.integers(1, 5)), max_size=4),
)
def test_replan_never_reads_a_hole_and_keeps_every_other_tag(
    tags: list[ModbusTagSpec], hole_spans: list[tuple[int, int]]
) -> None:
    holes = HoleMemory(ttl=None)
    for start, size in hole_spans:
        holes.remember(1, HR, start, start + size)
    limits = PlanLimits(max_registers=20, max_register_gap=5)
    requests, skipped = replan(plan_reads(tags, limits), holes, limits)
    bad = {a for s, n in hole_spans for a in range(s, s + n)}
    for r in requests:
        assert not bad & set(range(r.start, r.end))
        assert r.count <= 20 and block_ok(r.tags, 20, 5)
    kept = sorted(id(t) for r in requests for t in r.tags)
    assert kept == sorted(id(t) for t in tags if not bad & set(range(t.address, t.end)))
    assert sorted(id(t) for t in skipped) == sorted(id(t) for t in tags if bad & set(range(t.address, t.end)))
