"""Real evidence packs for tests: Modbus simulators → the collector as `shopfloor run` wires it
(Engine + Delivery + ledger recorder) → the embedded SQLite historian → build_pack.

    result = await make_pack(tmp_path)               # in an async test
    result = sample_pack(tmp_path)                   # in a sync (e.g. session) fixture
    copy = copy_pack(result.path, tmp_path / "p")    # a private copy to tamper with

`running(plant_file)` yields the live collector for tests that inject faults themselves, and
`simulated_plant(tmp)` the simulators and plant file such a test runs it on.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

from collector.config import load_plant
from collector.evidence.pack import PackResult, build_pack
from collector.service import Collector
from simulators.modbus import PlcSimulator
from tests.support.net import async_wait_for

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "configs" / "templates"
STACKLIGHT_STATE = (
    "{template: stacklight, inputs: {red: lamp_red, yellow: lamp_yellow, green: lamp_green, power: powered},"
    " debounce: {default: 0s}}"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def plant_text(
    plc_port: int, meter_port: int, *, storage: str = "{backend: sqlite}", mqtt: str = "{mode: 'off'}",
    site: str = "s1",
) -> str:  # fmt: skip
    """A stack-light PLC with state, counters and OEE, and an energy meter; a register of three rows
    (the PLC's lathe, the meter, an unconnected grinder with undeclared flags); 24 h shift; 0.5 s batches."""
    return "\n".join(
        [
            "version: 1",
            f"site: {{enterprise: acme, enterprise_code: ACME01, site: {site}, edge_id: e1,",
            "       timezone: Asia/Shanghai}",
            "data_dir: data",
            f"templates_dir: {TEMPLATES}",
            "devices:",
            f"  - {{id: plc-01, name_zh: 一号线PLC, protocol: modbus_tcp, host: 127.0.0.1, port: {plc_port},",
            "     area: a1, line: l1, template: stacklight-plc, poll_interval: 200ms, timeout: 300ms,",
            f"     state: {STACKLIGHT_STATE},",
            "     counters: [{name: parts, tag: parts_count16, width: 16}],",
            "     oee: {ideal_cycle_time: 40s}}",
            "  - {id: meter-01, name_zh: 电能表, protocol: modbus_tcp, host: 127.0.0.1,",
            f"     port: {meter_port},",
            "     area: a1, line: l1, template: energy-meter, poll_interval: 200ms, timeout: 300ms}",
            "equipment:",  # the register: the PLC's lathe, the meter, and a grinder not connected yet
            "  rows:",
            "    - {id: JC-01, name_zh: 数控车床, category: production, type: 数控车床,",
            "       is_key_process: true, process: turning, is_digital: true, is_nc: true,",
            "       networked_via: plc-01}",
            "    - {id: DB-01, name_zh: 电能表, category: metering, is_digital: true,",
            "       networked_via: meter-01}",
            "    - {id: MC-02, name_zh: 平面磨床, process: grinding}",
            f"mqtt: {mqtt}",
            f"storage: {storage}",
            "evidence: {batch_interval: 500ms, timesync_interval: 1h}",
            "web: {enabled: false}",
            "calendar: {shifts: [{name: D, start: '00:00', end: '00:00'}]}",
            "",
        ]
    )


def write_plant(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plant.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def running(plant_file: Path, flush_deadline: float = 5.0) -> AsyncIterator[Collector]:
    """The collector runs for the block; on exit it stops, flushes, and closes its ledger."""
    collector = Collector.open(load_plant(plant_file))
    task = asyncio.create_task(collector.run(flush_deadline), name="collector")
    try:
        await async_wait_for(lambda: bool(collector.engine.workers), 10, "the collector's workers")
        yield collector
    finally:
        collector.engine.stop()
        await asyncio.wait_for(task, flush_deadline + 20)


async def polls(collector: Collector, n: int) -> None:
    """Until every device has been read `n` more times."""
    engine = collector.engine
    ids = [d.id for d in engine.plant.config.devices]
    await async_wait_for(lambda: all(i in engine.workers for i in ids), 10, "every device started")
    start = {i: engine.workers[i].health.reads for i in ids}
    await async_wait_for(
        lambda: all(engine.workers[i].health.reads >= start[i] + n for i in ids),
        30,
        f"{n} polls of every device",
    )


@contextlib.asynccontextmanager
async def simulated_plant(tmp: Path) -> AsyncIterator[tuple[Path, PlcSimulator]]:
    """plc-01 and meter-01 simulators for the block, and `tmp/plant.yaml` (plant_text) pointing at them;
    yields the plant file and the PLC (for tests that stall it)."""
    async with (
        PlcSimulator(name="plc-01", profile="stacklight-plc", seed=11, update_interval=0.1) as plc,
        PlcSimulator(name="meter-01", profile="energy-meter", seed=12, update_interval=0.1) as meter,
    ):
        yield write_plant(tmp, plant_text(plc.port, meter.port)), plc


async def make_pack(tmp: Path, *, n_polls: int = 10, make_zip: bool = False) -> PackResult:
    """A pack over a short, clean run (no faults): window = just before start … just after stop."""
    async with simulated_plant(tmp) as (plant_file, _plc):
        start = now_ms()
        async with running(plant_file) as collector:
            await polls(collector, n_polls)
        end = now_ms() + 1
    return build_pack(load_plant(plant_file), start - 1000, end, tmp / "packs", make_zip=make_zip)


def sample_pack(tmp: Path, *, n_polls: int = 10) -> PackResult:
    """make_pack from synchronous code (no event loop may be running)."""
    return asyncio.run(make_pack(tmp, n_polls=n_polls))


def copy_pack(pack: Path, dest: Path) -> Path:
    """A private copy of a pack folder (tamper tests change files in it)."""
    shutil.copytree(pack, dest)
    return dest
