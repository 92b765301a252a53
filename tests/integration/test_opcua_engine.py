"""The OPC UA driver under the real engine worker: Drivers() builds it, readings come out normalised."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from collector.driver_factory import Drivers
from collector.model import Reading
from collector.worker import DeviceWorker
from tests.support.net import async_wait_for
from tests.support.opcua import FakeTime, device, simulator

pytestmark = pytest.mark.integration


async def test_worker_reads_the_simulator_through_the_factory() -> None:
    ft = FakeTime()
    ft.at(101)
    got: list[Reading] = []
    async with simulator(ft) as sim:
        await sim.step()
        dev = device(sim, paths=["Monitoring/Spindle/ActualSpeed", "Monitoring/Channel1/ChannelState"])
        dev = dev.model_copy(update={"poll_interval": 0.1})
        worker = DeviceWorker(dev, Drivers(), lambda _id, readings: got.extend(readings), session=1)
        task = asyncio.create_task(worker.run())
        try:
            await async_wait_for(
                lambda: {r.tag for r in got} >= {"monitoring_spindle_actualspeed"}, 15, "readings"
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    speed = next(r for r in got if r.tag == "monitoring_spindle_actualspeed" and r.value is not None)
    assert speed.value == sim.model.snapshot.spindle_speed and speed.device == "cnc"
    assert worker.health.connected_at(time.monotonic())
