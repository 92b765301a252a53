"""`/metrics` in the Prometheus text exposition format (version 0.0.4).

Device series come from the workers' health and the live view's latency histograms; sink series from
the outboxes (their counters are persisted, so `_total` series survive restarts); process series
from /proc where it exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from collector import __version__
from collector.config.plant import PlantConfig
from collector.delivery import SinkMetrics
from collector.model import DeviceHealthSnapshot
from collector.normalise.records import State
from collector.web.live import LiveView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Sequence[tuple[str, str]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value)) if value == value else "NaN"


class Exposition:
    """Collects families in order; every family gets its HELP and TYPE line once."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def family(self, name: str, kind: str, help_text: str) -> None:
        if name not in self._declared:
            self._declared.add(name)
            self.lines.append(f"# HELP {name} {help_text}")
            self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Labels, value: float | int) -> None:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        self.lines.append(f"{name}{{{text}}} {_num(value)}" if text else f"{name} {_num(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _devices(
    out: Exposition, plant: PlantConfig, health: Iterable[DeviceHealthSnapshot], live: LiveView
) -> None:
    snapshots = list(health)
    gauges: tuple[tuple[str, str, str, Callable[[DeviceHealthSnapshot], float]], ...] = (
        ("shopfloor_device_connected", "gauge", "1 while the device answers reads", lambda h: h.connected),
        ("shopfloor_device_reads_total", "counter", "successful reads", lambda h: h.reads),
        ("shopfloor_device_overruns_total", "counter", "poll ticks missed because a read ran long",
         lambda h: h.overruns),
        ("shopfloor_device_consecutive_errors", "gauge", "errors since the last successful read",
         lambda h: h.consecutive_errors),
    )  # fmt: skip
    for name, kind, help_text, get in gauges:
        out.family(name, kind, help_text)
        for h in snapshots:
            out.sample(name, [("device", h.device)], get(h))
    out.family("shopfloor_device_errors_total", "counter", "failed reads and connects by kind")
    for h in snapshots:
        for kind, count in h.errors:
            out.sample("shopfloor_device_errors_total", [("device", h.device), ("kind", kind)], count)
    out.family("shopfloor_device_read_latency_last_seconds", "gauge", "duration of the last successful read")
    for h in snapshots:
        if h.last_latency_ms is not None:
            out.sample(
                "shopfloor_device_read_latency_last_seconds", [("device", h.device)], h.last_latency_ms / 1000
            )
    name = "shopfloor_device_read_latency_seconds"
    out.family(name, "histogram", "duration of successful reads that produced readings")
    for h in snapshots:
        dev = live.devices.get(h.device)
        if dev is None:
            continue
        for le, count in dev.latency.cumulative():
            out.sample(f"{name}_bucket", [("device", h.device), ("le", le)], count)
        out.sample(f"{name}_sum", [("device", h.device)], dev.latency.total)
        out.sample(f"{name}_count", [("device", h.device)], dev.latency.count)
    out.family(
        "shopfloor_device_last_good_timestamp_seconds", "gauge", "collector time of the last Good value"
    )
    for h in snapshots:
        if h.last_good_ts is not None:
            out.sample(
                "shopfloor_device_last_good_timestamp_seconds", [("device", h.device)], h.last_good_ts / 1000
            )
    out.family("shopfloor_device_state", "gauge", "1 for the device's current equipment state (state rule)")
    for device in plant.devices:
        change = d.state if (d := live.devices.get(device.id)) is not None else None
        if change is None:
            continue
        for state in State:
            out.sample(
                "shopfloor_device_state",
                [("device", device.id), ("state", state.name)],
                state is change.state,
            )


def _sinks(out: Exposition, sinks: Sequence[tuple[SinkMetrics, bool]]) -> None:
    per_sink: tuple[tuple[str, str, str, Callable[[SinkMetrics], float]], ...] = (
        ("shopfloor_outbox_depth", "gauge", "records waiting in the sink's outbox", lambda m: m.depth),
        ("shopfloor_outbox_bytes", "gauge", "bytes held by the sink's outbox", lambda m: m.bytes),
        ("shopfloor_outbox_oldest_age_seconds", "gauge", "age of the oldest record in the outbox",
         lambda m: m.oldest_age_ms / 1000),
        ("shopfloor_outbox_unconfirmed", "gauge",
         "records the broker took that wait for the store's confirmation", lambda m: m.unconfirmed),
        ("shopfloor_sink_batches_total", "counter", "batches the sink took since start",
         lambda m: m.connected_batches),
    )  # fmt: skip
    for name, kind, help_text, get in per_sink:
        out.family(name, kind, help_text)
        for metrics, _ in sinks:
            out.sample(name, [("sink", metrics.sink)], get(metrics))
    out.family("shopfloor_sink_up", "gauge", "0 while the sink is in an outage (records kept in the outbox)")
    for metrics, up in sinks:
        out.sample("shopfloor_sink_up", [("sink", metrics.sink)], up)
    out.family(
        "shopfloor_sink_points_total",
        "counter",
        "points per sink and device: accepted, acked (broker PUBACK or store answer, first time), confirmed "
        "(held by the store), replayed, resent, dropped",
    )
    for metrics, _ in sinks:
        for device, result, value in metrics.counters:
            out.sample(
                "shopfloor_sink_points_total",
                [("sink", metrics.sink), ("device", device), ("result", result)],
                value,
            )


def _process(out: Exposition) -> None:
    """Resident memory and open descriptors where /proc exists (Linux); absent elsewhere."""
    try:
        rss_pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
        fds = len(os.listdir("/proc/self/fd"))
    except (OSError, ValueError, IndexError):
        return
    out.family("process_resident_memory_bytes", "gauge", "resident memory of the collector process")
    out.sample("process_resident_memory_bytes", [], rss_pages * os.sysconf("SC_PAGE_SIZE"))
    out.family("process_open_fds", "gauge", "open file descriptors of the collector process")
    out.sample("process_open_fds", [], fds)


def render(
    plant: PlantConfig,
    health: Iterable[DeviceHealthSnapshot],
    live: LiveView,
    sinks: Sequence[tuple[SinkMetrics, bool]],
    session: int,
) -> str:
    """The whole scrape; `sinks` pairs each sink's metrics with whether it is up."""
    out = Exposition()
    out.family("shopfloor_collector_info", "gauge", "constant 1 with the version, edge id and session")
    out.sample(
        "shopfloor_collector_info",
        [("version", __version__), ("edge_id", plant.site.edge_id), ("session", str(session))],
        1,
    )
    snapshots = list(health)
    out.family("shopfloor_devices_configured", "gauge", "devices in the plant file")
    out.sample("shopfloor_devices_configured", [], len(plant.devices))
    out.family("shopfloor_devices_connected", "gauge", "devices answering reads now")
    out.sample("shopfloor_devices_connected", [], sum(1 for h in snapshots if h.connected))
    _devices(out, plant, snapshots, live)
    _sinks(out, sinks)
    _process(out)
    return out.render()
