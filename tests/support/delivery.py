"""Running the delivery stage (outboxes and sinks) for the length of a test block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from collector.config import load_plant
from collector.delivery import Delivery


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
