"""One supervised polling loop per device: connect, read at a fixed rate, normalise, hand on."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from collector.clock import SYSTEM, Clock, ClockHealth, StepWatch
from collector.config.plant import Device
from collector.driver_factory import DriverFactory, NoDriver, tag_policies
from collector.model import DeviceHealthSnapshot, Reading
from collector.normalise.device import DeviceEvents, DeviceNormaliser
from collector.normalise.records import StateInterval
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.telemetry import TelemetryNormaliser
from collector.scheduler import FixedRate
from drivers.backoff import Backoff
from drivers.base import DeviceBusy, DeviceUnreachable, Driver, RawSample, ReadRejected
from drivers.status import UNCERTAIN, is_good

log = logging.getLogger(__name__)

Output = Callable[[str, list[Reading]], None]
EventOutput = Callable[[DeviceEvents], None]
History = Callable[[str], Sequence[StateInterval]]  # a device's state intervals already in the ledger


class WorkerObserver(Protocol):
    """Told once per change between reading and failing (the audit ledger), never per retry."""

    def device_connected(self, device: str) -> None: ...

    def device_failed(self, device: str, kind: str, message: str) -> None: ...


@dataclass
class DeviceHealth:
    """What the status page and /metrics say about one device."""

    device: str
    connected: bool = False
    last_good_ts: int | None = None
    consecutive_errors: int = 0
    last_latency_ms: float | None = None
    reads: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    def snapshot(self, overruns: int) -> DeviceHealthSnapshot:
        return DeviceHealthSnapshot(
            self.device, self.connected, self.last_good_ts, self.consecutive_errors, self.last_latency_ms,
            self.reads, overruns, tuple(sorted(self.errors.items())), self.last_error,
        )  # fmt: skip


class DeviceWorker:
    """Runs until cancelled; a failure of this device never leaves this loop."""

    def __init__(
        self,
        device: Device,
        drivers: DriverFactory,
        output: Output,
        session: int,
        *,
        events: EventOutput | None = None,
        state_dir: Path | None = None,
        calendar: ShiftCalendar | None = None,
        observer: WorkerObserver | None = None,
        seqs: Iterator[int] | None = None,
        clock: Clock = SYSTEM,
        clock_health: ClockHealth | None = None,
        history: History | None = None,
    ) -> None:
        self.device = device
        self._clock = StepWatch(clock)
        self._clock_health = clock_health if clock_health is not None else ClockHealth()
        self.observer = observer
        self.drivers = drivers
        self.output = output
        self.events = events
        past = history(device.id) if history is not None and calendar is not None else ()
        self.derived = DeviceNormaliser(device, state_dir, calendar, clock.wall_ms(), past)
        self.health = DeviceHealth(device.id)
        self.ticker = FixedRate(device.poll_interval)
        self.normaliser = TelemetryNormaliser(
            device.id, session, tag_policies(device), device.report,
            int(device.heartbeat * 1000), int(device.effective_stale_timeout * 1000),
            seqs if seqs is not None else itertools.count(1),
        )  # fmt: skip
        self._backoff = Backoff(base=min(1.0, device.poll_interval), cap=60.0)
        # Connecting includes resolving and subscribing every tag: allow more for large devices.
        self._connect_budget = device.timeout * 3 + 5 + 0.01 * len(device.tags)
        self._failing = False

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._connect_budget):
                    driver = await self.drivers(self.device).__aenter__()
            except NoDriver as exc:
                self._fail("no_driver", str(exc))
                return  # nothing will change until the config does
            except (DeviceUnreachable, TimeoutError, OSError) as exc:
                self._fail("unreachable", str(exc) or type(exc).__name__)
                await asyncio.sleep(self._backoff.next())
                continue
            try:
                await self._poll(driver)
            except DeviceUnreachable as exc:
                self._fail("unreachable", str(exc))
            finally:
                await driver.__aexit__(None, None, None)
            await asyncio.sleep(self._backoff.next())

    async def _poll(self, driver: Driver) -> None:
        read = driver.read
        task = asyncio.current_task()
        while True:
            await self.ticker.wait()
            started = time.monotonic()
            try:
                samples = await read()
            except DeviceBusy as exc:
                self._count("busy", str(exc))
                self._quiet()
                continue
            except ReadRejected as exc:
                self._count("rejected", str(exc))
                self._quiet()
                continue
            finally:
                # Python 3.11's asyncio.wait_for (inside pymodbus) can swallow a cancel that lands
                # together with the response; the request is still counted, so honour it here.
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
            self._succeeded(samples, started)

    def _succeeded(self, samples: list[RawSample], started: float) -> None:
        ts = self._now()
        health = self.health
        health.last_latency_ms = (time.monotonic() - started) * 1000
        health.reads += 1
        if not health.connected and self.observer is not None:
            self.observer.device_connected(self.device.id)
        health.connected = True
        health.consecutive_errors = 0
        if any(is_good(s.status) for s in samples):
            health.last_good_ts = ts
        if self._failing:
            log.warning("%s: reading again", self.device.id)
            self._failing = False
        self._backoff.reset()
        if self._clock_health.excursion:  # stamped by a clock known to be off: not Good
            samples = [replace(s, status=UNCERTAIN) if is_good(s.status) else s for s in samples]
        readings = self.normaliser.process(samples, ts)
        readings += self.normaliser.check_stale(ts)
        if readings:
            self.output(self.device.id, readings)
        self._emit(self.derived.observe(ts, readings))

    def stop(self) -> None:
        """The worker is shut down or replaced by a reload: windows that ended are reported and the
        open ones saved for the next worker (DeviceNormaliser.finish)."""
        self._emit(self.derived.finish(self._now()))

    def _quiet(self) -> None:
        """A poll that brought no data (busy, refused): tags and state still see the time pass, so a
        device that keeps answering busy turns stale instead of staying in its last state."""
        ts = self._now()
        stale = self.normaliser.check_stale(ts)
        if stale:
            self.output(self.device.id, stale)
        self._emit(self.derived.tick(ts))

    def _now(self) -> int:
        """Wall time for stamps; a step of the wall clock since the last reading is handed to the
        normalisers first, so every duration they measure keeps its monotonic length."""
        ts, step = self._clock.now()
        if step is not None:
            log.info("%s: the wall clock stepped by %+.3f s", self.device.id, step.size_ms / 1000)
            self.normaliser.clock_step(step.size_ms)
            self._emit(self.derived.clock_step(step))
        return ts

    def _count(self, kind: str, message: str) -> None:
        self.health.errors[kind] += 1
        self.health.consecutive_errors += 1
        self.health.last_error = message

    def _fail(self, kind: str, message: str) -> None:
        self._count(kind, message)
        self.health.connected = False
        if not self._failing:  # log the change to failing once; counts go to metrics
            log.warning("%s: %s", self.device.id, message)
            self._failing = True
            if self.observer is not None:
                self.observer.device_failed(self.device.id, kind, message)
        ts = self._now()
        lost = self.normaliser.unreachable(ts)
        if lost:
            self.output(self.device.id, lost)
        self._emit(self.derived.lost(ts))

    def _emit(self, events: DeviceEvents) -> None:
        if events and self.events is not None:
            self.events(events)
