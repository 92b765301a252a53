"""Running the delivery stage (outboxes and sinks) for the length of a test block, and an in-process
sink for the sink runner's unit tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from collector.config import load_plant
from collector.delivery import Delivery, SinkRunner
from collector.sinks.base import DATA, Batch


@contextlib.asynccontextmanager
async def delivering(path: Path, session: int = 1) -> AsyncIterator[Delivery]:
    """Every sink of the plant file runs; on exit it flushes (5 s) and closes its outbox."""
    plant = load_plant(path)
    delivery = Delivery.build(plant.config, plant.base_dir, session)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, flush_deadline=5))
    try:
        yield delivery
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        delivery.close()


class ScriptedSink:
    """An in-process sink: raises what the script says, else takes the batch and records it as
    (seq_first of each record, hist)."""

    name = "scripted"

    def __init__(self) -> None:
        self.script: list[Exception] = []
        self.batches: list[tuple[list[int], bool]] = []

    async def __aenter__(self) -> ScriptedSink:
        return self

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def accepts(self, kind: str) -> bool:
        return kind == DATA

    async def write(self, batch: Batch) -> None:
        if self.script:
            raise self.script.pop(0)
        self.batches.append(([r.seq_first for r in batch.records], batch.hist))


async def drain(runner: SinkRunner) -> None:
    """Step until the runner has nothing left to send."""
    while await runner.step():
        pass
