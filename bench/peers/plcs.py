"""N Modbus TCP PLC simulators in one process, with request counts on demand (the peers bench's devices).

    .venv/bin/python bench/peers/plcs.py --devices 20 --tags 50

Each simulator serves T holding registers 0..T-1 (uint16, noisy values refreshed every second) on its
own free port. The process prints one JSON line {"ports": [...]} when all listen, then answers every
"stats" line on stdin with {"requests": [per simulator], "connections": [...]} (the simulator's own
request counter, so no proxy sits between the tool and the device). Ends on EOF or "quit".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from simulators.modbus import PlcSimulator  # noqa: E402


def write_profile(path: Path, tags: int) -> None:
    lines = ["name: peers-bench", "registers:"]
    for i in range(tags):
        src = f"{{noise: {{mean: {1000 + 10 * i}, amplitude: 5.0}}}}"
        lines.append(
            f"  - {{name: r{i}, table: holding_register, address: {i}, type: uint16, source: {src}}}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def serve(devices: int, tags: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "peers-bench.yaml"
        write_profile(profile, tags)
        sims = [
            PlcSimulator(name=f"plc-{i:03d}", profile=profile, seed=i + 1, port=0) for i in range(devices)
        ]
        async with contextlib.AsyncExitStack() as stack:
            for sim in sims:
                await stack.enter_async_context(sim)
            print(json.dumps({"ports": [s.port for s in sims]}), flush=True)
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            while True:
                line = (await reader.readline()).decode().strip()
                if not line or line == "quit":
                    return
                if line == "stats":
                    stats = {
                        "requests": [s.device().requests for s in sims],
                        "connections": [s.connections for s in sims],
                    }
                    print(json.dumps(stats), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--tags", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(serve(args.devices, args.tags))


if __name__ == "__main__":
    main()
