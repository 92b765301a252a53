"""What building and verifying an evidence pack costs, per million raw samples in its window.

Runs on a finished demo or soak run directory (`shopfloor demo --out DIR`, `bench/soak/run.py --out
DIR`): restarts the run's VictoriaMetrics on its data and port, then over the window of the run's own
pack measures, each in the same run:

* reference — one `/api/v1/export` of the window, the request the pack's store reader sends, read to the
  end and parsed line by line (the floor of getting the samples out of the store);
* build — `shopfloor evidence build` as a child process: wall time, CPU, peak RSS;
* verify — `shopfloor evidence verify` on that pack: the same three;
* base — a build over the window's first minute, to separate the fixed cost from the per-sample one.

    .venv/bin/python bench/pack_bench.py --run /tmp/soak110/run

The builder holds every sample of the window in memory (collector/evidence/store_reader.py); the
per-million figure is what bounds the window a pack can cover on a given machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.config import load_plant  # noqa: E402
from collector.demo.services import VictoriaMetrics, find_binary  # noqa: E402
from collector.evidence.store_reader import victoria_export_form  # noqa: E402

SHOPFLOOR = [sys.executable, "-m", "collector"]


@dataclass
class Cost:
    wall_s: float
    cpu_s: float
    peak_mib: float


def child_cost(argv: list[str], log: Path) -> Cost:
    """Run a child to its end; its own CPU and peak RSS come from wait4's rusage."""
    started = time.perf_counter()
    with log.open("ab") as out:
        # cwd: `python -m` imports the checkout the bench sits in
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:5])} exited {proc.returncode}; see {log}")
    return Cost(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def export_cost(url: str, from_ms: int, to_ms: int, site: str) -> tuple[Cost, int]:
    """The store reader's request, read and parsed line by line here: (cost, samples = seq points)."""
    form = urllib.parse.urlencode(victoria_export_form(from_ms, to_ms, site)).encode()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    samples = 0
    with urllib.request.urlopen(f"{url}/api/v1/export", data=form, timeout=600) as resp:
        for line in resp:
            if line.strip():
                row = json.loads(line)
                if row["metric"]["__name__"] in ("telemetry_seq", "telemetry_str_seq"):
                    samples += len(row["timestamps"])
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Cost(time.perf_counter() - started, cpu, after.ru_maxrss / 1024), samples


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, type=Path, help="a finished demo or soak run directory")
    args = parser.parse_args(argv)
    run = args.run.resolve()
    summaries = sorted(run.glob("evidence/*/summary.json"))
    if not (run / "plant.yaml").exists() or not summaries:
        print(f"{run}: not a finished run (needs plant.yaml and evidence/*/summary.json)")
        return 2
    summary = json.loads(summaries[-1].read_text(encoding="utf-8"))
    from_ms, to_ms = int(summary["window"]["from_ms"]), int(summary["window"]["to_ms"])
    plant_path = run / "plant.yaml"
    config = load_plant(plant_path).config
    storage = config.storage
    vm: VictoriaMetrics | None = None
    if storage.backend == "victoriametrics":
        binary = find_binary("victoria-metrics", "/usr/bin/victoria-metrics")
        if binary is None:
            print("victoria-metrics is not installed (scripts/setup installs it)")
            return 2
        port = urllib.parse.urlsplit(str(storage.url)).port or 0
        vm = VictoriaMetrics(binary, run / "victoria-metrics", port=port)
        vm.start()
    out = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    log = out / "children.log"
    try:
        print(f"run {run}: window {iso(from_ms)} – {iso(to_ms)} ({(to_ms - from_ms) / 60_000:.1f} min), "
              f"raw rows in the run's pack: {summary['raw']['rows']:,}")  # fmt: skip
        ref = None
        if vm is not None:
            ref, samples = export_cost(vm.url, from_ms, to_ms, config.site.site)
            print(f"reference  one export of the window, parsed: {samples:,} samples, "
                  f"{ref.wall_s:.1f} s wall, {ref.cpu_s:.1f} s CPU (this process)")  # fmt: skip
        small = measure(plant_path, from_ms, min(to_ms, from_ms + 60_000), out / "first-minute", log)
        whole = measure(plant_path, from_ms, to_ms, out / "whole", log)
        per_m = 1e6 / max(1, whole.rows - small.rows)
        print(f"{'':24}{'raw rows':>10}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}")
        for name, m in (("first minute", small), ("whole window", whole)):
            for step, c in (("build", m.build), ("verify", m.verify)):
                print(f"{step + ' ' + name:24}{m.rows:10,}{c.wall_s:8.1f}{c.cpu_s:8.1f}{c.peak_mib:10.0f}")
        for step, a, b in (("build", small.build, whole.build), ("verify", small.verify, whole.verify)):
            print(f"{step} per million raw samples more: {(b.cpu_s - a.cpu_s) * per_m:.0f} CPU s, "
                  f"{(b.peak_mib - a.peak_mib) * per_m:.0f} MiB more peak RSS")  # fmt: skip
        if ref is not None:
            print(f"build CPU / reference export CPU: {whole.build.cpu_s / max(ref.cpu_s, 1e-9):.1f}x")
    finally:
        if vm is not None:
            vm.stop()
        shutil.rmtree(out, ignore_errors=True)
    return 0


@dataclass
class Measured:
    rows: int
    build: Cost
    verify: Cost


def measure(plant: Path, from_ms: int, to_ms: int, out: Path, log: Path) -> Measured:
    argv = [*SHOPFLOOR, "evidence", "build", "-c", str(plant), "--from", iso(from_ms), "--to", iso(to_ms),
            "--out", str(out), "--no-zip"]  # fmt: skip
    build = child_cost(argv, log)
    pack = next(out.glob("evidence_*/"))
    rows = int(json.loads((pack / "summary.json").read_text(encoding="utf-8"))["raw"]["rows"])
    verify = [*SHOPFLOOR, "evidence", "verify", str(pack), "-c", str(plant)]  # pinned: exit 0
    return Measured(rows, build, child_cost(verify, log))


if __name__ == "__main__":
    raise SystemExit(main())
