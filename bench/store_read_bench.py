"""Reading a window back from VictoriaMetrics for the evidence pack: CPU and peak memory per million
samples, beside the bare export parsed line by line, each in its own child process.

    .venv/bin/python bench/store_read_bench.py                  # 1,000,000 samples (20 devices x 50 tags)
    .venv/bin/python bench/store_read_bench.py --seconds 3000   # 3,000,000

A private VictoriaMetrics on a free port gets D devices x T tags x N one-second points in the
schema the historian writes (value, q, seq, session per point); then, each in a fresh process so
its peak RSS is its own:

* reference — the one /api/v1/export request the reader sends, each line parsed with json.loads and
  dropped (the floor of getting the samples out of the store);
* reader — `collector.evidence.store_reader.read_samples`, the list the pack builder works on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.demo.services import VictoriaMetrics, find_binary  # noqa: E402

T0 = 1_790_000_000_000
CHILD = """
import json, sys, time, urllib.parse, urllib.request
from pathlib import Path
sys.path.insert(0, {repo!r})
from collector.config.sinks import Storage, StoreBackend
from collector.evidence.store_reader import read_samples, victoria_export_form
url, start, end, what = {url!r}, {start}, {end}, {what!r}
t = time.process_time()
if what == "reader":
    storage = Storage(backend=StoreBackend.VICTORIAMETRICS, url=url)
    n = len(read_samples(storage, Path("."), start, end, site="s1"))
else:
    form = urllib.parse.urlencode(victoria_export_form(start, end, "s1")).encode()
    n = 0
    with urllib.request.urlopen(url + "/api/v1/export", data=form, timeout=600) as resp:
        for line in resp:
            row = json.loads(line)
            n += len(row["timestamps"]) if row["metric"]["__name__"] == "telemetry_seq" else 0
print(json.dumps({{"samples": n, "cpu_s": time.process_time() - t}}))
"""


def fill(url: str, devices: int, tags: int, seconds: int) -> int:
    for d in range(devices):
        lines = [
            f"telemetry,site=s1,area=a,line=l,device=d{d:03},tag=t{t:02} "
            f"value={i * 0.5 + t},q=0i,seq={i * tags + t + 1}i,session=1i {T0 + i * 1000}"
            for i in range(seconds)
            for t in range(tags)
        ]
        urllib.request.urlopen(
            f"{url}/write?precision=ms", data="\n".join(lines).encode(), timeout=120
        ).read()
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30).read()
    return devices * tags * seconds


def measure(url: str, what: str, seconds: int) -> tuple[int, float, float]:
    """(samples, CPU s of the read, peak RSS MiB of the process)."""
    code = CHILD.format(repo=str(REPO), url=url, start=T0, end=T0 + seconds * 1000, what=what)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{what} child failed")
    got = json.loads(out)
    return int(got["samples"]), float(got["cpu_s"]), usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=1000, help="one point per tag per second")
    args = parser.parse_args()
    binary = find_binary("victoria-metrics", "/usr/bin/victoria-metrics")
    if binary is None:
        print("victoria-metrics is not installed (scripts/setup installs it)")
        return 2
    with tempfile.TemporaryDirectory(prefix="store-read-bench-") as tmp:
        vm = VictoriaMetrics(binary, Path(tmp))
        vm.start()
        try:
            started = time.perf_counter()
            total = fill(vm.url, args.devices, args.tags, args.seconds)
            print(f"{total:,} samples written in {time.perf_counter() - started:.1f} s")
            rows = []
            for what in ("reference", "reader", "reference", "reader"):
                n, cpu, peak = measure(vm.url, what, args.seconds)
                if n != total:
                    raise SystemExit(f"{what} read {n:,} samples of {total:,}")
                rows.append((what, cpu, peak))
                per_m = 1e6 / total
                print(f"{what:10} {cpu:6.1f} s CPU  peak RSS {peak:6.0f} MiB   per million samples: "
                      f"{cpu * per_m:5.1f} s CPU, {peak * per_m:5.0f} MiB")  # fmt: skip
            ref = min(c for w, c, _ in rows if w == "reference")
            reader = min(c for w, c, _ in rows if w == "reader")
            print(f"reader / reference CPU (best of two each): {reader / ref:.1f}x")
        finally:
            vm.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
