"""CPU cost of ten CNC simulators in one process (opt-in: SHOPFLOOR_BENCH=1).

SHOPFLOOR_BENCH=1 .venv/bin/python -m pytest tests/integration/test_cnc_load.py -q -s
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest

from simulators.opcua import CncSimulator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("SHOPFLOOR_BENCH") != "1", reason="benchmark; set SHOPFLOOR_BENCH=1"),
]


@pytest.mark.parametrize("time_scale", [1.0, 60.0])
async def test_ten_simulators_cpu(time_scale: float) -> None:
    seconds = float(os.environ.get("SHOPFLOOR_BENCH_SECONDS", "30"))
    async with contextlib.AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(
                CncSimulator(name=f"cnc-{i:02d}", seed=i, time_scale=time_scale, update_interval=1.0)
            )
            for i in range(10)
        ]
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        parts = sum(s.model.snapshot.parts_total for s in sims)
    share = 100 * cpu / wall
    print(f"\n10 sims, time_scale={time_scale}: {cpu:.2f} s CPU in {wall:.1f} s = {share:.1f}% of a core")
    print(f"parts produced (sim): {parts}")
    assert share < 25
