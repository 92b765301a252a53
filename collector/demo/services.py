"""The processes a demo or soak run needs, each restartable on the same port: the simulated plant,
mosquitto, VictoriaMetrics, the collector and the historian."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collector.demo.procs import Child, free_port, port_open, wait_until

log = logging.getLogger(__name__)

SHOPFLOOR = [sys.executable, "-m", "collector"]


def find_binary(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((p for p in fallbacks if os.access(p, os.X_OK)), None)


class _Owner:
    """A service that runs as one Child (None until started)."""

    child: Child | None

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive

    def stop(self, grace: float = 15.0) -> int | None:
        return self.child.stop(grace) if self.child is not None else None


@dataclass
class Broker(_Owner):
    """mosquitto, with a persistent database (the historian's session survives a graceful restart)
    or without one (`persistent=False`: a SIGKILL or a restart leaves it empty)."""

    binary: str
    workdir: Path
    port: int = 0
    child: Child | None = None
    persistent: bool = True
    _db_dir: Path | None = None

    def start(self) -> None:
        self.port = self.port or free_port()
        if self._db_dir is None and self.persistent:
            # mosquitto drops root privileges before it saves its database: a world-writable place
            self._db_dir = Path(tempfile.mkdtemp(prefix="shopfloor-demo-broker-"))
            self._db_dir.chmod(0o777)
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        store = f"persistence true\npersistence_location {self._db_dir}/\n" if self._db_dir else ""
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{store}"
            "max_inflight_messages 0\nmax_queued_messages 0\n",
            encoding="utf-8",
        )
        self.child = Child(
            "mosquitto", [self.binary, "-c", str(conf)], self.workdir / "mosquitto.log"
        ).start()
        wait_until(lambda: port_open(self.port), 20, f"mosquitto on port {self.port}", child=self.child)

    def kill(self) -> None:
        """SIGKILL: what it held in memory is gone."""
        if self.child is not None:
            self.child.kill()

    def close(self) -> None:
        self.stop()
        if self._db_dir is not None:
            shutil.rmtree(self._db_dir, ignore_errors=True)


@dataclass
class VictoriaMetrics(_Owner):
    """The flags tests/support/servers.py uses: dedup so a replayed point counts once."""

    binary: str
    workdir: Path
    port: int = 0
    child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = self.port or free_port()
        argv = [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms",
        ]
        self.child = Child("victoria-metrics", argv, self.workdir / "victoria-metrics.log").start()
        wait_until(self.healthy, 30, f"VictoriaMetrics on port {self.port}", child=self.child)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False


@dataclass
class SimPlant(_Owner):
    """`shopfloor simulate plant` as a child; its fault-control URL is read from its output."""

    scenario: Path
    workdir: Path
    emitted: Path = field(init=False)
    control_url: str = ""
    child: Child | None = None

    def __post_init__(self) -> None:
        self.emitted = self.workdir / "simulated-plant.yaml"

    def start(self, stop: Callable[[], bool] | None = None) -> None:
        argv = [
            *SHOPFLOOR,
            "simulate",
            "plant",
            "-c",
            str(self.scenario),
            "--emit-config",
            str(self.emitted),
            "--no-faults",
        ]
        self.child = Child("simulators", argv, self.workdir / "simulators.log", env=_env()).start()
        child = self.child
        # asyncua servers take seconds each to start
        wait_until(
            lambda: "\nready" in child.log_text(),
            120,
            "the simulators",
            child=child,
            stop=stop,
        )
        found = re.search(r"fault control: (http://\S+)/devices", child.log_text())
        if found is None:
            raise RuntimeError("the simulators printed no fault-control URL (control_port must not be null)")
        self.control_url = found.group(1)


@dataclass
class Service(_Owner):
    """A `shopfloor <command> -c plant.yaml` child (the collector or the historian); restartable."""

    name: str
    args: list[str]
    workdir: Path
    child: Child | None = None
    starts: int = 0

    def start(self) -> Child:
        self.starts += 1
        self.child = Child(
            self.name, [*SHOPFLOOR, *self.args], self.workdir / f"{self.name}.log", env=_env()
        ).start()
        return self.child

    def stop(self, grace: float = 30.0) -> int | None:
        return super().stop(grace)

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()


def _env() -> dict[str, str]:
    """The children import this checkout's packages whether or not it is installed."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}
