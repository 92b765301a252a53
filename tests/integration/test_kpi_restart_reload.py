"""A shift that a collector restart and a reload both cut still gets its OEE row (issue 15, bullet 2):
flagged partial, with time elements that follow exactly from the ledger's STATE_INTERVAL entries of
all three workers, as the evidence pack recomputes them. The collectors run against the PLC
simulator on an injected clock placed just before the end of the shift."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.config import load_plant
from collector.config.calendar import CalendarConfig
from collector.ledger import iter_entries
from collector.normalise.oee import KpiInputs, kpi_window
from collector.normalise.records import Period
from collector.normalise.shifts import ShiftCalendar, Window
from collector.recorder.history import interval_from
from simulators.modbus import PlcSimulator
from tests.support.engine import current_change
from tests.support.evidence import running, write_plant
from tests.support.net import async_wait_for
from tests.support.plants import stacklight_plant

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")


def plant_yaml(port: int, shift: tuple[str, str], name: str) -> str:
    calendar = f'calendar: {{shifts: [{{name: T, start: "{shift[0]}", end: "{shift[1]}"}}]}}\n'
    after = "    counters: [{name: parts, tag: parts_count16, width: 16, max_rate: 1}]\n"
    after += "    oee: {ideal_cycle_time: 40s}\n"
    return stacklight_plant(
        port, plant_extra=calendar, device_extra=f"    name_zh: {name}\n", device_after=after
    )


class PlacedClock:
    """The system clocks, with the wall clock placed at a chosen time (`place`) by an offset."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def place(self, wall_ms: int) -> None:
        self.offset_ms = wall_ms - time.time_ns() // 1_000_000

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def mono_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


def entries(ledger_dir: Path, type_: str) -> list[dict[str, Any]]:
    return [e for e in iter_entries(ledger_dir) if e["type"] == type_]


async def test_a_shift_cut_by_a_restart_and_a_reload_is_reported_whole_and_partial(tmp_path: Path) -> None:
    # a shift ending at a local hour two hours ahead; the collectors run in its last minute
    end = (datetime.now(TZ) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    shift = ((end - timedelta(hours=1)).strftime("%H:%M"), end.strftime("%H:%M"))
    end_ms = int(end.timestamp() * 1000)
    label = f"{(end - timedelta(hours=1)).date().isoformat()}/T"
    async with PlcSimulator(name="sl", profile="stacklight-plc", seed=5, update_interval=3600) as sim:
        path = write_plant(tmp_path, plant_yaml(sim.port, shift, "一号机"))
        plant = load_plant(path)
        ledger_dir = plant.resolve(plant.config.evidence.ledger_dir)
        clock = PlacedClock()

        def shift_row() -> list[dict[str, Any]]:
            kpis = entries(ledger_dir, "KPI")
            return [e for e in kpis if e["payload"]["period"] == "shift" and e["payload"]["label"] == label]

        clock.place(end_ms - 50_000)  # first run, 50 s before the end of the shift
        async with running(path, clock=clock) as first:
            await async_wait_for(
                lambda: current_change(first.engine, "sl-01"), 20, "a state in the first run"
            )
        clock.place(end_ms - 10_000)  # restarted later, 10 s before the end
        async with running(path, clock=clock) as second:
            await async_wait_for(
                lambda: current_change(second.engine, "sl-01"), 20, "a state in the second run"
            )
            path.write_text(plant_yaml(sim.port, shift, "一号机（改）"), encoding="utf-8")
            assert second.engine.reload().changed == ("sl-01",)  # a third worker takes over
            [row] = await async_wait_for(shift_row, 30, "the shift's KPI entry")

    kpi = row["payload"]
    assert kpi["flags"][0] == "partial"
    [reload] = entries(ledger_dir, "CONFIG_CHANGE")
    assert row["seq"] > reload["seq"]  # reported by the worker the reload started
    intervals = [interval_from(e["payload"]) for e in entries(ledger_dir, "STATE_INTERVAL")]
    mine = [iv for iv in intervals if iv is not None and iv.device == "sl-01"]
    first_run = [iv for iv in mine if iv.end <= end_ms - 10_000]
    assert first_run, "the first run's intervals are in the ledger"
    calendar = ShiftCalendar(
        CalendarConfig.model_validate({"shifts": [{"name": "T", "start": shift[0], "end": shift[1]}]}),
        "Asia/Shanghai",
    )
    window = Window(Period.SHIFT, label, end_ms - 3_600_000, end_ms)
    recomputed = kpi_window(KpiInputs("sl-01", mine), calendar, None, window).times
    assert kpi["times"] == {k: getattr(recomputed, k) for k in kpi["times"]}  # from all three workers
    observed = sum(kpi["times"][k] for k in ("apt", "aust", "adet", "adot", "apmt"))
    assert observed >= sum(iv.duration_s for iv in first_run if iv.state.name != "OFFLINE")
