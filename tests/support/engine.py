"""Running the engine inside a test, and recording what it hands to the delivery stage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from collector.engine import Engine
from collector.model import Reading
from collector.normalise.device import DeviceEvents
from collector.normalise.records import State, StateChange


class Recorder:
    """The stage boundary after the engine: every reading and every batch of derived events."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[DeviceEvents] = []

    def output(self, device: str, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def event(self, events: DeviceEvents) -> None:
        self.events.append(events)


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[asyncio.Task[None]]:
    """The engine runs for the block and is stopped (within its deadline) after it."""
    task = asyncio.create_task(engine.run())
    try:
        yield task
    finally:
        engine.stop()
        await asyncio.wait_for(task, 15)


def dedup(seq: list[State]) -> list[State]:
    """A state sequence without repeats: what a timeline of changes looks like."""
    return [s for i, s in enumerate(seq) if i == 0 or s != seq[i - 1]]


def current_change(engine: Engine, device: str) -> StateChange | None:
    """The change that opened the device's current state, if its worker has one."""
    worker = engine.workers.get(device)
    machine = worker.derived.machine if worker is not None else None
    return machine.current if machine is not None else None
