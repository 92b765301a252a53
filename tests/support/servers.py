"""Real mosquitto and VictoriaMetrics processes on free loopback ports, stopped by PID."""

from __future__ import annotations

import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.net import free_port, port_open, require_binary, wait_for


@dataclass
class Server:
    name: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def describe_failure(self) -> str:
        tail = self.log.read_text(errors="replace")[-2000:]
        return f"{self.name} exited with {self.proc.returncode}; log:\n{tail}"


def _wait_ready(server: Server, probe: object) -> None:
    def ready() -> bool:
        if server.proc.poll() is not None:
            raise RuntimeError(server.describe_failure())
        return bool(probe())  # type: ignore[operator]

    wait_for(ready, timeout=30, what=f"{server.name} on port {server.port}")


def start_mosquitto(workdir: Path, extra_conf: str = "", port: int | None = None) -> Server:
    binary = require_binary("mosquitto", "/usr/sbin/mosquitto")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"max_inflight_messages 0\nmax_queued_messages 0\n{extra_conf}"
    )
    log = workdir / "mosquitto.log"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server("mosquitto", "127.0.0.1", port, proc, log)
    _wait_ready(server, lambda: port_open(port))
    return server


def start_victoria_metrics(workdir: Path, *, port: int | None = None, dedup: bool = True) -> Server:
    """VictoriaMetrics on loopback. `dedup` makes a replayed point (same series and timestamp)
    count once, which at-least-once delivery relies on; restart on the same `port` to simulate an outage."""
    binary = require_binary("victoria-metrics", "/usr/bin/victoria-metrics")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "victoria-metrics.log"
    args = [
        binary,
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={workdir / 'data'}",
        "-search.latencyOffset=0s",  # read-after-write in tests
        "-retentionPeriod=100y",
        *(["-dedup.minScrapeInterval=1ms"] if dedup else []),
    ]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    server = Server("victoria-metrics", "127.0.0.1", port, proc, log)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    _wait_ready(server, healthy)
    return server
