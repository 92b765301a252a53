"""Side by side with peers: ours vs Node-RED (+ node-red-contrib-modbus) vs ThingsBoard IoT Gateway.

    bash bench/peers/install.sh                      # peers from npm / PyPI into bench/peers/<peer>/
    .venv/bin/python bench/peers/run.py --devices 20 --tags 50 --window 60 --outage 30

One tool at a time, same machine, same run: a fresh set of N Modbus TCP PLC simulators (T uint16 holding
registers each, values changing every second) in their own process, a private mosquitto, and the tool
polling every device once a second and publishing every value over MQTT through an outage switch.
Measured per tool:
  * CPU share of one core and RSS of the tool's whole process tree (/proc), over the window;
  * tag values per second that actually reach a subscriber on the broker (QoS 1, '#');
  * Modbus requests per device per poll cycle, counted by the simulators themselves;
  * a broker outage (connections reset, new ones refused for --outage s): values read meanwhile, how
    many arrive late (buffered and replayed), how many never arrive (gaps in each device's series),
    and how long until the tool delivers again.
Ratios are per 1,000 tag values/s delivered, against ours measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
import tools
from mqttside import Counter, OutageProxy, TbPlatformStub, start_mosquitto

HERE = Path(__file__).resolve().parent


class Plcs:
    """The simulator process: ports on start, request counts on demand."""

    def __init__(self, devices: int, tags: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "plcs.py"), "--devices", str(devices), "--tags", str(tags)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tools.REPO,
        )
        self.ports: list[int] = json.loads(self._line())["ports"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("PLC simulator process ended")
        return line

    def requests(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return sum(json.loads(self._line())["requests"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def bench_tool(name: str, a: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {"tool": name}
    with tempfile.TemporaryDirectory(prefix=f"peers-{name}-") as tmp:
        work = Path(tmp)
        broker, broker_port = start_mosquitto(work)
        proxy = OutageProxy(broker_port)
        await proxy.start()
        plcs = Plcs(a.devices, a.tags)
        counter: Counter | None = None
        stub = TbPlatformStub(broker_port) if name.startswith("tbg") else None
        proc: subprocess.Popen[bytes] | None = None
        log = work / "tool.log"
        try:
            try:
                launch = tools.TOOLS[name](work, plcs.ports, a.tags, proxy.port)
                row["notes"] = launch.notes
                counter = Counter(broker_port, launch.parse)
                counter.start()
                with log.open("wb") as fh:
                    proc = subprocess.Popen(  # noqa: ASYNC220 - a child we watch through /proc
                        launch.cmd, cwd=launch.cwd, env=launch.env, stdout=fh, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
            except (OSError, IndexError, ValueError) as exc:  # not installed, or its files are missing
                row["error"] = f"cannot start {name}: {exc!r} (run bench/peers/install.sh)"
                return row
            started = time.monotonic()
            while len({r[1] for r in counter.snapshot()}) < a.devices:
                if proc.poll() is not None or time.monotonic() - started > a.start_timeout:
                    seen = len({r[1] for r in counter.snapshot()})
                    row["error"] = (
                        f"{seen}/{a.devices} devices delivering after {a.start_timeout}s:\n{tail(log)}"
                    )
                    return row
                await asyncio.sleep(0.5)
            row["startup_s"] = round(time.monotonic() - started, 1)
            await asyncio.sleep(a.warmup)
            row.update(await measure_window(proc.pid, plcs, counter, a))
            row.update(await outage(proxy, counter, plcs, row["values_per_request"], a))
            row["log_tail"] = tail(log, 5)
        finally:
            if proc is not None:
                stop_tree(proc)
            if counter is not None:
                counter.stop()
            if stub is not None:
                stub.stop()
            plcs.close()
            await proxy.close()
            if a.logs is not None:  # the tool's own output (and TBG's log folder) for a post-mortem
                a.logs.mkdir(parents=True, exist_ok=True)
                if log.exists():
                    shutil.copy(log, a.logs / f"{name}.log")
                if (work / "logs").is_dir():
                    shutil.copytree(work / "logs", a.logs / f"{name}-logs", dirs_exist_ok=True)
            broker.terminate()
            broker.wait(10)
    return row


async def measure_window(pid: int, plcs: Plcs, counter: Counter, a: argparse.Namespace) -> dict[str, Any]:
    pids = procstat.tree(pid)
    cpu0, req0, t0 = procstat.cpu_seconds(pids), plcs.requests(), time.time()
    rss: list[int] = []
    while time.time() - t0 < a.window:
        await asyncio.sleep(1.0)
        pids = procstat.tree(pid)
        rss.append(procstat.rss_bytes(pids))
    cpu1, req1, t1 = procstat.cpu_seconds(pids), plcs.requests(), time.time()
    wall = t1 - t0
    values = sum(n for arr, _d, _ts, n in counter.snapshot() if t0 <= arr < t1)
    return {
        # each poll reads all T tags in a whole number of requests: tag values behind one request
        "values_per_request": a.tags / max(1, round((req1 - req0) / a.devices / wall)),
        "processes": len(pids),
        "cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "rss_mb": sum(rss) / len(rss) / 2**20,
        "rss_max_mb": max(rss) / 2**20,
        "values_per_s": values / wall,
        "expected_per_s": a.devices * a.tags,
        "requests_per_device_cycle": (req1 - req0) / a.devices / wall,  # every tool polls once a second
    }


async def outage(
    proxy: OutageProxy, counter: Counter, plcs: Plcs, per_request: float, a: argparse.Namespace
) -> dict[str, Any]:
    req0, o0 = plcs.requests(), time.time()
    await proxy.cut()
    await asyncio.sleep(a.outage)
    req1, o1 = plcs.requests(), time.time()
    await proxy.restore()

    def during(rows: list[tuple[float, str, int, int]]) -> list[tuple[float, str, int, int]]:
        return [r for r in rows if o0 * 1000 <= r[2] < o1 * 1000]

    # wait until live values flow again, then until the outage backlog stopped growing for 10 s
    resumed: float | None = None
    while True:
        await asyncio.sleep(1.0)
        now = time.time()
        rows = counter.snapshot()
        resumed = min((r[0] for r in rows if r[0] >= o1), default=None)
        last = max((r[0] for r in during(rows)), default=o1)
        if now - o1 >= a.recovery or (resumed is not None and now - max(last, resumed) >= 10):
            break
    rows = counter.snapshot()
    got = during(rows)
    delivered = sum(r[3] for r in got)
    # values the tool read from the PLCs meanwhile: requests served x values per request (from the window)
    produced = (req1 - req0) * per_request
    live_after = sum(r[3] for r in rows if r[0] >= now - 5 and r[2] >= (now - 10) * 1000)
    return {
        "outage_s": o1 - o0,
        "outage_produced": round(produced),
        "outage_delivered": delivered,
        "outage_ratio": delivered / max(produced, 1.0),
        "resumed_after_s": None if resumed is None else round(resumed - o1, 1),
        "replay_done_s": round(max(r[0] for r in got) - o1, 1) if got else None,
        "live_after_outage_per_s": live_after / 5,
        # values that reached the subscriber more than 1.5 s after they were read: buffered and replayed
        "replayed": sum(r[3] for r in rows if r[2] >= (o0 - 5) * 1000 and r[0] - r[2] / 1000 > 1.5),
        "lost": lost_values(rows, o0 - 5, a.tags) if resumed is not None else None,
        "duplicates": duplicates(rows, o0 - 5, a.tags),
    }


def lost_values(rows: list[tuple[float, str, int, int]], since: float, tags: int) -> int:
    """Polls missing from each device's delivered series after `since` (one a second when nothing is lost).

    Per device: polls expected over the span of its delivered timestamps minus distinct timestamps
    delivered. The span starts in live data before the cut and ends in live data after the tool is
    back, so the window edges do not matter, and a late poll followed by an early one is no loss.
    """
    series: dict[str, set[int]] = {}
    for _arr, dev, ts, _n in rows:
        if ts >= since * 1000:
            series.setdefault(dev, set()).add(ts)
    missing = 0
    for stamps in series.values():
        expected = round((max(stamps) - min(stamps)) / 1000) + 1
        missing += max(0, expected - len(stamps))
    return missing * tags


def duplicates(rows: list[tuple[float, str, int, int]], since: float, tags: int) -> int:
    """Values delivered more than once (QoS 1 is at-least-once): over T for one device and timestamp."""
    per_poll: dict[tuple[str, int], int] = {}
    for _arr, dev, ts, n in rows:
        if ts >= since * 1000:
            per_poll[(dev, ts)] = per_poll.get((dev, ts), 0) + n
    return sum(max(0, n - tags) for n in per_poll.values())


def twice(row: dict[str, Any]) -> str:
    dup = row.get("duplicates") or 0
    return f" (+{dup:,} twice)" if dup else ""


def fmt_table(rows: list[dict[str, Any]]) -> str:
    ref = next((r for r in rows if r["tool"] == "ours" and "error" not in r), None)
    head = (
        "| tool | tag values/s delivered | CPU % of one core | RSS MB | CPU % per 1k values/s | "
        "RSS MB per 1k values/s | Modbus requests / device / cycle | outage: values read | "
        "buffered, replayed | lost | delivering again after | CPU per 1k vs ours | RSS per 1k vs ours |"
    )
    out = [head, "|" + "---|" * 13]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['tool']} | failed: see notes |" + " |" * 11)
            continue
        k = r["values_per_s"] / 1000
        cpu_k, rss_k = r["cpu_pct"] / k, r["rss_mb"] / k
        ratio_cpu = ratio_rss = "—"
        if ref is not None:
            ref_k = ref["values_per_s"] / 1000
            ratio_cpu = f"{cpu_k / (ref['cpu_pct'] / ref_k):.2f}x"
            ratio_rss = f"{rss_k / (ref['rss_mb'] / ref_k):.2f}x"
        out.append(
            f"| {r['tool']} | {r['values_per_s']:,.0f} of {r['expected_per_s']:,} | {r['cpu_pct']:.1f} | "
            f"{r['rss_mb']:.0f} | {cpu_k:.1f} | {rss_k:.0f} | {r['requests_per_device_cycle']:.2f} | "
            f"{r['outage_produced']:,} | {r['replayed']:,} | "
            f"{'—' if r['lost'] is None else format(r['lost'], ',')}"
            f"{twice(r)} | "
            f"{'never' if r['resumed_after_s'] is None else str(r['resumed_after_s']) + ' s'} | "
            f"{ratio_cpu} | {ratio_rss} |"
        )
    return "\n".join(out)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--tags", type=int, default=50)
    ap.add_argument("--window", type=float, default=60.0, help="measurement window, s")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--outage", type=float, default=30.0)
    ap.add_argument(
        "--recovery", type=float, default=180.0, help="longest wait for delivery after the outage"
    )
    ap.add_argument("--start-timeout", type=float, default=90.0)
    ap.add_argument("--tools", default="ours,nodered,tbg,tbg-perkey")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--logs", type=Path, help="copy each tool's own log output into this folder")
    a = ap.parse_args()
    rows = []
    for name in a.tools.split(","):
        print(f"--- {name}", flush=True)
        row = await bench_tool(name, a)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "log_tail"}, default=str), flush=True)
    print(f"\n{a.devices} devices x {a.tags} tags at 1 s, window {a.window:.0f} s, outage {a.outage:.0f} s\n")
    print(fmt_table(rows))
    for r in rows:
        print(f"- {r['tool']}: {r.get('notes', '')}")
        if "error" in r:
            print(f"  FAILED: {r['error']}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
