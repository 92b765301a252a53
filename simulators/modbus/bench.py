"""CPU benchmark: N PLC simulators in this process, polled once per second by a client process.

    python -m simulators.modbus.bench --count 20 --seconds 30

The poller runs as a separate process so the simulator process's CPU time
(``time.process_time``) measures only the simulators.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import sys
import time

from simulators.modbus.simulator import PlcSimulator

log = logging.getLogger(__name__)

# (profile, function, address, count) read by the poller for each simulator
_READS = {
    "stacklight-plc": [(1, 0, 5), (3, 0, 8)],
    "energy-meter": [(3, 0, 12), (3, 20, 2)],
    "injection-molding": [(1, 0, 4), (3, 0, 15), (4, 0, 1)],
}
_PROFILES = list(_READS)


async def poll(targets: list[tuple[int, str]], seconds: float) -> int:
    from pymodbus.client import AsyncModbusTcpClient

    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0) for port, _ in targets]
    for c in clients:
        await c.connect()
    errors = 0
    end = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < end:
        for c, (_, profile) in zip(clients, targets, strict=True):
            for fc, address, count in _READS[profile]:
                read = {1: c.read_coils, 3: c.read_holding_registers, 4: c.read_input_registers}[fc]
                try:
                    rr = await read(address, count=count, device_id=1)
                    errors += rr.isError()
                except Exception:
                    errors += 1
        next_tick += 1.0
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    for c in clients:
        c.close()
    return errors


async def bench(count: int, seconds: float, update_interval: float, time_scale: float) -> None:
    sims = [
        PlcSimulator(
            name=f"plc-{i:02d}",
            profile=_PROFILES[i % 3],
            seed=i,
            update_interval=update_interval,
            time_scale=time_scale,
        )
        for i in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for sim in sims:
            await stack.enter_async_context(sim)
        args = [f"{s.port}:{s.profiles[1]}" for s in sims]
        cpu0, wall0 = time.process_time(), time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators.modbus.bench", "--poll", str(seconds), *args
        )
        await proc.wait()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"{count} simulators (time_scale {time_scale}), update every {update_interval} s, "
        f"polled 1/s for {wall:.1f} s: "
        f"simulator process CPU {cpu:.2f} s = {100 * cpu / wall:.1f} % of one core; "
        f"poller process CPU {child.ru_utime + child.ru_stime:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--update-interval", type=float, default=1.0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--poll", type=float, help=argparse.SUPPRESS)
    parser.add_argument("targets", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll is not None:
        targets = [(int(p), prof) for p, prof in (t.split(":", 1) for t in args.targets)]
        errors = asyncio.run(poll(targets, args.poll))
        print(f"poller: {errors} errors")
        return
    asyncio.run(bench(args.count, args.seconds, args.update_interval, args.time_scale))


if __name__ == "__main__":
    main()
