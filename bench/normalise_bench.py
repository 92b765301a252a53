"""Cost of the normalisation stage per reading, beside the raw driver read cost in the same run.

    .venv/bin/python bench/normalise_bench.py [--polls 500]

A 50-tag Modbus device is served by a simulator in another process (bench/modbus_bench.py's). This
process measures, in CPU seconds: (1) the Modbus driver's read() alone, (2) the telemetry
normaliser + state machine + part counter over the samples those reads returned. Figures are
readings per CPU-second; the ratio says what normalisation adds to collecting.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modbus_bench as mb

from collector.config.modbus import ModbusTcpDevice
from collector.driver_factory import tag_policies
from collector.normalise.device import DeviceNormaliser
from collector.normalise.telemetry import TelemetryNormaliser
from drivers.base import RawSample
from drivers.modbus import BusRegistry, ModbusDriver


def with_rules(port: int) -> ModbusTcpDevice:
    """The bench device plus a state rule and a part counter, as a real device would have."""
    tags = [{"name": n, "address": {"table": t, "offset": a}, "type": typ} for n, t, a, typ in mb.layout()]
    raw: dict[str, object] = {"id": "bench", "protocol": "modbus_tcp", "host": "127.0.0.1", "port": port}
    raw.update(timeout="2s", tags=tags)
    raw["state"] = {
        "template": "conditions",
        "conditions": [
            {"state": "ALARM", "sub": "FAULT", "when": "w1 != 1234"},
            {"state": "RUNNING", "when": "f0 > 100"},
        ],
    }
    raw["counters"] = [{"name": "parts", "tag": "c0", "width": 32}]
    return ModbusTcpDevice.model_validate(raw)


async def read_polls(dev: ModbusTcpDevice, polls: int) -> tuple[float, list[list[RawSample]]]:
    batches = []
    async with ModbusDriver(dev.driver_options(), BusRegistry()) as driver:
        await driver.read()  # warm up: connection made, decoders compiled
        cpu0 = time.process_time()
        for _ in range(polls):
            batches.append(await driver.read())
        return time.process_time() - cpu0, batches


def normalise(dev: ModbusTcpDevice, batches: list[list[RawSample]], state_dir: Path) -> tuple[float, int]:
    telemetry = TelemetryNormaliser(dev.id, 1, tag_policies(dev))
    derived = DeviceNormaliser(dev, state_dir)
    readings = 0
    ts = 1_800_000_000_000
    cpu0 = time.process_time()
    for batch in batches:
        ts += 1000
        out = telemetry.process(batch, ts)
        derived.observe(ts, out)
        readings += len(out)
    return time.process_time() - cpu0, readings


async def main() -> None:
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "bench-50.yaml"
        mb.write_profile(profile)
        proc, port = await mb.start_simulator(profile)
        try:
            dev = with_rules(port)
            read_cpu, batches = await read_polls(dev, args.polls)
        finally:
            proc.terminate()
            await proc.wait()
        norm_cpu, readings = normalise(dev, batches, Path(tmp) / "state")
    values = sum(len(b) for b in batches)
    print(f"{len(dev.tags)} tags x {args.polls} polls = {values} values")
    print(f"reference, driver read():          {values / read_cpu:>10,.0f} values per CPU-second")
    print(f"normalisation (type, seq, state, counter): {readings / norm_cpu:>10,.0f} readings per CPU-second")
    print(f"normalisation adds {100 * norm_cpu / read_cpu:.0f}% to the cost of reading")


if __name__ == "__main__":
    asyncio.run(main())
