"""CPU of ten CNC simulators in one process, with no clients, at 1 s updates.

    .venv/bin/python bench/cnc_sim_cpu.py [--seconds 30]

Printed beside it, in the same run: the same ten servers with their update loops off (update
interval 0), i.e. what the asyncua servers cost when idle, so the figure isolates the update work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time

from simulators.opcua import CncSimulator


async def measure(seconds: float, time_scale: float, update_interval: float) -> tuple[float, int]:
    async with contextlib.AsyncExitStack() as stack:
        sims = [
            await stack.enter_async_context(
                CncSimulator(
                    name=f"cnc-{i:02d}", seed=i, time_scale=time_scale, update_interval=update_interval
                )
            )
            for i in range(10)
        ]
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        return share, sum(s.model.snapshot.parts_total for s in sims)


async def main() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    idle, _ = await measure(args.seconds, 1.0, 0.0)
    for scale in (1.0, 60.0):
        share, parts = await measure(args.seconds, scale, 1.0)
        print(
            f"10 CNC simulators, time scale {scale:g}, 1 s updates: {share * 100:.1f}% of one core "
            f"(reference, update loops off: {idle * 100:.1f}%); parts made in the window: {parts}"
        )


if __name__ == "__main__":
    asyncio.run(main())
