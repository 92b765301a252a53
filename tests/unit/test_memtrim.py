"""The once-a-minute malloc_trim: present on this glibc machine, gives freed heap pages back, and
runs while a service's body runs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from collector.memtrim import MemoryTrimmer, trimming
from tests.support.net import async_wait_for

pytestmark = pytest.mark.unit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_heap_pages_go_back_to_the_os() -> None:
    trimmer = MemoryTrimmer()
    assert trimmer.available
    # 1 KB blocks come from malloc (not Python's small-object arenas); keep one in ten, so the
    # freed ones are holes inside the heap rather than its top
    blocks = [bytes(1000) + i.to_bytes(4, "little") for i in range(100_000)]
    kept = blocks[::10]
    del blocks
    assert trimmer.trim() is True
    assert trimmer.trims == 1 and trimmer.released == 1
    assert len(kept) == 10_000


async def test_trimming_runs_while_the_body_runs() -> None:
    async with trimming(every=0.01) as trimmer:
        await async_wait_for(lambda: trimmer.trims >= 2 or not trimmer.available, 10, "two trims")
    count = trimmer.trims
    await asyncio.sleep(0.05)
    assert trimmer.trims == count, "the task stops with the body"
    assert count >= 2 or not trimmer.available


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_frozen_startup_objects_leave_the_passes_and_later_cycles_are_still_freed() -> None:
    import gc
    import weakref

    from collector.memtrim import freeze_startup, thaw

    early = _Node()
    try:
        assert freeze_startup() > 0
        assert gc.is_tracked(early) and not any(o is early for o in gc.get_objects())
        late = _Node()
        gone = weakref.ref(late)
        del late
        gc.collect()
        assert gone() is None, "a cycle made after the freeze is collected as before"
    finally:
        thaw()
    assert gc.get_freeze_count() == 0
    assert any(o is early for o in gc.get_objects()), "thawed: back in the collector's passes"
