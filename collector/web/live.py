"""The in-process live view: latest value per tag, current state per device, read latencies.

It sits between the engine and the delivery stage by wrapping the engine's two callables:

    live = LiveView()
    engine = Engine(plant, live.output(delivery), events=live.events(delivery.events))
    live.bind(engine)            # read latencies come from the device workers' health

Each reading costs one dict store (O(1)); a read's latency one histogram bucket increment.
Nothing here does I/O, so the engine's hot path stays as fast as before.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collector.model import Reading
from collector.normalise.device import DeviceEvents
from collector.normalise.records import StateChange

if TYPE_CHECKING:
    from collector.engine import Engine

Output = Callable[[str, list[Reading]], None]
EventOutput = Callable[[DeviceEvents], None]

# Read latency buckets in seconds: Modbus/OPC UA reads on a plant LAN are ms to a few seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SEVERITY_MASK = 0xC0000000


@dataclass
class Histogram:
    """A Prometheus-style histogram: per-bucket counts (not cumulative), sum and count."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs as exposed, ending with +Inf."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class DeviceLive:
    """What the collector last handed on for one device."""

    latest: dict[str, Reading] = field(default_factory=dict)  # tag → last reading, insertion = first seen
    last_ts: int | None = None  # collector time of the last reading of any quality
    last_good_ts: int | None = None  # ... of the last Good reading
    state: StateChange | None = None
    latency: Histogram = field(default_factory=Histogram)
    reads_seen: int = 0  # the worker's read count when the latency was last sampled


class LiveView:
    def __init__(self) -> None:
        self.devices: dict[str, DeviceLive] = {}
        self._engine: Engine | None = None

    def bind(self, engine: Engine) -> None:
        """Read latencies are sampled from the engine's device workers as their readings arrive."""
        self._engine = engine

    def device(self, device_id: str) -> DeviceLive:
        live = self.devices.get(device_id)
        if live is None:
            live = self.devices[device_id] = DeviceLive()
        return live

    def observe(self, device_id: str, readings: list[Reading]) -> None:
        live = self.device(device_id)
        latest = live.latest
        good_ts = None
        for reading in readings:
            latest[reading.tag] = reading
            if reading.status & _SEVERITY_MASK == 0:
                good_ts = reading.collected_ts
        if readings:
            live.last_ts = readings[-1].collected_ts
        if good_ts is not None:
            live.last_good_ts = good_ts
        self._sample_latency(device_id, live)

    def observe_events(self, events: DeviceEvents) -> None:
        if events.states:
            self.device(events.device).state = events.states[-1]

    def output(self, downstream: Output) -> Output:
        """The engine's `output`: record, then hand on unchanged."""

        def output(device_id: str, readings: list[Reading]) -> None:
            self.observe(device_id, readings)
            downstream(device_id, readings)

        return output

    def events(self, downstream: EventOutput | None) -> EventOutput:
        """The engine's `events`: record state changes, then hand on unchanged."""

        def events(device_events: DeviceEvents) -> None:
            self.observe_events(device_events)
            if downstream is not None:
                downstream(device_events)

        return events

    def _sample_latency(self, device_id: str, live: DeviceLive) -> None:
        # The worker sets its health just before handing readings on, so a new read count means
        # last_latency_ms belongs to this read; the output of a failed connect carries no new read.
        if self._engine is None:
            return
        worker = self._engine.workers.get(device_id)
        if worker is None:
            return
        health = worker.health
        if health.reads != live.reads_seen and health.last_latency_ms is not None:
            live.reads_seen = health.reads
            live.latency.observe(health.last_latency_ms / 1000.0)
