"""Orchestration shared by `shopfloor demo` and bench/soak: start the simulated plant, broker, store,
historian and collector; apply schedule steps; stop everything in an order that loses nothing."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import simulators
from collector.clock import now_ms
from collector.demo import rabbitmq
from collector.demo.plant import (
    ShiftWindow,
    Sinks,
    demo_plant,
    load_yaml,
    split_shifts,
    write_yaml,
)
from collector.demo.procs import Interrupted, free_port, wait_until
from collector.demo.rabbitmq import RabbitCluster
from collector.demo.schedule import Step
from collector.demo.services import Broker, Service, SimPlant, VictoriaMetrics, find_binary
from simulators.overlay import ideal_cycle_s

log = logging.getLogger(__name__)
# shipped inside the simulators package, so `shopfloor demo` works from an installed wheel too
DEFAULT_SCENARIO = Path(simulators.__file__).resolve().parent / "scenarios" / "demo.yaml"


def used_run_dir(run_dir: Path) -> str | None:
    """Why `run_dir` cannot hold a new run, or None. An earlier run's logs would answer the
    readiness checks at once and its emitted plant file name the old simulators' ports."""
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        return f"{run_dir} is not empty (an earlier run?): give another --out or remove it"
    return None


@dataclass
class RigOptions:
    run_dir: Path
    length_s: float
    scenario: Path = DEFAULT_SCENARIO
    broker: bool = True  # mosquitto when the binary is there
    store: bool = True  # VictoriaMetrics when the binary is there, else the embedded SQLite historian
    shifts: int = 1  # consecutive shifts in the calendar (a collector restart inside one voids its KPI)
    historians: int = 1
    historian_group: str | None = ""  # "": a plain subscription; None: `shopfloor historian`'s default group
    broker_persistent: bool = True  # False: a killed or restarted broker comes back empty
    standby_broker: bool = False  # a second broker at the plant file's failover address (broker_takeover)
    rabbitmq: bool = False  # a 3-node RabbitMQ cluster (MQTT 3.1.1, no $share) instead of mosquitto


@dataclass
class Rig:
    opts: RigOptions
    stop_requested: Callable[[], bool] = lambda: False
    notices: list[str] = field(default_factory=list)
    sims: SimPlant | None = None
    broker: Broker | RabbitCluster | None = None  # the one in service
    standby: Broker | None = None  # started when a fail-over makes it the one in service
    vm: VictoriaMetrics | None = None
    historians: list[Service] = field(default_factory=list)
    collector: Service | None = None
    plant_path: Path | None = None
    shift: ShiftWindow | None = None  # the span of the calendar's shifts
    shifts: list[ShiftWindow] = field(default_factory=list)
    web_port: int = 0
    started: float = 0.0  # monotonic time the collector was first started
    started_ms: int = 0
    time_scale: float = 1.0
    _historian_kills: int = 0
    _killed_historian: Service | None = None

    # -- start -------------------------------------------------------------------------------

    def start(self, on_progress: Callable[[str], None] = lambda _m: None) -> None:
        run = self.opts.run_dir
        run.mkdir(parents=True, exist_ok=True)
        on_progress("starting the simulated plant (OPC UA servers take a few seconds each)")
        self.sims = SimPlant(self.opts.scenario, run / "sim")
        self.sims.start(stop=self.stop_requested)
        self._start_broker(on_progress)
        self._start_store(on_progress)
        self.web_port = free_port()
        self.plant_path = self._write_plant()
        if self.vm is not None and self.broker is not None:
            on_progress("starting the historian (MQTT → VictoriaMetrics)")
            group = [] if self.opts.historian_group is None else ["--group", self.opts.historian_group]
            if self.opts.rabbitmq:  # no shared subscriptions; a session can be stuck on a dead node
                group = ["--group", "", "--session", "clean"]
            for n in range(1, self.opts.historians + 1):
                name = "historian" if self.opts.historians == 1 else f"historian-{n}"
                args = ["-v", "historian", "-c", str(self.plant_path), "--instance", str(n), *group]
                self.historians.append(Service(name, args, run / "logs"))
            for historian in self.historians:
                self._start_historian(historian)
        on_progress("starting the collector")
        self.collector = Service(
            "collector", ["-v", "run", "-c", str(self.plant_path), "--flush-deadline", "15"], run / "logs"
        )
        self.started, self.started_ms = time.monotonic(), now_ms()
        self.collector.start()

    def _start_broker(self, on_progress: Callable[[str], None]) -> None:
        if self.opts.rabbitmq:
            self._start_cluster(on_progress)
            return
        binary = find_binary("mosquitto", "/usr/sbin/mosquitto") if self.opts.broker else None
        if binary is None:
            if self.opts.broker:
                self.notices.append(
                    "mosquitto not found: delivering to the store only (apt-get install mosquitto)"
                )
            return
        on_progress("starting a private mosquitto")
        broker = Broker(binary, self.opts.run_dir / "broker", persistent=self.opts.broker_persistent)
        try:
            broker.start()
        except (RuntimeError, TimeoutError, OSError) as exc:
            broker.close()
            self.notices.append(
                f"mosquitto could not start ({str(exc).splitlines()[0]}): store-only delivery"
            )
            return
        self.broker = broker
        if self.opts.standby_broker:  # its port is reserved now and written into the plant file
            standby = self.opts.run_dir / "broker-standby"
            self.standby = Broker(binary, standby, free_port(), persistent=self.opts.broker_persistent)

    def _start_cluster(self, on_progress: Callable[[str], None]) -> None:
        if not rabbitmq.available():
            raise RuntimeError("rabbitmq-server is not installed (./scripts/setup installs it as root)")
        on_progress("starting a 3-node RabbitMQ cluster with the MQTT plugin (a minute or so)")
        cluster = RabbitCluster(self.opts.run_dir / "rabbitmq")
        self.broker = cluster  # closed with the rest even if starting fails
        cluster.start()

    def _start_store(self, on_progress: Callable[[str], None]) -> None:
        binary = find_binary("victoria-metrics", "/usr/bin/victoria-metrics") if self.opts.store else None
        if binary is None or self.broker is None:
            why = "victoria-metrics not installed" if binary is None else "no broker for the historian"
            self.notices.append(f"store: the embedded SQLite historian ({why})")
            return
        on_progress("starting VictoriaMetrics")
        vm = VictoriaMetrics(binary, self.opts.run_dir / "victoria-metrics")
        try:
            vm.start()
        except (RuntimeError, TimeoutError, OSError) as exc:
            vm.stop()
            self.notices.append(
                f"VictoriaMetrics could not start ({str(exc).splitlines()[0]}): SQLite historian"
            )
            return
        self.vm = vm

    def _write_plant(self) -> Path:
        assert self.sims is not None
        scenario = load_yaml(self.opts.scenario)
        self.time_scale = float(scenario.get("time_scale", 1.0))
        now, length = now_ms(), self.opts.length_s
        # The shift must begin after the collector started (a window it did not see whole is not
        # reported) and end before the run does, so its OEE record is in the pack.
        lead = max(15.0, 0.15 * length)
        tail = max(8.0, 0.1 * length)
        whole = 1000  # the calendar is written in whole seconds
        start = -(-(now + int(lead * 1000)) // whole) * whole
        end = max(start + whole, (now + int((length - tail) * 1000)) // whole * whole)
        self.shift = ShiftWindow(start, end)
        self.shifts = split_shifts(self.shift, self.opts.shifts)
        sinks = Sinks(
            broker_port=self.broker.port if self.broker else None,
            store_url=self.vm.url if self.vm else None,
            web_port=self.web_port,
            failover_ports=self._failover_ports(),
            mqtt_version="3.1.1" if self.opts.rabbitmq else "5",
        )
        doc = demo_plant(
            load_yaml(self.sims.emitted),
            self.opts.run_dir,
            sinks,
            self.shifts,
            ideal_cycle_s=ideal_cycle_s(self.time_scale),
        )
        path = self.opts.run_dir / "plant.yaml"
        write_yaml(
            doc,
            path,
            "# Written by `shopfloor demo` for this run: the simulators' devices plus state,\n"
            "# counters, OEE inputs, a short shift calendar and this run's broker and store.\n",
        )
        return path

    def _failover_ports(self) -> tuple[int, ...]:
        if isinstance(self.broker, RabbitCluster):
            return self.broker.failover_ports
        return (self.standby.port,) if self.standby else ()

    def _start_historian(self, historian: Service) -> None:
        child = historian.start()
        wait_until(
            lambda: "historian subscribed" in child.log_text(),
            60,
            "the historian to subscribe",
            child=child,
            stop=self.stop_requested,
        )

    # -- while running -------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.started else 0.0

    def apply(self, step: Step) -> str:
        """Carry out one schedule step; returns what happened (for the timeline)."""
        if step.action == "device":
            return self.device_fault(step.device or "", step.kind or "", step.seconds)
        if step.action.startswith("broker_"):
            return self.broker_fault(step.action)
        if step.action == "store_down":
            if self.vm is None:
                return "skipped: no VictoriaMetrics"
            self.vm.stop()
            return "VictoriaMetrics stopped"
        if step.action == "store_up":
            if self.vm is None or self.vm.running:
                return "skipped"
            self.vm.start()
            return f"VictoriaMetrics serving again on port {self.vm.port}"
        if step.action.startswith("historian_"):
            return self.historian_fault(step.action)
        if step.action == "collector_kill":
            assert self.collector is not None
            self.collector.kill()
            return "collector killed (SIGKILL)"
        if step.action == "collector_start":
            assert self.collector is not None
            if not self.collector.running:
                self.collector.start()
            return f"collector started again (start #{self.collector.starts})"
        raise ValueError(f"unknown schedule action {step.action!r}")

    def broker_fault(self, action: str) -> str:
        """broker_down (stopped), broker_kill (SIGKILL), broker_up (the same broker again, on its
        port), broker_takeover (the standby starts at the failover address and is in service)."""
        broker = self.broker
        if broker is None:
            return "skipped: no broker"
        if isinstance(broker, RabbitCluster):
            return self._node_fault(broker, action)
        if action == "broker_down":
            broker.stop()
            return "mosquitto stopped"
        if action == "broker_kill":
            broker.kill()
            return "mosquitto killed (SIGKILL)" + ("" if broker.persistent else ", without persistence")
        if action == "broker_takeover" and self.standby is not None:
            if broker.running:
                broker.kill()
            self.broker, self.standby = self.standby, broker
            self.broker.start()
            return f"an empty standby mosquitto took over on port {self.broker.port}"
        if broker.running:
            return "skipped"
        broker.start()
        return f"mosquitto listening again on port {broker.port}" + ("" if broker.persistent else ", empty")

    def _node_fault(self, cluster: RabbitCluster, action: str) -> str:
        """A cluster has no standby to start: a kill takes down one node, the others serve on."""
        if action in ("broker_kill", "broker_down"):
            cluster.kill()
            return f"RabbitMQ node {cluster.killed.name if cluster.killed else '?'} killed (SIGKILL)"
        killed = cluster.killed
        if killed is None:
            return "skipped"
        cluster.start()
        return f"RabbitMQ node {killed.name} started again (rejoins the cluster)"

    def historian_fault(self, action: str) -> str:
        """historian_kill: SIGKILL the historians in turn, one at a time; historian_start: again."""
        if not self.historians:
            return "skipped: no historian"
        if action == "historian_kill":
            self._killed_historian = self.historians[self._historian_kills % len(self.historians)]
            self._historian_kills += 1
            self._killed_historian.kill()
            return f"{self._killed_historian.name} killed (SIGKILL)"
        killed, self._killed_historian = self._killed_historian, None
        if killed is None or killed.running:
            return "skipped"
        killed.start()
        return f"{killed.name} started again"

    def device_fault(self, device: str, kind: str, seconds: float | None) -> str:
        assert self.sims is not None
        body = json.dumps({"kind": kind, "seconds": seconds}).encode()
        req = urllib.request.Request(
            f"{self.sims.control_url}/devices/{device}/faults", data=body, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return str(json.loads(resp.read()).get("result", "done"))
        except OSError as exc:
            return f"fault not applied: {exc}"

    def wait_collector_started(self, timeout: float = 60.0) -> None:
        """Until this incarnation logged its session (its log is appended across restarts)."""
        assert self.collector is not None and self.collector.child is not None
        child, starts = self.collector.child, self.collector.starts
        wait_until(lambda: child.log_text().count("collector session") >= starts, timeout,
                   "the collector to start", child=child)  # fmt: skip
        time.sleep(1.0)  # its signal handlers are installed right after that line

    def heal(self) -> list[str]:
        """Bring a stopped broker, store or historian back, so the final flush can deliver."""
        done = []
        for historian in self.historians:
            if not historian.running:
                historian.start()
                done.append(f"{historian.name} started again for the final flush")
        if self.broker is not None and not self.broker.running:
            self.broker.start()
            done.append("broker restarted for the final flush")
        if self.vm is not None and not self.vm.running:
            self.vm.start()
            done.append("VictoriaMetrics restarted for the final flush")
        return done

    # -- stop ----------------------------------------------------------------------------------

    def stop_collector(self) -> int | None:
        """SIGTERM: the collector stops its devices and flushes its outboxes (--flush-deadline)."""
        if self.collector is None or not self.collector.running:
            return None
        return self.collector.stop(grace=40)

    def drain(self, landed: Callable[[], int], expected: int, timeout: float = 45.0) -> int:
        """Wait until the store holds `expected` points or stops growing; returns what it holds."""
        deadline, last, still = time.monotonic() + timeout, -1, 0
        while time.monotonic() < deadline:
            try:
                now = landed()
            except Exception as exc:  # the store may be restarting: try again
                log.info("store not readable yet: %s", exc)
                now = last
            if now >= expected:
                return now
            still = still + 1 if now == last else 0
            if still >= 10:  # 5 s without growth: nothing more is coming
                return now
            last = now
            time.sleep(0.5)
        return last

    def close(self) -> None:
        """Everything stopped, collector first; safe to call more than once."""
        for stop in (
            self.stop_collector,
            self._stop_historian,
            self._stop_store,
            self._stop_broker,
            self._stop_sims,
        ):
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.exception("stopping failed")

    def _stop_historian(self) -> None:
        for historian in self.historians:
            historian.stop()

    def _stop_store(self) -> None:
        if self.vm is not None:
            self.vm.stop()

    def _stop_broker(self) -> None:
        for broker in (self.broker, self.standby):
            if broker is not None:
                broker.close()

    def _stop_sims(self) -> None:
        if self.sims is not None:
            self.sims.stop()


__all__ = ["DEFAULT_SCENARIO", "Interrupted", "Rig", "RigOptions"]
