"""End to end, typical plant: 60 Modbus TCP PLCs x 50 tags and 40 OPC UA CNCs x 100 tags at 1 s.

    .venv/bin/python bench/plant_e2e.py [--plcs 60] [--cncs 40] [--seconds 60] [--cncs-per-server 10]

Simulators run in their own processes: the PLCs in two (bench/profiles/plc-50.yaml, 4 reads per poll),
the CNCs as plain asyncua servers holding --cncs-per-server machines each (one namespace and folder per
machine, 100 Double variables, a fifth of them rewritten every second). A private mosquitto runs on
a free port. Both clients run at the same time, against the same simulators and broker, so the
shared machine's noise falls on both alike:

1. the collector: `shopfloor run -c` on a generated plant file (MQTT UNS, QoS 1, no store sink),
   measured from /proc: CPU share of one core, RSS at the window's start and end and the peak since
   process start (VmHWM); from its /metrics, scraped every 5 s: MQTT outbox depth, reads, missed poll
   ticks and points acknowledged by the broker;
2. the reference: bench/e2e_raw.py, the same reads with raw pymodbus and a raw asyncua subscription,
   the same values published with raw paho (one message per device per second), measured the same way.

A subscriber in this process records arrival time minus each data message's `ts` (the collector's
collection time; the reference's time of building the message), same host clock.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_support import (
    REPO,
    Collector,
    LatencyProbe,
    Usage,
    metric_sum,
    mib,
    modbus_device,
    opcua_device,
    profile_registers,
    progress,
    quantile,
    start_collector,
    stop,
)
from support import mosquitto

PROFILE = REPO / "bench" / "profiles" / "plc-50.yaml"
SUPPORT = REPO / "bench" / "e2e_support.py"


def start_simulators(
    plcs: int, cncs: int, per_server: int, tags: int
) -> tuple[list[subprocess.Popen[str]], list[int], list[tuple[int, str]]]:
    """PLC simulators in two processes, CNC servers in ceil(cncs/per_server); all started at once."""
    cmds = []
    half = (plcs + 1) // 2
    for count in (half, plcs - half):
        if count:
            cmds.append(["serve-modbus", str(PROFILE), "--count", str(count)])
    firsts = list(range(1, cncs + 1, per_server))
    for first in firsts:
        n = min(per_server, cncs - first + 1)
        cmds.append(["serve-opcua", "--first", str(first), "--cncs", str(n), "--tags", str(tags)])
    procs = [
        subprocess.Popen(
            [sys.executable, str(SUPPORT), *c],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
        )
        for c in cmds
    ]
    ports: list[int] = []
    cnc_endpoints: list[tuple[int, str]] = []
    for cmd, proc in zip(cmds, procs, strict=True):
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line:
            raise RuntimeError(f"simulator {cmd} exited before it was ready")
        if line[0] == "PORTS":
            ports += [int(p) for p in line[1:]]
        else:
            first, n = int(cmd[2]), int(cmd[4])
            cnc_endpoints += [(i, line[1]) for i in range(first, first + n)]
    return procs, ports, cnc_endpoints


def wait_connected(collector: Collector, devices: int, timeout: float) -> float:
    """Seconds until every device answers (the OPC UA sessions take a while), or the timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if metric_sum(collector.metrics(), "shopfloor_devices_connected") >= devices:
            break
        time.sleep(1)
    return time.monotonic() - t0


def measure(
    collector: Collector, ref: Usage, sims: list[Usage], probe: LatencyProbe, seconds: float
) -> dict[str, Any]:
    """Both clients over the same window: CPU/RSS from /proc, latency per topic group, /metrics every 5 s."""
    usages = (collector.usage, ref, *sims)
    m0 = collector.metrics()
    for u in usages:
        u.start()
    probe.reset(True)
    depths = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(5.0, left))
        depths.append(metric_sum(collector.metrics(), "shopfloor_outbox_depth", 'sink="mqtt"'))
    for u in usages:
        u.stop()
    probe.recording = False
    m1 = collector.metrics()
    wall = collector.usage.wall

    def rate(name: str, *labels: str) -> float:
        return (metric_sum(m1, name, *labels) - metric_sum(m0, name, *labels)) / wall

    out: dict[str, Any] = {
        "sims": sum(u.cpu for u in sims) / wall,
        "depths": depths,
        "acked_s": rate("shopfloor_sink_points_total", 'sink="mqtt"', 'result="acked"'),
        "reads_s": rate("shopfloor_device_reads_total"),
        "overruns_plc": rate("shopfloor_device_overruns_total", 'device="plc-') * wall,
        "overruns_cnc": rate("shopfloor_device_overruns_total", 'device="cnc-') * wall,
        "connected": metric_sum(m1, "shopfloor_devices_connected"),
    }
    for name, usage, group in (("ours", collector.usage, "uns"), ("ref", ref, "ref")):
        messages, points, lat = probe.window(group)
        out[name] = {
            "cpu": usage.share,
            "rss0": usage.rss0,
            "rss1": usage.rss1,
            "hwm": usage.hwm,
            "msg_s": messages / wall,
            "points_s": points / wall,
            "p50": quantile(lat, 0.5),
            "p99": quantile(lat, 0.99),
            "max": lat[-1] if lat else float("nan"),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    regs = profile_registers(PROFILE)
    with tempfile.TemporaryDirectory() as d, mosquitto(Path(d) / "mosquitto") as broker:
        tmp = Path(d)
        progress("starting simulators")
        procs, ports, cnc_eps = start_simulators(args.plcs, args.cncs, args.cncs_per_server, args.tags)
        sims = [Usage(p.pid) for p in procs]
        probe = LatencyProbe(broker.port, ["uns/v1/bench/s1/+/+/+/data", "ref/+/data"])
        raw: subprocess.Popen[str] | None = None
        collector: Collector | None = None
        try:
            devices = [modbus_device(f"plc-{i + 1:02d}", p, regs, 1.0) for i, p in enumerate(ports)]
            devices += [opcua_device(f"cnc-{i:02d}", ep, i, args.tags) for i, ep in cnc_eps]
            progress(f"simulators up; starting the collector with {len(devices)} devices and the reference")
            ref_cmd = [
                sys.executable,
                str(REPO / "bench" / "e2e_raw.py"),
                "--mqtt-port",
                str(broker.port),
                "--profile",
                str(PROFILE),
                "--tags",
                str(args.tags),
                "--plc",
                *map(str, ports),
                "--cnc",
                *(f"{i}@{ep}" for i, ep in cnc_eps),
            ]
            raw = subprocess.Popen(ref_cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
            collector = start_collector(tmp / "collector", broker.port, devices)
            took = wait_connected(collector, len(devices), 120)
            assert raw.stdout is not None
            if not raw.stdout.readline().startswith("READY"):
                raise RuntimeError("reference client failed")
            progress(
                f"all devices connected after {took:.0f} s; "
                f"warm-up {args.warmup:g} s, window {args.seconds:g} s"
            )
            time.sleep(args.warmup)
            load0 = os.getloadavg()[0]
            result = measure(collector, Usage(raw.pid), sims, probe, args.seconds)
            result["load"] = (load0, os.getloadavg()[0])
        finally:
            probe.close()
            if raw is not None:
                stop(raw)
            if collector is not None:
                result["rc"] = collector.stop()
                result["stop_s"] = collector.stop_s
            for p in procs:
                stop(p)
    return result


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    tags = args.plcs * 50 + args.cncs * args.tags
    print(
        f"typical plant: {args.plcs} Modbus PLCs x 50 tags + {args.cncs} OPC UA CNCs x {args.tags} tags "
        f"= {tags:,} tags at 1 s; CNCs {args.cncs_per_server} per server process; both clients at once, "
        f"window {args.seconds:g} s after {args.warmup:g} s warm-up; load average "
        f"{r['load'][0]:.1f} -> {r['load'][1]:.1f} on {os.cpu_count()} cores"
    )
    print("client | CPU % of one core | RSS MiB start/end/peak | msgs/s | values/s | latency p50/p99/max ms")
    ours, ref = r["ours"], r["ref"]
    for name, x in (("collector (shopfloor run)", ours), ("reference: raw pymodbus + asyncua + paho", ref)):
        print(
            f"{name} | {100 * x['cpu']:.1f} | {mib(x['rss0'])}/{mib(x['rss1'])}/{mib(x['hwm'])} | "
            f"{x['msg_s']:.1f} | {x['points_s']:,.0f} | {x['p50']:.0f}/{x['p99']:.0f}/{x['max']:.0f}"
        )
    print(
        f"collector / reference: CPU {ours['cpu'] / ref['cpu']:.2f}x, "
        f"RSS (end) {ours['rss1'] / ref['rss1']:.2f}x; "
        f"simulator processes {100 * r['sims']:.0f} % of one core"
    )
    d = r["depths"]
    print(
        f"collector: {r['connected']:.0f} devices connected, {r['reads_s']:.1f} reads/s, "
        f"missed poll ticks {r['overruns_plc']:.0f} PLC / {r['overruns_cnc']:.0f} CNC, "
        f"{r['acked_s']:,.0f} points/s acked by the broker; MQTT outbox depth over {len(d)} "
        f"scrapes (every 5 s): min {min(d):.0f}, median {statistics.median(d):.0f}, max {max(d):.0f}, "
        f"last {d[-1]:.0f}"
    )
    print(f"collector stopped {r['stop_s']:.1f} s after SIGTERM, exit code {r['rc']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plcs", type=int, default=60)
    ap.add_argument("--cncs", type=int, default=40)
    ap.add_argument("--tags", type=int, default=100, help="variables per CNC")
    ap.add_argument("--cncs-per-server", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    args = ap.parse_args()
    print(" ".join([".venv/bin/python bench/plant_e2e.py", *sys.argv[1:]]))
    report(args, run(args))


if __name__ == "__main__":
    main()
