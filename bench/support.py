"""The servers a benchmark runs beside the collector: mosquitto and VictoriaMetrics on free loopback
ports, started and stopped by the project's own launcher (collector/demo/services.py, which the
demo and the soak use), so the benchmarks import nothing from tests/.

    with mosquitto(tmp / "mosquitto") as broker, victoria_metrics(tmp / "vm") as vm:
        ...  # broker.port, vm.url
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.demo.services import Broker, VictoriaMetrics, find_binary  # noqa: E402


def _binary(name: str, *fallbacks: str) -> str:
    found = find_binary(name, *fallbacks)
    if found is None:
        raise SystemExit(f"{name} is not installed (./scripts/setup installs it)")
    return found


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[Broker]:
    """A private mosquitto (QoS 1 queues unbounded) for the block."""
    broker = Broker(_binary("mosquitto", "/usr/sbin/mosquitto"), workdir)
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


@contextlib.contextmanager
def victoria_metrics(workdir: Path) -> Iterator[VictoriaMetrics]:
    """A private VictoriaMetrics (deduplicating, read-after-write) for the block."""
    store = VictoriaMetrics(_binary("victoria-metrics", "/usr/bin/victoria-metrics"), workdir)
    try:
        store.start()
        yield store
    finally:
        store.stop()
