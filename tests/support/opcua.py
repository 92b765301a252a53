"""Helpers shared by the OPC UA driver tests: simulated time, device configs, an engine-like reader.

`EngineLike` drives a driver the way collector/worker.py does: enter, read at a fixed rate, and on
DeviceUnreachable leave the context and enter again, so reconnect behaviour is tested through the
same contract the engine uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from collector.config.opcua import OpcUaDevice
from drivers.base import DeviceUnreachable, RawSample
from drivers.opcua.driver import OpcUaDriver
from simulators.clock import SimClock
from simulators.machine import MachineProfile
from simulators.opcua import CncSimulator
from simulators.opcua.layout import MACHINETOOL_TAGS

START = 1_700_000_000.0
PLAIN = MachineProfile(
    cycle_time_s=60, cycle_jitter=0, cycles_per_run=(3, 3), scrap_rate=0, setup_s=(100, 100),
    idle_gap_s=(50, 50), feed_hold_prob=0, alarm_prob=0, shift_s=8 * 3600,
)  # fmt: skip
PATHS = [s.path for s in MACHINETOOL_TAGS if not s.path.startswith("Identification/")]


class FakeTime:
    """Simulated time moved by the test, and a wall clock for SourceTimestamps it controls."""

    def __init__(self) -> None:
        self.real = 0.0
        self.wall = START + 500.0
        self.clock = SimClock(1.0, start=START, real=lambda: self.real)

    def at(self, offset: float) -> None:
        self.real = offset
        self.wall = START + 500.0 + offset


def tag_name(path: str) -> str:
    return path.replace("/", "_").lower()


def device(
    sim: CncSimulator,
    paths: list[str] | None = None,
    extra_tags: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> OpcUaDevice:
    tags = [
        {"name": tag_name(p), "node": f"m:Machines/{sim.name}/{p}"}
        for p in (PATHS if paths is None else paths)
    ]
    raw: dict[str, Any] = {
        "id": "cnc", "protocol": "opcua", "endpoint": sim.endpoint, "namespaces": {"m": sim.namespace_uri},
        "publishing_interval": "100ms", "keepalive": "500ms", "timeout": "1s",
        "tags": tags + (extra_tags or []),
    }  # fmt: skip
    raw.update(kw)
    return OpcUaDevice.model_validate(raw)


async def expected(sim: CncSimulator, paths: list[str]) -> dict[str, tuple[Any, int]]:
    """What the simulator's address space holds: tag -> (value, status)."""
    out = {}
    for p in paths:
        dv = await sim.server.get_node(sim.node_id(p)).read_data_value(raise_on_bad_status=False)
        code = int(dv.StatusCode.value) if dv.StatusCode is not None else 0
        out[tag_name(p)] = (dv.Value.Value if dv.Value is not None and code == 0 else None, code)
    return out


def as_dict(samples: list[RawSample]) -> dict[str, tuple[Any, int]]:
    return {s.tag: (s.value, s.status) for s in samples}


@dataclass
class EngineLike:
    make: Callable[[], OpcUaDriver]
    period: float = 0.05
    latest: list[RawSample] = field(default_factory=list)
    unreachable: list[tuple[float, str]] = field(default_factory=list)
    entered: int = 0
    reads: int = 0
    driver: OpcUaDriver | None = None

    async def run(self) -> None:
        while True:
            driver = self.make()
            try:
                await driver.__aenter__()
            except DeviceUnreachable as exc:
                self.unreachable.append((time.monotonic(), str(exc)))
                await asyncio.sleep(self.period)
                continue
            self.entered += 1
            self.driver = driver
            try:
                while True:
                    self.latest = await driver.read()
                    self.reads += 1
                    await asyncio.sleep(self.period)
            except DeviceUnreachable as exc:
                self.unreachable.append((time.monotonic(), str(exc)))
            finally:
                await driver.__aexit__(None, None, None)
            await asyncio.sleep(self.period)

    def values(self) -> dict[str, tuple[Any, int]]:
        return as_dict(self.latest)


@contextlib.asynccontextmanager
async def running(engine: EngineLike) -> AsyncIterator[EngineLike]:
    task = asyncio.create_task(engine.run())
    try:
        yield engine
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def simulator(ft: FakeTime, name: str = "cnc-01") -> AsyncIterator[CncSimulator]:
    async with CncSimulator(
        name=name, seed=1, clock=ft.clock, machine=PLAIN, update_interval=0, wall=lambda: ft.wall
    ) as sim:
        yield sim
