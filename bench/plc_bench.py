"""S7 and MC driver benchmark: tag values per CPU-second, beside the bare library / a bare socket.

    .venv/bin/python bench/plc_bench.py --polls 500 --rounds 3

A 50-tag device (20 float32, 15 16-bit words every other word, 5 32-bit integers in one word area,
10 words in a second one) is served by the S7 and MC plant simulators in a separate process (this
script with `--serve`), so this process's `time.process_time()` is the client's CPU only. Measured in
the same run, interleaved, median of rounds:

S7 (python-snap7 3.3):
* ours: `S7Driver.read()` (the plan, one struct per block, quality per tag);
* library, same requests: our plan's requests through python-snap7's protocol and `AsyncClient`, the
  answers parsed by the library and not decoded (the ceiling for these requests);
* library read_tags: `AsyncClient.read_tags()` with the 50 tags — the library's own typed read.
MC (our client):
* ours: `McDriver.read()`;
* bare socket, same frames: the plan's 3E frames written and answered on a plain asyncio socket, no decode;
* bare socket, one read per tag: the same, one 3E batch read per tag.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modbus_bench import layout, measure, write_profile  # noqa: E402  the same 50 tags, the same clock
from snap7.async_client import AsyncClient  # noqa: E402
from snap7.tags import Tag  # noqa: E402
from snap7.type import Area  # noqa: E402

from collector.config.mc import McDevice  # noqa: E402
from collector.config.s7 import S7Device  # noqa: E402
from drivers.mc.driver import McDriver  # noqa: E402
from drivers.s7.driver import S7Driver  # noqa: E402

Poll = Callable[[], Awaitable[int]]  # one poll; returns tag values obtained
S7_TYPES = {"float32": ("real", "REAL"), "uint16": ("word", "WORD"), "int32": ("dint", "DINT")}


def s7_device(port: int) -> S7Device:
    tags = [
        {"name": n, "type": S7_TYPES[typ][0],
         "address": f"DB{1 if t == 'holding_register' else 2}.DB{'W' if typ == 'uint16' else 'D'}{2 * a}"}
        for n, t, a, typ in layout()
    ]  # fmt: skip
    return S7Device.model_validate({"id": "s7", "protocol": "s7", "host": "127.0.0.1", "port": port,
                                    "timeout": "2s", "tags": tags})  # fmt: skip


def mc_device(port: int) -> McDevice:
    tags = [
        {"name": n, "address": f"D{a}" if t == "holding_register" else f"W{a:X}", "type": typ}
        for n, t, a, typ in layout()
    ]
    return McDevice.model_validate({"id": "mc", "protocol": "mc", "host": "127.0.0.1", "port": port,
                                    "timeout": "2s", "tags": tags})  # fmt: skip


async def s7_pollers(port: int) -> tuple[dict[str, Poll], dict[str, int], Callable[[], Awaitable[None]]]:
    drv = S7Driver(s7_device(port).driver_options())
    await drv.__aenter__()
    client = AsyncClient()
    await client.connect("127.0.0.1", 0, 1, port)
    plan = drv.s7.plan(drv.tags)
    specs = [[(b.code, b.db, b.start, b.length) for b in r.blocks] for r in plan]
    tags = [
        Tag(Area.DB, t.db, t.offset, S7_TYPES[typ][1])
        for t, (_, _, _, typ) in zip(drv.tags, layout(), strict=True)
    ]

    async def ours() -> int:
        return sum(s.status == 0 for s in await drv.read())

    async def same_requests() -> int:
        for spec in specs:
            client.protocol.parse_response(bytes(await client.iso_exchange_buffer(
                bytearray(client.protocol.build_multi_read_request(spec)))))  # fmt: skip
        return len(tags)

    async def read_tags() -> int:  # the library takes at most 20 tags a call
        return sum([len(await client.read_tags(tags[i : i + 20])) for i in range(0, len(tags), 20)])

    async def close() -> None:
        await drv.__aexit__(None, None, None)
        await client.disconnect()

    await ours()
    counts = {"ours": len(plan), "library, same requests": len(plan), "library read_tags": len(tags)}
    return (
        {"ours": ours, "library, same requests": same_requests, "library read_tags": read_tags},
        counts,
        close,
    )


async def mc_pollers(port: int) -> tuple[dict[str, Poll], dict[str, int], Callable[[], Awaitable[None]]]:
    drv = McDriver(mc_device(port).driver_options())
    await drv.__aenter__()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames = [drv.mc.frame(r.device.info.code, r.head, r.count) for r in drv.plan]
    singles = [drv.mc.frame(t.device.info.code, t.number, t.words) for t in drv.tags]

    def socket_poll(batch: list[bytes], values: int) -> Poll:
        async def poll() -> int:
            for frame in batch:
                writer.write(frame)
                head = await reader.readexactly(9)
                await reader.readexactly(struct.unpack_from("<H", head, 7)[0])
            return values

        return poll

    async def ours() -> int:
        return sum(s.status == 0 for s in await drv.read())

    async def close() -> None:
        await drv.__aexit__(None, None, None)
        writer.close()

    await ours()
    pollers = {"ours": ours, "bare socket, same frames": socket_poll(frames, len(drv.tags)),
               "bare socket, one read per tag": socket_poll(singles, len(drv.tags))}  # fmt: skip
    counts = {
        "ours": len(frames),
        "bare socket, same frames": len(frames),
        "bare socket, one read per tag": len(singles),
    }
    return pollers, counts, close


async def bench(kind: str, port: int, polls: int, rounds: int) -> None:
    pollers, counts, close = await (s7_pollers(port) if kind == "s7" else mc_pollers(port))
    results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in pollers}
    try:
        for _ in range(rounds):
            for name, poll in pollers.items():
                await poll()  # warm
                results[name].append(await measure(poll, polls))
    finally:
        await close()
    report(kind, polls, rounds, results, counts)


def report(kind: str, polls: int, rounds: int, results: dict[str, Any], counts: dict[str, int]) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{kind.upper()}: 50 tags, {polls} polls x {rounds} rounds (median); server in another process; "
          f"load average {load}")  # fmt: skip
    print(f"{'client':<32} {'values/CPU-s':>13} {'CPU us/poll':>12} {'wall ms/poll':>13} {'req/poll':>9}")
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        print(f"{name:<32} {runs[0][2] / cpu:>13,.0f} {1e6 * cpu / polls:>12,.0f} "
              f"{1e3 * wall / polls:>13.3f} {counts[name]:>9}")  # fmt: skip


async def start_server(kind: str, profile: Path) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", kind, str(profile), stdout=asyncio.subprocess.PIPE, cwd=REPO
    )
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        line = (await proc.stdout.readline()).decode()
    match = re.search(r":(\d+)\s*$", line)
    if not match:
        proc.kill()
        raise SystemExit(f"{kind} simulator did not report its port: {line!r}")
    return proc, int(match.group(1))


async def run(polls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "bench-50.yaml"
        write_profile(profile)
        for kind in ("s7", "mc"):
            proc, port = await start_server(kind, profile)
            try:
                await bench(kind, port, polls, rounds)
            finally:
                proc.terminate()
                await proc.wait()


async def serve(kind: str, profile: Path) -> None:
    """The simulator side (its own process): serve the profile and print the port."""
    from simulators.mc import McSimulator
    from simulators.s7 import S7Simulator

    sim = S7Simulator(profile=profile) if kind == "s7" else McSimulator(profile=profile)
    async with sim:
        print(f"bench {kind} simulator at 127.0.0.1:{sim.port}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--polls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PROFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve[0], Path(args.serve[1])))
    else:
        asyncio.run(run(args.polls, args.rounds))


if __name__ == "__main__":
    main()
