"""One device worker run the way the engine runs it, with what it hands on recorded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from collector.cli import configure_logging
from collector.config.plant import Device
from collector.driver_factory import DriverFactory, Drivers
from collector.model import Reading
from collector.normalise.device import DeviceEvents
from collector.normalise.records import StateChange
from collector.worker import DeviceWorker
from drivers.backoff import Backoff
from drivers.liblog import PROTOCOL_LIBRARIES


def connected(worker: DeviceWorker) -> bool:
    """What /metrics says about the worker's device now."""
    return worker.health.connected_at(time.monotonic())


class Worked:
    """Every reading and state change of one worker, in order; `on_reading` sees each batch first."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.states: list[StateChange] = []
        self.on_reading: Callable[[list[Reading]], None] | None = None

    def output(self, _device: str, readings: list[Reading]) -> None:
        if self.on_reading is not None:
            self.on_reading(readings)
        self.readings.extend(readings)

    def events(self, events: DeviceEvents) -> None:
        self.states.extend(events.states)

    def statuses(self, tag: str) -> list[int]:
        return [r.status for r in self.readings if r.tag == tag]


@contextlib.asynccontextmanager
async def worker_running(
    device: Device, *, drivers: DriverFactory | None = None, backoff: Backoff | None = None
) -> AsyncIterator[tuple[DeviceWorker, Worked]]:
    worked = Worked()
    worker = DeviceWorker(
        device, drivers or Drivers(), worked.output, 1, events=worked.events, backoff=backoff
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker, worked
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.contextmanager
def service_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Logging as `shopfloor -v run` sets it up (INFO; the protocol libraries at DEBUG), captured by
    `caplog`; the loggers it touches are put back afterwards."""
    loggers = [logging.getLogger(name) for name in PROTOCOL_LIBRARIES]
    saved = [(lg, lg.level, lg.propagate, list(lg.handlers)) for lg in loggers]
    caplog.set_level(logging.INFO)
    configure_logging(1)
    try:
        yield
    finally:
        for lg, level, propagate, handlers in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.handlers[:] = handlers


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]
