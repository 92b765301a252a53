"""Cost of the per-device OEE tracker (hour, shift and day windows), day by day of a simulated run,
beside the same device's state machine and part counters without a calendar in the same run.

    .venv/bin/python bench/kpi_bench.py [--days 3] [--step 5]

One device read every `step` simulated seconds: a run flag that flips now and then and a part
counter that moves while it runs. No I/O: this isolates what normalisation costs per reading.
The figure to watch is whether the per-reading cost (and the tracker's open windows) stays flat
from the first day to the last.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from collector.config.calendar import CalendarConfig
from collector.config.modbus import ModbusTcpDevice
from collector.model import Reading
from collector.normalise.device import DeviceNormaliser
from collector.normalise.shifts import ShiftCalendar

DAY_MS = 86_400_000
START = int(datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)

DEVICE = ModbusTcpDevice.model_validate(
    {
        "id": "m1", "protocol": "modbus_tcp", "host": "h",
        "tags": [{"name": "run", "address": "000001", "type": "bool"},
                 {"name": "made", "address": "400001", "type": "uint16"}],
        "state": {"template": "conditions", "debounce": {"default": "3s"}, "micro_stop": "20s",
                  "conditions": [{"state": "RUNNING", "when": "run == true"}]},
        "counters": [{"name": "parts", "tag": "made"}],
        "oee": {"ideal_cycle_time": "20s"},
    }
)  # fmt: skip
CALENDAR = CalendarConfig.model_validate(
    {
        "shifts": [
            {"name": "A", "start": "08:00", "end": "16:30"},
            {"name": "B", "start": "16:30", "end": "01:00"},
        ],
        "breaks": [{"start": "12:00", "end": "12:45"}],
    }
)  # fmt: skip


def run_day(norm: DeviceNormaliser, rng: random.Random, day: int, step_ms: int, state: list[int]) -> float:
    """Feed one simulated day; CPU seconds spent in observe()."""
    running, made = state
    ts, end, cpu = START + day * DAY_MS, START + (day + 1) * DAY_MS, 0.0
    while ts < end:
        if rng.random() < 0.02:
            running = 1 - running
        if running and rng.random() < 0.5:
            made = (made + 1) % 65536
        readings = [
            Reading("m1", "run", bool(running), 0, None, ts, 1, 0),
            Reading("m1", "made", made, 0, None, ts, 1, 0),
        ]
        t0 = time.process_time()
        norm.observe(ts, readings)
        cpu += time.process_time() - t0
        ts += step_ms
    state[:] = [running, made]
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--step", type=float, default=5.0, help="simulated seconds between readings")
    args = parser.parse_args()
    step_ms = round(args.step * 1000)
    per_day = DAY_MS // step_ms
    with_kpi = DeviceNormaliser(DEVICE, None, ShiftCalendar(CALENDAR, "Asia/Shanghai"), START)
    without = DeviceNormaliser(DEVICE, None)
    states = {"with": [1, 0], "without": [1, 0]}
    print(f"{per_day} readings per simulated day, one every {args.step:g} s")
    head = ("day", "with OEE tracker", "reference: no calendar", "tracker adds", "open windows", "objects")
    print(f"{head[0]:>4} {head[1]:>18} {head[2]:>24} {head[3]:>13} {head[4]:>13} {head[5]:>13}")
    for day in range(args.days):
        cpu_with = run_day(with_kpi, random.Random(day), day, step_ms, states["with"])
        cpu_without = run_day(without, random.Random(day), day, step_ms, states["without"])
        us_with, us_without = cpu_with / per_day * 1e6, cpu_without / per_day * 1e6
        # getattr: the same script also measures an older checkout (BENCHMARKS.md), which lacks it
        windows = getattr(with_kpi.kpi, "open_windows", "-")
        gc.collect()
        live = len(gc.get_objects())  # the whole process: it must not grow day by day
        print(
            f"{day + 1:>4} {us_with:>15.1f} us {us_without:>21.1f} us {us_with - us_without:>10.1f} us "
            f"{windows:>13} {live:>13}"
        )


if __name__ == "__main__":
    main()
