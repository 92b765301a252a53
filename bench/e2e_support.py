"""Shared parts of the end-to-end benchmarks (bench/plant_e2e.py, bench/peak_e2e.py).

* /proc readings of another process (CPU seconds, RSS now and peak);
* simulators in their own processes: `serve-modbus` (N PLC simulators of one profile) and
  `serve-opcua` (one asyncua server holding several CNCs, one namespace each);
* the collector as a subprocess (`shopfloor run -c` on a generated plant file), its /metrics parsed;
* a latency subscriber: arrival time minus the payload's `ts` (same host clock).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TICKS = os.sysconf("SC_CLK_TCK")
SHOPFLOOR = REPO / ".venv" / "bin" / "shopfloor"


# --- /proc ------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes: resident now and the peak so far."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Usage:
    """CPU and memory of one process over a measurement window."""

    pid: int
    cpu0: float = 0.0
    wall0: float = 0.0
    rss0: int = 0
    cpu: float = 0.0
    wall: float = 0.0
    rss1: int = 0
    hwm: int = 0

    def start(self) -> None:
        self.cpu0, self.wall0, (self.rss0, _) = cpu_seconds(self.pid), time.monotonic(), memory(self.pid)

    def stop(self) -> None:
        self.cpu, self.wall = cpu_seconds(self.pid) - self.cpu0, time.monotonic() - self.wall0
        self.rss1, self.hwm = memory(self.pid)

    @property
    def share(self) -> float:
        """CPU share of one core over the window."""
        return self.cpu / self.wall if self.wall else float("nan")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


# --- simulators in their own processes --------------------------------------------------------------


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `python bench/e2e_support.py ARGS`; return it and its first stdout line (the readiness)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"{args[0]} exited with {proc.returncode} before it was ready")
    return proc, line


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


async def serve_modbus(profile: Path, count: int, update_interval: float) -> None:
    from simulators.modbus import PlcSimulator

    sims = [
        PlcSimulator(name=f"plc-{i}", profile=profile, seed=i, port=0, update_interval=update_interval)
        for i in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for sim in sims:
            await stack.enter_async_context(sim)
        print("PORTS " + " ".join(str(s.port) for s in sims), flush=True)
        await _until_terminated()


def cnc_namespace(index: int) -> str:
    return f"urn:shopfloor-bench:cnc-{index:02d}"


async def serve_opcua(first: int, cncs: int, tags: int, change: float) -> None:
    """One asyncua server with `cncs` machines (own namespace and folder each) of `tags` Double
    variables; every second a `change` share of each machine's variables gets a new value."""
    from asyncua import ua
    from asyncua.server.server import Server

    server = Server()
    await server.init()
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    nodes: list[Any] = []
    for index in range(first, first + cncs):
        idx = await server.register_namespace(cnc_namespace(index))
        folder = await server.nodes.objects.add_folder(idx, f"cnc-{index:02d}")
        for i in range(tags):
            nodes.append(await folder.add_variable(ua.NodeId(f"v{i}", idx), f"v{i}", 100.0 + i))
    await server.start()
    print(f"ENDPOINT opc.tcp://127.0.0.1:{port}/", flush=True)
    rng = random.Random(first)
    per_second = max(1, round(len(nodes) * change))
    stopping = asyncio.create_task(_until_terminated())
    while not stopping.done():
        started = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        for node in rng.sample(nodes, per_second):
            dv = ua.DataValue(ua.Variant(rng.uniform(0, 1000)), SourceTimestamp=now)  # type: ignore[arg-type]
            await server.write_attribute_value(node.nodeid, dv)
        await asyncio.wait([stopping], timeout=max(0.0, 1.0 - (time.monotonic() - started)))
    await server.stop()


async def _until_terminated() -> None:
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    await done.wait()


# --- devices of the generated plant file ------------------------------------------------------------


def profile_registers(profile: Path) -> list[tuple[str, str, int, str]]:
    """(name, table, address, type) of a simulator profile's registers."""
    from simulators.modbus.profiles import load_profile

    return [(r.name, str(r.table), r.address, r.type) for r in load_profile(profile).registers]


def modbus_device(
    dev_id: str, port: int, regs: list[tuple[str, str, int, str]], poll: float
) -> dict[str, Any]:
    tags = [{"name": n, "address": {"table": t, "offset": a}, "type": typ} for n, t, a, typ in regs]
    return {
        "id": dev_id,
        "protocol": "modbus_tcp",
        "host": "127.0.0.1",
        "port": port,
        "area": "bench",
        "line": "plc",
        "poll_interval": f"{poll * 1000:.0f}ms",
        "timeout": "2s",
        "tags": tags,
    }


def opcua_device(dev_id: str, endpoint: str, index: int, tags: int) -> dict[str, Any]:
    ns = cnc_namespace(index)
    return {
        "id": dev_id,
        "protocol": "opcua",
        "endpoint": endpoint,
        "area": "bench",
        "line": "cnc",
        "mode": "subscribe",
        "publishing_interval": "1s",
        "poll_interval": "1s",
        "timeout": "10s",
        "tags": [{"name": f"v{i}", "node": f"nsu={ns};s=v{i}"} for i in range(tags)],
    }


# --- the collector ----------------------------------------------------------------------------------


@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    web: str
    log: Path
    usage: Usage = field(init=False)
    stop_s: float = 0.0

    def __post_init__(self) -> None:
        self.usage = Usage(self.proc.pid)

    def metrics(self) -> dict[str, float]:
        """`name{labels}` -> value of the /metrics scrape (label text kept as written)."""
        with urllib.request.urlopen(f"{self.web}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def stop(self) -> int | None:
        t0 = time.monotonic()
        rc = stop(self.proc, timeout=20)
        self.stop_s = time.monotonic() - t0
        if rc:
            lines = self.log.read_text(errors="replace").splitlines()
            stuck = [
                ln.split("ERROR collector.engine: ")[-1].split()[0] for ln in lines if "did not stop" in ln
            ]
            rest = "\n".join(ln for ln in lines if "did not stop" not in ln)[-2500:]
            print(
                f"collector exited with {rc} {self.stop_s:.0f} s after SIGTERM; "
                f"{len(stuck)} device tasks did not stop ({' '.join(stuck[:8])} ...); "
                f"other log lines:\n{rest}",
                file=sys.stderr,
            )
        return rc


def start_collector(
    workdir: Path, mqtt_port: int, devices: list[dict[str, Any]], ready_s: float = 120
) -> Collector:
    """Write the plant file (MQTT UNS, no store sink: the historian would read from MQTT) and start it."""
    from collector.demo.procs import free_port

    workdir.mkdir(parents=True, exist_ok=True)
    web_port = free_port()
    plant = {
        "version": 1,
        "site": {
            "enterprise": "bench",
            "site": "s1",
            "edge_id": "bench-ipc",
            "areas": [{"id": "bench", "lines": [{"id": "plc"}, {"id": "cnc"}]}],
        },
        "devices": devices,
        "mqtt": {"mode": "uns", "host": "127.0.0.1", "port": mqtt_port, "qos": 1},
        "storage": {"backend": "victoriametrics", "url": "http://127.0.0.1:9", "direct": False},
        "web": {"host": "127.0.0.1", "port": web_port},
    }
    path = workdir / "plant.yaml"
    path.write_text(json.dumps(plant, indent=1), encoding="utf-8")  # JSON is YAML
    log = workdir / "collector.log"
    proc = subprocess.Popen(
        [str(SHOPFLOOR), "run", "-c", str(path)], stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=workdir
    )
    collector = Collector(proc, f"http://127.0.0.1:{web_port}", log)
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("collector exited:\n" + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"{collector.web}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return collector
        except OSError:
            pass
        time.sleep(0.2)
    collector.stop()
    raise RuntimeError("collector not ready in time:\n" + log.read_text(errors="replace")[-3000:])


def metric_sum(metrics: dict[str, float], name: str, *labels: str) -> float:
    """Sum of the series of `name` whose label text contains every one of `labels`."""
    return sum(v for k, v in metrics.items() if k.split("{", 1)[0] == name and all(x in k for x in labels))


# --- latency subscriber -----------------------------------------------------------------------------


class LatencyProbe:
    """Subscribes to topic filters; for each data message records arrival minus the payload's `ts`,
    grouped by the topic's first level (the collector's `uns`, the reference's `ref`)."""

    def __init__(self, port: int, filters: list[str]) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.groups: dict[str, list[Any]] = {}  # first topic level -> [latencies, messages, points]
        self.recording = False
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{os.getpid()}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_connect = lambda c, *_a: c.subscribe([(f, 0) for f in filters])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("latency probe could not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.time() * 1000
        if not self.recording or not msg.topic.endswith("/data"):
            return
        body = json.loads(msg.payload)
        with self._lock:
            group = self.groups.setdefault(msg.topic.split("/", 1)[0], [[], 0, 0])
            group[0].append(now - body["ts"])
            group[1] += 1
            group[2] += len(body["points"])

    def window(self, group: str) -> tuple[int, int, list[float]]:
        """(messages, points, sorted latencies in ms) of one group since the last reset."""
        with self._lock:
            lat, messages, points = self.groups.get(group, [[], 0, 0])
            return messages, points, sorted(lat)

    def reset(self, recording: bool) -> None:
        with self._lock:
            self.groups, self.recording = {}, recording

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description="simulator processes for the end-to-end benchmarks")
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("serve-modbus")
    m.add_argument("profile", type=Path)
    m.add_argument("--count", type=int, required=True)
    m.add_argument("--update", type=float, default=1.0)
    o = sub.add_parser("serve-opcua")
    o.add_argument("--first", type=int, required=True)
    o.add_argument("--cncs", type=int, required=True)
    o.add_argument("--tags", type=int, default=100)
    o.add_argument("--change", type=float, default=0.2)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    if args.what == "serve-modbus":
        asyncio.run(serve_modbus(args.profile, args.count, args.update))
    else:
        asyncio.run(serve_opcua(args.first, args.cncs, args.tags, args.change))


if __name__ == "__main__":
    main()
