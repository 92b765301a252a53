"""The once-a-minute malloc_trim: present on this glibc machine, gives freed heap pages back, and
runs while a service's body runs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from collector.memtrim import MemoryTrimmer, trimming

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
        for _ in range(500):
            if trimmer.trims >= 2 or not trimmer.available:
                break
            await asyncio.sleep(0.01)
    count = trimmer.trims
    await asyncio.sleep(0.05)
    assert trimmer.trims == count, "the task stops with the body"
    assert count >= 2 or not trimmer.available
