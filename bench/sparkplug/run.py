"""Sparkplug soak: the collector in `mqtt.mode: sparkplug` with a primary host, under reloads, device
losses, OPC UA server restarts, broker restarts, rebirth requests and primary host outages; then what
a listening host received is checked (bench/sparkplug/check.py) against the specification and against
the embedded historian, which gets every reading.

    .venv/bin/python bench/sparkplug/run.py --minutes 10 --out /tmp/spsoak     # the recorded run
    .venv/bin/python bench/sparkplug/run.py --minutes 3

The plant is bench/soak/scenario.yaml's cell (OPC UA CNCs, Modbus PLCs and a meter, an RTU-over-TCP
machine, an RS-485 line with a unit that never answers). Exit 0 when every check holds, 1 otherwise;
`sparkplug-soak.json` in the run directory holds the counts, the problems and the event timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.clock import now_ms
from collector.config import load_plant
from collector.demo.plant import ShiftWindow, Sinks, demo_plant, load_yaml, write_yaml
from collector.demo.procs import free_port
from collector.demo.rig import used_run_dir
from collector.demo.services import Broker, Service, SimPlant, find_binary

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's helpers, run as a script
from check import analyse
from host import Listener, PrimaryHost

SCENARIO = Path(__file__).resolve().parents[1] / "soak" / "scenario.yaml"
HOST_ID = "scada"
CAPTURE = "captured.jsonl"  # what the listener received: [arrival ms, topic, base64 payload] per line
EXTRA = "soak_extra"


@dataclass(frozen=True)
class Event:
    at: float
    action: str  # rebirth | stall | restart | reload | broker | host_dies | host_stops
    arg: str = ""
    seconds: float = 0.0


def schedule(length: float) -> list[Event]:
    """Every kind of disturbance in turn, 25 s apart; the last 15 % of the run stays calm."""
    cycle = [
        Event(0, "rebirth"), Event(0, "stall", "sl-01", 20), Event(0, "reload", "add"),
        Event(0, "broker", "", 15), Event(0, "host_dies", "", 60), Event(0, "restart", "cnc-01"),
        Event(0, "reload", "remove"), Event(0, "rebirth"), Event(0, "stall", "imm-01", 20),
        Event(0, "broker", "", 15), Event(0, "host_stops", "", 60), Event(0, "reload", "unit"),
        Event(0, "restart", "sl-02"), Event(0, "stall", "meter-01", 20),
    ]  # fmt: skip
    out, at, i = [], 15.0, 0
    while True:
        e = cycle[i % len(cycle)]
        lasts = e.seconds if e.action.startswith("host") or e.action == "broker" else 0.0
        if at + lasts > 0.85 * length - 10:  # an outage ends, and its backlog drains, before the end
            return out
        out.append(Event(at, e.action, e.arg, e.seconds))
        at += 25.0 + lasts
        i += 1


def write_plant(run: Path, sims: SimPlant, broker: Broker, length: float) -> Path:
    start = now_ms() + 5_000
    shift = ShiftWindow(start // 1000 * 1000, (start + int(length * 1000)) // 1000 * 1000)
    doc = demo_plant(load_yaml(sims.emitted), run, Sinks(broker.port, None, free_port()), [shift], 48.0)
    doc["mqtt"] = {"mode": "sparkplug", "host": "127.0.0.1", "port": broker.port, "version": "5",
                   "sparkplug": {"primary_host": HOST_ID}}  # fmt: skip
    doc["storage"] = {"backend": "sqlite", "sqlite_path": "data/historian.sqlite"}
    path = run / "plant.yaml"
    write_yaml(doc, path, "# Written by bench/sparkplug/run.py for this run.\n")
    return path


def edit_plant(path: Path, change: str) -> None:
    """A reload's change: a tag added (with a unit) or removed on sl-01, or a unit changed on meter-01."""
    doc = load_yaml(path)
    devices = {d["id"]: d for d in doc["devices"]}
    if change == "add":
        tag = {**devices["sl-01"]["tags"][0], "name": EXTRA, "unit": "x"}
        devices["sl-01"]["tags"].append(tag)
    elif change == "remove":
        devices["sl-01"]["tags"] = [t for t in devices["sl-01"]["tags"] if t["name"] != EXTRA]
    else:
        tag = next(t for t in devices["meter-01"]["tags"] if t.get("unit"))
        tag["unit"] = tag["unit"] + "(soak)" if not tag["unit"].endswith("(soak)") else tag["unit"][:-6]
    write_yaml(doc, path, "# Written by bench/sparkplug/run.py for this run (edited for a reload).\n")


class Soak:
    def __init__(self, run: Path, length: float) -> None:
        self.run, self.length = run, length
        self.sims = SimPlant(SCENARIO, run / "sim")
        binary = find_binary("mosquitto", "/usr/sbin/mosquitto")
        if binary is None:
            raise SystemExit("mosquitto is needed (apt-get install mosquitto)")
        self.broker = Broker(binary, run / "broker")
        self.plant = Path()
        self.collector: Service | None = None
        self.listener: Listener | None = None
        self.host: PrimaryHost | None = None
        self.started = 0.0
        self.timeline: list[tuple[float, str]] = []

    def say(self, what: str) -> None:
        t = time.monotonic() - self.started if self.started else 0.0
        self.timeline.append((round(t, 1), what))
        print(f"[{t:6.1f}s] {what}", flush=True)

    async def apply(self, e: Event) -> None:
        assert self.host is not None and self.listener is not None
        if e.action == "rebirth":
            sent = await self.listener.rebirth(self.group(), self.node())
            self.say("NCMD rebirth" + ("" if sent else " (listener not connected: skipped)"))
        elif e.action in ("stall", "restart"):
            body = json.dumps({"kind": e.action, "seconds": e.seconds or None}).encode()
            await asyncio.to_thread(_post, f"{self.sims.control_url}/devices/{e.arg}/faults", body)
            self.say(f"{e.arg}: {e.action} {e.seconds or ''}".strip())
        elif e.action == "reload":
            edit_plant(self.plant, e.arg)
            code = await asyncio.to_thread(self._reload)
            self.say(f"reload ({e.arg}): shopfloor reload exit {code}")
        elif e.action == "broker":
            await asyncio.to_thread(self.broker.stop)
            self.say(f"mosquitto stopped for {e.seconds:.0f}s")
            await asyncio.sleep(e.seconds)
            await asyncio.to_thread(self.broker.start)
            self.say("mosquitto back")
        else:
            await self.host_outage(e)

    async def host_outage(self, e: Event) -> None:
        assert self.host is not None
        if e.action == "host_dies":
            self.host.die()
            self.say(f"primary host dies (its Will: offline) for {e.seconds:.0f}s")
        else:
            await self.host.stop()
            self.say(f"primary host stops (offline STATE) for {e.seconds:.0f}s")
        await asyncio.sleep(e.seconds)
        self.host.online()
        self.say("primary host online again (a new session)")

    def _reload(self) -> int:
        child = Service("reload", ["reload", "-c", str(self.plant)], self.run / "logs").start()
        assert child.proc is not None
        return child.proc.wait(timeout=60)

    def group(self) -> str:
        site = load_yaml(self.plant)["site"]
        return f"{site['enterprise']}-{site['site']}"

    def node(self) -> str:
        return str(load_yaml(self.plant)["site"]["edge_id"])

    async def main(self) -> int:
        await asyncio.to_thread(self.sims.start)
        await asyncio.to_thread(self.broker.start)
        self.plant = write_plant(self.run, self.sims, self.broker, self.length)
        stop = asyncio.Event()
        self.listener, self.host = Listener(self.broker.port), PrimaryHost(self.broker.port, HOST_ID)
        tasks = [asyncio.create_task(self.listener.run(stop)), asyncio.create_task(self.host.run(stop))]
        self.collector = Service("collector", ["-v", "run", "-c", str(self.plant), "--flush-deadline", "15"],
                                 self.run / "logs")  # fmt: skip
        self.collector.start()
        self.started = time.monotonic()
        self.say(f"collector started; the primary host {HOST_ID!r} is not online yet")
        try:
            await asyncio.sleep(8)
            self.host.online()
            self.say("primary host online")
            for e in schedule(self.length):
                await asyncio.sleep(max(0.0, self.started + e.at - time.monotonic()))
                await self.apply(e)
            await asyncio.sleep(max(0.0, self.started + self.length - time.monotonic()))
            self.say("stopping the collector (SIGTERM: flush, NDEATH)")
            await asyncio.to_thread(self.collector.stop, 40)
            await asyncio.sleep(2)  # the last messages reach the listener
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for closer in (self.broker.close, self.sims.stop):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(closer)
        return self.report()

    def report(self) -> int:
        assert self.listener is not None
        with (self.run / CAPTURE).open("w", encoding="utf-8") as out:
            for at, topic, raw in self.listener.got:
                out.write(json.dumps([at, topic, base64.b64encode(raw).decode()]) + "\n")
        return check(self.run, {"minutes": round(self.length / 60, 1), "timeline": self.timeline})


def check(run: Path, extra: dict[str, Any]) -> int:
    """The checks over a run directory's captured messages, plant file and historian."""
    got = []
    for line in (run / CAPTURE).read_text(encoding="utf-8").splitlines():
        at, topic, raw = json.loads(line)
        got.append((int(at), str(topic), base64.b64decode(raw)))
    data = run / "data"
    findings = analyse(
        got, data / "historian.sqlite", data / "outbox" / "mqtt.sqlite", load_plant(run / "plant.yaml").config
    )
    result: dict[str, Any] = {
        **extra, "messages": len(got), "counts": dict(sorted(findings.counts.items())),
        "problems": findings.problems, "load_average": os.getloadavg(),
    }  # fmt: skip
    (run / "sparkplug-soak.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "timeline"}, indent=1))
    print("PASS" if not findings.problems else f"FAIL: {findings.counts['problems']} problems")
    return 0 if not findings.problems else 1


def _post(url: str, body: bytes) -> None:
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="length (the recorded run: 10)")
    parser.add_argument("--out", help="run directory (default ./soak-run/sparkplug-<timestamp>)")
    parser.add_argument("--check", metavar="DIR", help="only check an earlier run's directory again")
    args = parser.parse_args(argv)
    if args.check:
        return check(Path(args.check), {})
    run = Path(args.out or Path("soak-run") / time.strftime("sparkplug-%Y%m%d-%H%M%S")).resolve()
    if (problem := used_run_dir(run)) is not None:
        print(problem)
        return 2
    run.mkdir(parents=True, exist_ok=True)
    return asyncio.run(Soak(run, max(90.0, args.minutes * 60)).main())


if __name__ == "__main__":
    sys.exit(main())
