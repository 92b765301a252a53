"""OEE records are emitted as each hour/shift/day window closes, once, from the device's own history."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.config.calendar import CalendarConfig
from collector.config.modbus import ModbusTcpDevice
from collector.model import Reading
from collector.normalise.device import DeviceNormaliser
from collector.normalise.records import Period
from collector.normalise.shifts import ShiftCalendar

pytestmark = pytest.mark.unit
TZ = ZoneInfo("Asia/Shanghai")


def ms(hh: int, mm: int = 0) -> int:
    return int(datetime(2026, 11, 25, hh, mm, tzinfo=TZ).timestamp() * 1000)


DEVICE = ModbusTcpDevice.model_validate(
    {
        "id": "m1", "protocol": "modbus_tcp", "host": "h",
        "tags": [{"name": "run", "address": "000001", "type": "bool"}, {"name": "parts", "address": 40001}],
        "state": {"template": "conditions", "debounce": {"default": "0s"},
                  "conditions": [{"state": "RUNNING", "when": "run == true"}]},
        "counters": [{"name": "parts", "tag": "parts", "width": 16}],
        "oee": {"ideal_cycle_time": "60s"},
    }
)  # fmt: skip
CALENDAR = ShiftCalendar(
    CalendarConfig.model_validate({"shifts": [{"name": "A", "start": "08:00", "end": "16:00"}]})
)


def feed(norm: DeviceNormaliser, ts: int, run: bool, parts: int) -> list[object]:
    readings = [
        Reading("m1", "run", run, 0, None, ts, 1, 1),
        Reading("m1", "parts", parts, 0, None, ts, 1, 2),
    ]
    return list(norm.observe(ts, readings).kpis)


def test_hour_records_close_once_with_the_open_interval_cut_at_the_window_end(tmp_path: object) -> None:
    norm = DeviceNormaliser(DEVICE, None, CALENDAR, start_ms=ms(8, 30))
    kpis = []
    # 08:30-09:30 running, 30 parts; the 08:00 hour began before the collector: reported partial,
    # its first half (no history given) UNKNOWN.
    kpis += feed(norm, ms(8, 30), True, 100)
    kpis += feed(norm, ms(9, 0), True, 115)
    [h8] = kpis
    assert (h8.label, h8.flags[0], h8.times.unknown, h8.times.apt) == ("2026-11-25T08", "partial", 1800, 1800)
    kpis += feed(norm, ms(9, 30), False, 130)
    kpis += feed(norm, ms(10, 0) + 1, False, 130)
    hours = [k for k in kpis if k.period is Period.HOUR]
    assert [k.label for k in hours] == ["2026-11-25T08", "2026-11-25T09"]
    (h9,) = hours[1:]
    assert "partial" not in h9.flags
    assert h9.times.apt == pytest.approx(1800) and h9.times.pbt == pytest.approx(3600)
    assert h9.qty.pq == 15  # parts counted between 09:00 and 09:30
    assert h9.a == pytest.approx(0.5)
    assert h9.e == pytest.approx(15 * 60 / 1800)
    assert feed(norm, ms(10, 30), False, 130) == []  # emitted once
