"""OPC UA faults independent testing found (issue 17, "Devices"), each a test that failed before its
fix: a server that stops publishing never has its cached values passed off as Good."""

from __future__ import annotations

import time

import pytest

from drivers.status import UNCERTAIN_NO_COMMUNICATION_LAST_USABLE, is_good
from simulators.opcua import CncSimulator
from tests.support.net import async_wait_for
from tests.support.opcua import device
from tests.support.worker import Worked, worker_running

pytestmark = pytest.mark.integration

SPEED = "Monitoring/Spindle/ActualSpeed"


def after(worked: Worked, start: int, tag: str) -> list[int]:
    return [r.status for r in worked.readings[start:] if r.tag == tag]


async def test_a_server_that_stops_publishing_never_has_its_cache_passed_off_as_good() -> None:
    async with CncSimulator(name="cnc-01", update_interval=0.2) as sim:
        # keep-alive 500 ms at 100 ms publishing; the watchdog is far away, so only the cache rule acts
        dev = device(sim, paths=[SPEED], poll_interval="100ms", watchdog="60s")
        tag = dev.tags[0].name
        async with worker_running(dev) as (worker, worked):
            await async_wait_for(lambda: any(map(is_good, worked.statuses(tag))), 30, "Good values")
            await sim.mute()  # the session and reads go on; no publish, no keep-alive
            muted_at = len(worked.readings)
            await async_wait_for(
                lambda: UNCERTAIN_NO_COMMUNICATION_LAST_USABLE in after(worked, muted_at, tag),
                30, "the cached value marked as the last usable one",
            )  # fmt: skip
            statuses = after(worked, muted_at, tag)
            unconfirmed = statuses.index(UNCERTAIN_NO_COMMUNICATION_LAST_USABLE)
            assert not any(map(is_good, statuses[unconfirmed:])), "no Good value once it is unconfirmed"
            marked = next(r for r in worked.readings[muted_at:] if r.status != 0)
            assert marked.value is not None, "the last value is kept, marked Uncertain"
            assert not worker.health.connected(time.monotonic())
            assert worker.health.errors["no_answer"] >= 1
            await sim.unmute()
            unmuted_at = len(worked.readings)
            await async_wait_for(lambda: any(map(is_good, after(worked, unmuted_at, tag))), 30, "Good again")
            assert worker.health.connected(time.monotonic())
