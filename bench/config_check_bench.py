"""What `shopfloor config check` costs on a large plant file, beside ruamel.yaml's own parser in the
same run.

    .venv/bin/python bench/config_check_bench.py [--devices 400] [--tags 150]

Writes a plant file of `devices` Modbus devices with `tags` tags each (one flow mapping per tag, with
a Chinese name, scale and range: ~7 MB at the defaults), then runs, each as a child process measured
with wait4 (wall time, CPU, peak RSS):

* check — `shopfloor config check FILE`, what an integrator runs (libyaml through ruamel.yaml.clibz);
* reference — the same load with libyaml switched off, i.e. ruamel.yaml's pure-Python parser, which
  the loader falls back to where the wheel is missing (the round-trip loader used before was slower
  still: 51 s on this file).

The load average before the run is printed with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

REFERENCE = (
    "import sys, collector.config.source as s; s.CParser = None; "
    "from collector.config import load_plant; load_plant(sys.argv[1])"
)


def plant_text(devices: int, tags: int) -> str:
    out = ["version: 1", "site:", "  enterprise: acme", "  site: suzhou-1", "  areas:", "    - id: a1",
           "      lines: [{id: l1}]", "devices:"]  # fmt: skip
    for d in range(devices):
        out += [f"  - id: plc-{d:04d}", f"    name_zh: 设备{d}号", "    protocol: modbus_tcp",
                f"    host: 10.0.{d // 250}.{d % 250 + 1}", "    area: a1", "    line: l1",
                "    poll_interval: 1s", "    tags:"]  # fmt: skip
        out += [
            f"      - {{name: t{t:04d}, name_zh: 温度{t}, address: {40001 + 2 * t}, type: float32, "
            "unit: degC, scale: 0.1, range: [0, 500]}"
            for t in range(tags)
        ]
    return "\n".join(out) + "\n"


def measure(argv: list[str]) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit status) of one child run to its end."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--tags", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plant = Path(tmp) / "plant.yaml"
        plant.write_text(plant_text(args.devices, args.tags), encoding="utf-8")
        size_mb = plant.stat().st_size / 1e6
        load = os.getloadavg()[0]
        rows = [
            ("check (libyaml)", measure([sys.executable, "-m", "collector", "config", "check", str(plant)])),
            ("reference (pure Python)", measure([sys.executable, "-c", REFERENCE, str(plant)])),
        ]
    print(f"plant file: {size_mb:.1f} MB, {args.devices} devices x {args.tags} tags; load average {load:.2f}")
    print(f"{'run':<26}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}{'exit':>6}")
    for name, (wall, cpu, peak, code) in rows:
        print(f"{name:<26}{wall:>8.1f}{cpu:>8.1f}{peak:>10.0f}{code:>6}")
    return 0 if all(code == 0 for _, (*_, code) in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
