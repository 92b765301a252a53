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
from collector.driver_factory import DriverFactory, NoDriver, tag_policies, tcp_endpoint
from collector.model import DeviceHealthSnapshot, Reading
from collector.normalise.device import DeviceEvents, DeviceNormaliser
from collector.normalise.records import StateInterval
from collector.normalise.shifts import ShiftCalendar
from collector.normalise.telemetry import TelemetryNormaliser
from collector.scheduler import FixedRate
from drivers.backoff import Backoff
from drivers.base import DeviceBusy, DeviceUnreachable, Driver, RawSample, ReadRejected
from drivers.status import UNCERTAIN, is_good, unanswered, why_unanswered
from drivers.tcpwatch import sleep_until_back

log = logging.getLogger(__name__)

Output = Callable[[str, list[Reading]], None]
EventOutput = Callable[[DeviceEvents], None]
History = Callable[[str], Sequence[StateInterval]]  # a device's state intervals already in the ledger
REPROBE_PERIOD = 0.5  # s between TCP connection attempts to a lost device while waiting to reconnect


class WorkerObserver(Protocol):
    """Told once per change between reading and failing (the audit ledger), never per retry."""

    def device_connected(self, device: str) -> None: ...

    def device_failed(self, device: str, kind: str, message: str) -> None: ...


@dataclass
class DeviceHealth:
    """What the status page and /metrics say about one device.

    Connected means "answered a read recently": the last poll got an answer from the device (not
    only a TCP connection), nothing failed since, and that answer is at most `recent_s` old (the
    device's stale timeout, after which its values would turn stale anyway).
    """

    device: str
    recent_s: float
    answering: bool = False  # the last poll was answered and nothing failed since
    answered_at: float | None = None  # monotonic time of that answer
    last_good_ts: int | None = None
    consecutive_errors: int = 0
    last_latency_ms: float | None = None
    reads: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    def connected_at(self, now: float) -> bool:
        return self.answering and self.answered_at is not None and now - self.answered_at <= self.recent_s

    def snapshot(self, overruns: int, now: float | None = None) -> DeviceHealthSnapshot:
        connected = self.connected_at(time.monotonic() if now is None else now)
        return DeviceHealthSnapshot(
            self.device, connected, self.last_good_ts, self.consecutive_errors, self.last_latency_ms,
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
        backoff: Backoff | None = None,
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
        self.health = DeviceHealth(device.id, device.effective_stale_timeout)
        self.ticker = FixedRate(device.poll_interval)
        self.normaliser = TelemetryNormaliser(
            device.id, session, tag_policies(device), device.report,
            int(device.heartbeat * 1000), int(device.effective_stale_timeout * 1000),
            seqs if seqs is not None else itertools.count(1),
        )  # fmt: skip
        self._backoff = backoff or Backoff(base=min(1.0, device.poll_interval), cap=60.0)
        self._tcp = tcp_endpoint(device)  # watched while waiting to reconnect; None on a serial line
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
                await self._wait_to_reconnect()
                continue
            try:
                await self._poll(driver)
            except DeviceUnreachable as exc:
                self._fail("unreachable", str(exc))
            finally:
                await driver.__aexit__(None, None, None)
            await self._wait_to_reconnect()

    async def _wait_to_reconnect(self) -> None:
        """The backoff step, cut short when the device accepts TCP again after refusing it: a PLC
        that comes back is read at once, not at the end of a step that may be a minute long."""
        delay = self._backoff.next()
        if self._tcp is None:
            await asyncio.sleep(delay)
            return
        host, port = self._tcp
        if await sleep_until_back(host, port, delay, min(REPROBE_PERIOD, self.device.poll_interval)):
            log.info("%s: %s:%d accepts connections again; connecting", self.device.id, host, port)
            self._backoff.reset()  # a device still starting up is retried at the shortest step

    async def _poll(self, driver: Driver) -> None:
        read = driver.read
        task = asyncio.current_task()
        self.ticker.restart()  # the time spent reconnecting is not an overrun
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
            if unanswered(s.status for s in samples):
                self._not_answered(samples)
            else:
                self._succeeded(samples, started)

    def _succeeded(self, samples: list[RawSample], started: float) -> None:
        ts = self._now()
        health = self.health
        health.answered_at = now = time.monotonic()
        health.last_latency_ms = (now - started) * 1000
        health.reads += 1
        if not health.answering and self.observer is not None:
            self.observer.device_connected(self.device.id)
        health.answering = True
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

    def _not_answered(self, samples: list[RawSample]) -> None:
        """The connection is up but nothing in the poll was answered (a unit that does not answer,
        a subscription that went silent): communication is lost, though no exception said so. The
        samples are published as the driver gave them (BadTimeout, ...) and the state is COMM_LOSS."""
        ts = self._lost("no_answer", f"no answer from the device: {why_unanswered(samples[0].status)}")
        readings = self.normaliser.process(samples, ts)
        readings += self.normaliser.check_stale(ts)
        if readings:
            self.output(self.device.id, readings)
        self._emit(self.derived.lost(ts, readings))

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
        self._emit(self.derived.tick(ts, stale))

    def _now(self) -> int:
        """Wall time for stamps; a step of the wall clock since the last reading is handed to the
        normalisers first, so every duration they measure keeps its monotonic length."""
        ts, step = self._clock.now()
        if step is not None:
            log.info("%s: the wall clock stepped by %+.3f s", self.device.id, step.size_ms / 1000)
            self.normaliser.clock_step(step.size_ms)
            self._emit(self.derived.clock_step(step))
        return ts

    def _count(self, kind: str, message: str) -> str:
        """Count a failure; returns its message without a leading device id (the log line names it)."""
        message = message.removeprefix(f"{self.device.id}: ")
        self.health.errors[kind] += 1
        self.health.consecutive_errors += 1
        self.health.last_error = message
        return message

    def _fail(self, kind: str, message: str) -> None:
        """The device could not be connected or read: every tag Bad once, the state COMM_LOSS."""
        ts = self._lost(kind, message)
        lost = self.normaliser.unreachable(ts)
        if lost:
            self.output(self.device.id, lost)
        self._emit(self.derived.lost(ts, lost))

    def _lost(self, kind: str, message: str) -> int:
        """Count the failure; log it and tell the observer on the change to failing only."""
        message = self._count(kind, message)
        self.health.answering = False
        if not self._failing:  # log the change to failing once; counts go to metrics
            log.warning("%s: %s", self.device.id, message)
            self._failing = True
            if self.observer is not None:
                self.observer.device_failed(self.device.id, kind, message)
        return self._now()

    def _emit(self, events: DeviceEvents) -> None:
        if events and self.events is not None:
            self.events(events)
