"""The engine: one supervised task per device in one TaskGroup, signals, and live reload.

    engine = Engine(plant, output)
    await engine.run()          # until stop() / SIGTERM / SIGINT; SIGHUP reloads the plant file

Reload re-reads and validates the file; if it is invalid the running config stays and the problems
are logged (and returned to `shopfloor reload`). Otherwise only devices whose configuration changed
are restarted; untouched devices keep polling without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from collector import memtrim, pidfile
from collector.clock import SYSTEM, Clock, ClockHealth
from collector.config import ConfigError, LoadedPlant, load_plant
from collector.config.plant import Device
from collector.driver_factory import DriverFactory, Drivers
from collector.model import DeviceHealthSnapshot
from collector.normalise.shifts import ShiftCalendar
from collector.session import next_session
from collector.worker import DeviceWorker, EventOutput, History, Output, WorkerObserver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


class EngineObserver(WorkerObserver, Protocol):
    """Device transitions (see WorkerObserver) and applied reloads: the audit ledger records both."""

    def reloaded(self, old: LoadedPlant, new: LoadedPlant, result: ReloadResult) -> None: ...


class Engine:
    def __init__(
        self,
        plant: LoadedPlant,
        output: Output,
        *,
        events: EventOutput | None = None,
        drivers: DriverFactory | None = None,
        session: int | None = None,
        stop_deadline: float = 10.0,
        observer: EngineObserver | None = None,
        clock: Clock = SYSTEM,
        clock_health: ClockHealth | None = None,
        history: History | None = None,
        on_reload: Callable[[LoadedPlant], None] | None = None,
    ) -> None:
        self.plant = plant
        self.history = history  # where a (re)started worker finds its device's past state intervals
        self.clock = clock  # the workers' time source (tests step it)
        self.clock_health = clock_health if clock_health is not None else ClockHealth()
        self.output = output
        self.events = events
        self.observer = observer
        self.on_reload = on_reload  # told before the changed devices restart (e.g. Sparkplug births)
        self.drivers = drivers or Drivers(pki_dir=plant.resolve(plant.config.data_dir) / "pki")
        self.session = session if session is not None else next_session(plant.resolve(plant.config.data_dir))
        self.stop_deadline = stop_deadline
        self.calendar = ShiftCalendar(plant.config.calendar, plant.config.site.timezone)
        self.workers: dict[str, DeviceWorker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seqs: dict[str, Iterator[int]] = {}  # per device, for the life of the session
        self._group: asyncio.TaskGroup | None = None
        self._stopping = asyncio.Event()

    @property
    def pid_file(self) -> Path:
        """Where `shopfloor reload` finds the running collector."""
        return self.plant.resolve(self.plant.config.data_dir) / "collector.pid"

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        pidfile.write(self.pid_file, self.plant.file)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for device in self.plant.config.devices:
                    self._start(device)
                await self._stopping.wait()
                await self._stop_workers()
        finally:
            self._group = None
            self.pid_file.unlink(missing_ok=True)
            for sig in installed:
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        self._stopping.set()

    def task(self, device_id: str) -> asyncio.Task[None] | None:
        """The running task of a device (its identity shows whether a reload restarted it)."""
        return self._tasks.get(device_id)

    def health(self) -> list[DeviceHealthSnapshot]:
        return [w.health.snapshot(w.ticker.overruns) for w in self.workers.values()]

    def reload(self) -> ReloadResult:
        """Validate the plant file again and apply the difference; keep running as is when invalid."""
        try:
            new = load_plant(self.plant.file)
        except ConfigError as exc:
            problems = tuple(p.render() for p in exc.problems)
            for line in problems:
                log.error("reload refused: %s", line)
            return ReloadResult(False, problems=problems)
        memtrim.thaw()  # the old configuration goes now; frozen at startup, it would stay
        old = {d.id: d for d in self.plant.config.devices}
        fresh = {d.id: d for d in new.config.devices}
        added = tuple(i for i in fresh if i not in old)
        removed = tuple(i for i in old if i not in fresh)
        changed = tuple(i for i in fresh if i in old and fresh[i] != old[i])
        for device_id in (*removed, *changed):
            self._cancel(device_id)
        previous, self.plant = self.plant, new
        self.calendar = ShiftCalendar(new.config.calendar, new.config.site.timezone)
        result = ReloadResult(True, added, changed, removed)
        if self.observer is not None:
            # before the new workers start: they complete their open windows from what it records
            self.observer.reloaded(previous, new, result)
        if self.on_reload is not None:
            self.on_reload(new)
        for device_id in (*changed, *added):
            self._start(fresh[device_id])
        log.warning(
            "reload applied: %d added, %d changed, %d removed", len(added), len(changed), len(removed)
        )
        return result

    def _start(self, device: Device) -> None:
        assert self._group is not None, "the engine is not running"
        state_dir = self.plant.resolve(self.plant.config.data_dir) / "counters"
        # A restarted device (a reload) continues its seq: (device, session, seq) names one reading.
        seqs = self._seqs.setdefault(device.id, itertools.count(1))
        worker = DeviceWorker(
            device, self.drivers, self.output, self.session, events=self.events, state_dir=state_dir,
            observer=self.observer, calendar=self.calendar, seqs=seqs, clock=self.clock,
            clock_health=self.clock_health, history=self.history,
        )  # fmt: skip
        self.workers[device.id] = worker
        self._tasks[device.id] = self._group.create_task(worker.run(), name=f"poll[{device.id}]")

    def _cancel(self, device_id: str) -> None:
        task = self._tasks.pop(device_id, None)
        if task is not None:
            task.cancel()
        worker = self.workers.pop(device_id, None)
        if worker is not None:
            worker.stop()

    async def _stop_workers(self) -> None:
        pending = set(self._tasks.values())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_deadline
        wait = 2.0  # time for a worker's own cleanup (an OPC UA session close) before cancelling again
        while pending:
            # Cancel again until they end: Python 3.11's asyncio.wait_for (inside pymodbus) loses a
            # cancellation that races a response, and such a worker would poll on forever.
            for task in pending:
                task.cancel()
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in pending:
                    log.error("%s did not stop within %.0fs", task.get_name(), self.stop_deadline)
                break
            _done, pending = await asyncio.wait(pending, timeout=min(wait, remaining))
            wait = 0.5
        self._tasks.clear()
        for worker in self.workers.values():
            worker.stop()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        installed: list[signal.Signals] = []
        handlers: dict[signal.Signals, Callable[[], object]] = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
        }
        hup = getattr(signal, "SIGHUP", None)  # absent on Windows: reload there means a service restart
        if hup is not None:
            handlers[hup] = self.reload
        for sig, handler in handlers.items():
            with contextlib.suppress(
                NotImplementedError, RuntimeError, ValueError
            ):  # not main thread / Windows
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        return installed
