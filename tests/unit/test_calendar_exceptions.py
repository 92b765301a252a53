"""Dated calendar exceptions (法定节假日 and 调休 make-up workdays) and completeness judged over scheduled,
powered time: the reproductions of issue 15's bullet 5."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.config import ConfigError, load_plant
from collector.config.calendar import CalendarConfig
from collector.evidence.figures import compute
from collector.evidence.registers import data_points
from collector.evidence.sources import Sources
from collector.evidence.store_reader import StoredSample
from collector.evidence.verify import formulas as f
from collector.normalise.shifts import ShiftCalendar

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Asia/Shanghai")
SATURDAY, HOLIDAY = date(2026, 9, 26), date(2026, 10, 1)  # a Saturday, a Thursday
DAY_SHIFT = {"shifts": [{"name": "D", "start": "08:00", "end": "17:00", "days": "mon..fri"}]}


def ms(day: date, hour: float) -> int:
    return int(datetime.combine(day, time(0), TZ).timestamp() * 1000 + hour * 3_600_000)


def pbt_hours(cal: ShiftCalendar, day: date) -> float:
    segs = cal.planned(ms(day, 0), ms(day, 24))
    return sum(s.end - s.start for s in segs if s.kind == "PBT") / 3_600_000


def test_a_make_up_saturday_is_scheduled_and_a_holiday_is_not() -> None:
    cfg = CalendarConfig.model_validate(
        {**DAY_SHIFT, "holidays": [{"date": "2026-10-01", "name": "国庆节"}], "workdays": ["2026-09-26"]}
    )
    cal = ShiftCalendar(cfg)
    assert pbt_hours(cal, SATURDAY) == 9.0  # 调休: the Monday shifts run on this Saturday
    assert pbt_hours(cal, SATURDAY + timedelta(days=7)) == 0.0  # an ordinary Saturday
    assert pbt_hours(cal, HOLIDAY) == 0.0  # 法定节假日: a Thursday with no shift
    assert pbt_hours(cal, HOLIDAY - timedelta(days=1)) == 9.0
    without = ShiftCalendar(CalendarConfig.model_validate(DAY_SHIFT))
    assert (pbt_hours(without, SATURDAY), pbt_hours(without, HOLIDAY)) == (0.0, 9.0)


def test_a_make_up_day_runs_the_shifts_of_the_weekday_it_names() -> None:
    cfg = CalendarConfig.model_validate(
        {
            "shifts": [
                {"name": "D", "start": "08:00", "end": "17:00", "days": "mon..thu"},
                {"name": "F", "start": "08:00", "end": "12:00", "days": ["fri"]},
            ],
            "workdays": [{"date": "2026-09-26", "shifts_of": "fri"}],
        }
    )
    assert pbt_hours(ShiftCalendar(cfg), SATURDAY) == 4.0


def test_exceptions_import_from_a_csv_with_chinese_headers(tmp_path: Path) -> None:
    (tmp_path / "节假日.csv").write_bytes(
        "日期,类型,名称\n2026/10/1,法定节假日,国庆节\n2026年9月26日,调休,国庆调休\n".encode("gb18030")
    )
    (tmp_path / "plant.yaml").write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\n"
        "calendar: {shifts: [{name: D, start: '08:00', end: '17:00', days: mon..fri}],"
        " exceptions_file: 节假日.csv}\n",
        encoding="utf-8",
    )
    cal = load_plant(tmp_path / "plant.yaml").config.calendar
    assert [(h.date, h.name) for h in cal.holidays] == [(HOLIDAY, "国庆节")]
    assert [(w.date, w.shifts_of) for w in cal.workdays] == [(SATURDAY, "mon")]


def test_a_bad_exception_row_is_located_and_a_day_cannot_be_both(tmp_path: Path) -> None:
    (tmp_path / "节假日.csv").write_text("日期,类型\n2026-10-01,放风\n", encoding="utf-8")
    (tmp_path / "plant.yaml").write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\n"
        "calendar: {holidays: [2026-09-26], workdays: [2026-09-26], exceptions_file: 节假日.csv}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_plant(tmp_path / "plant.yaml")
    text = str(info.value)
    assert "节假日.csv:2:2: calendar.exceptions_file: unknown day type '放风'" in text
    assert "2026-09-26 is both a holiday and a make-up workday" in text


# --- completeness over scheduled and powered time --------------------------------------------------

PLANT = """\
version: 1
site: {enterprise: acme, site: s1}
devices:
  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, port: 5020, poll_interval: 1s,
     tags: [{name: lamp, address: 40001}],
     state: {template: conditions, conditions: [{state: RUNNING, when: lamp > 0}]}}
calendar: {shifts: [{name: D, start: '08:00', end: '17:00', days: mon..fri}],
           breaks: [{start: '12:00', end: '13:00'}], holidays: [2026-10-01], workdays: [2026-09-26]}
"""


def day_figures(
    tmp: Path, day: date, on: tuple[float, float], timeline: list[dict[str, object]] | None = None
):  # type: ignore[no-untyped-def]
    """The builder's figures for one local day of a PLC read every second while switched on."""
    (tmp / "plant.yaml").write_text(PLANT, encoding="utf-8")
    loaded = load_plant(tmp / "plant.yaml")
    cfg = loaded.config
    lo, hi = ms(day, 0), ms(day, 24)
    samples = [
        StoredSample("plc-01", "lamp", t, 1, 0, 1, i)
        for i, t in enumerate(range(ms(day, on[0]), ms(day, on[1]), 1000))
    ]
    src = Sources(
        plant=loaded, from_ms=lo, to_ms=hi, tz=TZ, anchor={}, entries=[], samples=samples,
        points=data_points(cfg), calendar=ShiftCalendar(cfg.calendar, cfg.site.timezone),
    )  # fmt: skip
    return compute(src, timeline or [])[0]


def test_a_day_shift_plc_switched_off_at_night_is_complete(tmp_path: Path) -> None:
    """Issue 15: a perfectly connected day-shift PLC switched off outside its shift showed 34.7 % and
    gaps, because expected samples ran 24/7. Judged over its scheduled time (08–17 less the lunch
    break, PBT), it is 100 % with no gap; the night is not a gap."""
    monday = date(2026, 9, 28)
    fig = day_figures(tmp_path, monday, (7.9, 17.1))
    assert fig.tags[0].expected == 8 * 3600
    assert fig.completeness == 1.0
    assert fig.gaps == []


def test_the_make_up_saturday_is_judged_and_the_holiday_is_not(tmp_path: Path) -> None:
    saturday = day_figures(tmp_path, SATURDAY, (12.0, 17.0))  # a 调休 Saturday, on only in the afternoon
    assert saturday.tags[0].expected == 8 * 3600 and saturday.completeness == pytest.approx(4 / 8)
    assert [(g.start_ms, g.end_ms) for g in saturday.gaps] == [(ms(SATURDAY, 8), ms(SATURDAY, 12))]
    holiday = day_figures(tmp_path, HOLIDAY, (0.0, 0.0))  # switched off all day
    assert (holiday.tags[0].expected, holiday.completeness, holiday.gaps) == (0, None, [])
    assert holiday.network.scheduled_days == 0


def test_power_off_time_in_the_state_timeline_is_not_judged(tmp_path: Path) -> None:
    """The hook for a switched-off machine: time the state timeline shows with sub-state POWER_OFF
    (STOPPED/POWER_OFF today, OFFLINE/POWER_OFF once power-off detection lands) is not expected to
    deliver samples, and its silence is no gap."""
    monday = date(2026, 9, 28)
    off = {"device": "plc-01", "start_ms": ms(monday, 14), "end_ms": ms(monday, 24), "state": "OFFLINE",
           "sub": "POWER_OFF", "bucket": "UNKNOWN"}  # fmt: skip
    on = {"device": "plc-01", "start_ms": ms(monday, 0), "end_ms": ms(monday, 14), "state": "IDLE",
          "sub": "", "bucket": "ADOT"}  # fmt: skip
    fig = day_figures(tmp_path, monday, (8.0, 14.0), [on, off])
    assert fig.tags[0].expected == 5 * 3600  # 08–12 and 13–14
    assert fig.completeness == 1.0 and fig.gaps == []
    assert fig.online.rate == 1.0
    unplugged = dict(off, sub="COMM_LOSS")  # not known to be switched off: still judged, still a gap
    fig = day_figures(tmp_path, monday, (8.0, 14.0), [on, unplugged])
    assert fig.completeness == pytest.approx(5 / 8)
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(ms(monday, 14) - 1000, ms(monday, 17))]


def test_without_a_calendar_the_whole_window_is_scheduled(tmp_path: Path) -> None:
    """No calendar made verification impossible (no scheduled time, verified rate 0). Now the whole
    window counts as scheduled, the pack says calendar_missing, and a device up all day verifies."""
    (tmp_path / "plant.yaml").write_text(PLANT.split("calendar:")[0], encoding="utf-8")
    loaded = load_plant(tmp_path / "plant.yaml")
    day = date(2026, 9, 28)
    lo, hi = ms(day, 0), ms(day, 24)
    samples = [StoredSample("plc-01", "lamp", t, 1, 0, 1, i) for i, t in enumerate(range(lo, hi, 1000))]
    src = Sources(
        plant=loaded, from_ms=lo, to_ms=hi, tz=TZ, anchor={}, entries=[], samples=samples,
        points=data_points(loaded.config), calendar=ShiftCalendar(loaded.config.calendar),
    )  # fmt: skip
    up = [{"device": "plc-01", "start_ms": lo, "end_ms": hi, "state": "IDLE", "sub": "", "bucket": ""}]
    fig = compute(src, up)[0]
    assert fig.completeness == 1.0 and fig.online.rate == 1.0 and fig.network.verified
    assert f.length_ms(fig.scheduled) == hi - lo
