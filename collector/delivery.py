"""Fan-out delivery: the engine's output goes into one durable outbox per sink; one task per sink
drains its outbox, so a broker outage never blocks the store and the reverse.

    delivery = Delivery.build(plant, base_dir, session)        # outboxes + sinks from the plant file
    engine = Engine(plant, delivery)                           # delivery(device, readings) appends
    await delivery.run(stop)                                   # until stop is set, then a final flush

Replay: records that existed when a sink (re)gained its connection are the backlog and are sent
with `hist: true`; records appended after that moment are live. Batches alternate between backlog
and live so live values never wait behind a long backlog.

What removes a record depends on the sink: a store sink's write (the store holds it); for MQTT with
store confirmation (the default when `shopfloor historian` fills the store), a historian's
confirmation — the PUBACK only marks the record sent, and what stays unconfirmed past its deadline
is sent again; for MQTT in `confirm.mode: broker` (and Sparkplug), the PUBACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from collector.aio import first_of
from collector.clock import now_ms
from collector.config.plant import PlantConfig
from collector.config.sinks import MqttMode, StoreBackend, store_confirmed
from collector.events_out import EventsOut
from collector.model import Reading
from collector.normalise.device import DeviceEvents
from collector.outbox import Entry, Outbox, OutboxRecord
from collector.sinks.base import (
    Batch,
    Reconfigurable,
    RejectedBatchError,
    RetryableSinkError,
    Sink,
    SinkHeld,
    telemetry_entry,
)
from collector.sinks.confirm import Confirmation
from collector.sinks.unconfirmed import Unconfirmed
from drivers.backoff import Backoff

log = logging.getLogger(__name__)

HELD_RECHECK = 1.0  # seconds between looks at a holding sink (the outbox bounds run meanwhile)


@dataclass(frozen=True, slots=True)
class SinkMetrics:
    sink: str
    depth: int
    bytes: int
    oldest_age_ms: int
    connected_batches: int
    counters: tuple[tuple[str, str, int], ...]  # (device, counter name of outbox.py, points)
    unconfirmed: int = 0  # records published and waiting for the store's confirmation


class SinkObserver(Protocol):
    """Outage start/end and finished replays of a sink (the audit ledger records them)."""

    def sink_outage(self, sink: str, message: str) -> None: ...

    def sink_restored(self, sink: str) -> None: ...

    def replay_finished(
        self, sink: str, started_ms: int, ended_ms: int, by_device: dict[str, int]
    ) -> None: ...


@dataclass
class _Replay:
    started_ms: int
    by_device: Counter[str]


class SinkRunner:
    """Drains one outbox into one sink: ack on success, keep on RetryableSinkError, drop on reject.

    `stores`: the sink's write is the store's (its acknowledgement counts as confirmed).
    `awaiting`: records stay after the write until the store's confirmation (`confirmed()`) comes."""

    def __init__(
        self, sink: Sink, outbox: Outbox, batch_records: int = 500, observer: SinkObserver | None = None,
        *, stores: bool = False, awaiting: Unconfirmed | None = None,
    ) -> None:  # fmt: skip
        self.sink = sink
        self.outbox = outbox
        self.batch_records = batch_records
        self.observer = observer
        self.stores = stores
        self.awaiting = awaiting
        self._replay: _Replay | None = None  # backlog delivered since a restart or an outage ended
        self.wake = asyncio.Event()
        self.batches = 0
        self._backoff = Backoff(base=0.2, cap=5.0)  # retrying costs one batch; a long cap delays recovery
        self._live_from = outbox.next_id()  # what is stored at start is backlog: replay it as hist
        self._backlog_after = 0
        self._live_after = self._live_from - 1
        self._outage = False
        self._prefer_live = True
        self._stop_requested = asyncio.Event()

    @property
    def outage(self) -> bool:
        return self._outage

    def confirmed(self, confirmation: Confirmation) -> None:
        """A historian's confirmation (the sink calls this as it arrives); applied before the next batch."""
        if self.awaiting is not None:
            self.awaiting.confirmed(confirmation)
            self.wake.set()

    def _fit(self, records: list[OutboxRecord]) -> list[OutboxRecord]:
        return records if self.awaiting is None else self.awaiting.fit(records)

    def _next_batch(self) -> tuple[list[OutboxRecord], bool]:
        """Alternate live and backlog batches; (records, hist)."""
        n = self.batch_records
        backlog = self._fit(self.outbox.fetch(self._backlog_after, n, before_id=self._live_from))
        if not backlog and self._replay is not None and not self._outage:
            self._replay_done()
        live = self._fit(self.outbox.fetch(self._live_after, n)) if not self._outage else []
        if live and (self._prefer_live or not backlog):
            self._prefer_live = False
            return live, False
        self._prefer_live = True
        if backlog:
            return backlog, True
        return self._fit(self.outbox.fetch(self._live_after, n)), self._outage

    def _advance(self, records: Sequence[OutboxRecord]) -> None:
        last = records[-1].id
        if last < self._live_from:
            self._backlog_after = last
        else:
            self._live_after = last

    def _rewind(self) -> None:
        """After a failure everything unconfirmed is sent again, from the oldest: a broker that went
        away may have lost whatever it held, acknowledged or not."""
        self._backlog_after, self._live_after = 0, self._live_from - 1
        if self.awaiting is not None:
            self.awaiting.hold()

    def _settle(self, records: Sequence[OutboxRecord], hist: bool) -> None:
        """The sink took `records`: remove them, or mark them sent until the store confirms."""
        if self.awaiting is None:
            self.outbox.ack(records, hist=hist, stored=self.stores)
        else:
            self.awaiting.settle(records, hist)

    async def step(self) -> bool:
        """Send one batch; False when the outbox had nothing to send (or the window is full)."""
        resend: list[OutboxRecord] = []
        if self.awaiting is not None:
            self.awaiting.apply()
            if not self._outage:  # during an outage the replay after it sends everything
                resend = self.awaiting.due(self.batch_records)
        records, hist = (resend, True) if resend else self._next_batch()
        if not records:
            return False
        try:
            await self.sink.write(Batch(records, hist or self._outage))
        except RetryableSinkError as exc:
            await self._failed(exc)
            return True
        except RejectedBatchError as exc:
            rejected = [r for r in records if exc.ids is None or r.id in exc.ids]
            self.outbox.reject(rejected, exc.reason)
            if self.awaiting is not None:
                self.awaiting.forget(rejected)
            self._settle([r for r in records if r not in rejected], hist or self._outage)
        else:
            self._settle(records, hist or self._outage)
        if (hist or self._outage) and not resend:
            self._replayed(records)
        self.batches += 1
        if self._outage:  # back: what is stored now is the backlog, newer records are live
            self._outage = False
            log.warning("%s: delivering again; replaying the backlog", self.sink.name)
            if self.observer is not None:
                self.observer.sink_restored(self.sink.name)
            # this batch was the oldest records (the failure rewound to them): the replay goes on after it
            self._live_from = self.outbox.next_id()
            self._backlog_after, self._live_after = records[-1].id, self._live_from - 1
        elif not resend:  # a re-sent batch leaves the cursors where they are
            self._advance(records)
        self._backoff.reset()
        return True

    async def _failed(self, exc: RetryableSinkError) -> None:
        if not self._outage:
            log.warning("%s: outage, keeping records in the outbox: %s", self.sink.name, exc)
            if self.observer is not None:
                self.observer.sink_outage(self.sink.name, str(exc) or type(exc).__name__)
        self._outage = True
        self._rewind()
        if isinstance(exc, SinkHeld):  # the sink says when; the run loop still enforces the bounds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HELD_RECHECK):
                    await first_of(exc.resume, self._stop_requested)
            return
        delay = exc.retry_after if exc.retry_after is not None else self._backoff.next()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop_requested.wait()

    def _replayed(self, records: Sequence[OutboxRecord]) -> None:
        if self._replay is None:
            self._replay = _Replay(now_ms(), Counter())
        for r in records:
            self._replay.by_device[r.device] += r.count

    def _replay_done(self) -> None:
        replay, self._replay = self._replay, None
        if replay is not None and self.observer is not None:
            ended = now_ms()
            self.observer.replay_finished(self.sink.name, replay.started_ms, ended, dict(replay.by_device))

    async def run(self, stop: asyncio.Event, flush_deadline: float = 5.0) -> None:
        """Until `stop`; then keep flushing until the outbox is empty or the deadline passed."""
        self._stop_requested = stop
        last_bounds = time.monotonic()
        async with self.sink:
            while not stop.is_set():
                if time.monotonic() - last_bounds > 1.0:
                    self.outbox.enforce_bounds()
                    last_bounds = time.monotonic()
                if await self.step():
                    continue
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await first_of(self.wake, stop)
            await self._flush(flush_deadline)

    async def _flush(self, deadline: float) -> None:
        """Drain what is stored, and wait for the store's confirmations of what was sent (what stays
        unconfirmed for a third of the deadline is sent again); during an outage try once more,
        then leave the rest stored (for the next start)."""
        until = time.monotonic() + deadline / 3
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline):
                was_out = self._outage
                while True:
                    if await self.step():
                        if self._outage and was_out:
                            return
                        was_out = self._outage
                        continue
                    if not self.awaiting:
                        return
                    self.awaiting.stopping(until)
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self.wake.wait()

    def metrics(self) -> SinkMetrics:
        box = self.outbox
        counters = tuple(sorted((d, n, v) for (d, n), v in box.counters().items()))
        waiting = 0 if self.awaiting is None else len(self.awaiting)
        return SinkMetrics(
            self.sink.name, box.depth, box.bytes, box.oldest_age_ms(), self.batches, counters, waiting
        )


class Delivery:
    """The engine's `output` callable: one SQLite transaction per sink per call, then wake the runners."""

    def __init__(self, runners: Sequence[SinkRunner], session: int = 0) -> None:
        self.runners = list(runners)
        self._events_out = EventsOut(session)

    def __call__(self, device: str, readings: list[Reading]) -> None:
        if readings:
            self.submit([telemetry_entry(device, readings)])

    def events(self, device_events: DeviceEvents) -> None:
        """The engine's `events` callable: state, event/state_change, event/counter, kpi/<period>."""
        if device_events:
            self.submit(self._events_out.entries(device_events))

    def submit(self, entries: Sequence[Entry]) -> None:
        """Any record kind (state, event/…, kpi/…): each sink takes the kinds it accepts."""
        for runner in self.runners:
            mine = [e for e in entries if runner.sink.accepts(e.kind)]
            if mine:
                runner.outbox.append(mine)
                runner.wake.set()

    async def run(self, stop: asyncio.Event, flush_deadline: float = 5.0) -> None:
        async with asyncio.TaskGroup() as group:
            for runner in self.runners:
                group.create_task(runner.run(stop, flush_deadline), name=f"deliver[{runner.sink.name}]")

    def metrics(self) -> list[SinkMetrics]:
        return [r.metrics() for r in self.runners]

    def reconfigure(self, plant: PlantConfig) -> None:
        """A reload was applied: sinks that describe devices to their consumers learn the new plant."""
        for runner in self.runners:
            if isinstance(runner.sink, Reconfigurable):
                runner.sink.reconfigure(plant)

    def observe(self, observer: SinkObserver | None) -> None:
        """Report every sink's outages and replays to `observer` (None: stop reporting)."""
        for runner in self.runners:
            runner.observer = observer

    def close(self) -> None:
        for runner in self.runners:
            runner.outbox.close()

    @staticmethod
    def has_sink(plant: PlantConfig) -> bool:
        """False when `build` would make no sink: MQTT off and a store the historian fills from MQTT."""
        storage = plant.storage
        return plant.mqtt.mode is not MqttMode.OFF or storage.backend is StoreBackend.SQLITE or storage.direct

    @staticmethod
    def store_unfilled(plant: PlantConfig) -> bool:
        """True when a store server is configured that no sink and no historian would write: the
        historian takes UNS messages only, so a Sparkplug node must write the store itself (direct)."""
        storage = plant.storage
        server_store = storage.backend is not StoreBackend.SQLITE
        return server_store and not storage.direct and plant.mqtt.mode is MqttMode.SPARKPLUG

    @classmethod
    def build(cls, plant: PlantConfig, base: Path, session: int) -> Delivery:
        """Sinks from the plant file: MQTT when mode is uns; the store when direct or embedded sqlite."""
        from collector.sinks.influx import InfluxSink
        from collector.sinks.sqlite_store import SqliteSink

        data_dir = base / plant.data_dir
        runners: list[SinkRunner] = []
        if plant.mqtt.mode is MqttMode.UNS:
            runners.append(_mqtt_runner(plant, base, session, data_dir))
        elif plant.mqtt.mode is MqttMode.SPARKPLUG:
            from collector.sinks.sparkplug.sink import SparkplugSink

            sp_sink: Sink = SparkplugSink(plant, base)
            runners.append(
                SinkRunner(sp_sink, _outbox(data_dir, "mqtt", plant.mqtt.outbox), plant.mqtt.max_inflight)
            )
        storage = plant.storage
        if storage.backend is StoreBackend.SQLITE:
            sqlite = SqliteSink(plant, base / storage.sqlite_path)
            runners.append(SinkRunner(sqlite, _outbox(data_dir, "store", storage.outbox), stores=True))
        elif storage.direct:
            direct = InfluxSink(plant, base)
            runners.append(SinkRunner(direct, _outbox(data_dir, "store", storage.outbox), stores=True))
        return cls(runners, session)


def _mqtt_runner(plant: PlantConfig, base: Path, session: int, data_dir: Path) -> SinkRunner:
    """The UNS sink; with store confirmation it listens for historians' confirmations and its
    records wait for them."""
    from collector.sinks.mqtt import MqttSink

    cfg = plant.mqtt
    confirmed = store_confirmed(cfg, plant.storage)
    sink = MqttSink(plant, base, session, confirmations=confirmed)
    box = _outbox(data_dir, "mqtt", cfg.outbox, confirmable=confirmed)
    awaiting = Unconfirmed(box, cfg.confirm.timeout, cfg.confirm.window, sink.name) if confirmed else None
    runner = SinkRunner(sink, box, cfg.max_inflight, awaiting=awaiting)
    sink.on_confirmation = runner.confirmed
    return runner


def _outbox(data_dir: Path, name: str, bounds: object, confirmable: bool = False) -> Outbox:
    from collector.config.sinks import Outbox as Bounds

    assert isinstance(bounds, Bounds)
    return Outbox(data_dir / "outbox" / f"{name}.sqlite", max_bytes=bounds.max_bytes, max_age=bounds.max_age,
                  synchronous=bounds.synchronous, confirmable=confirmable)  # fmt: skip
