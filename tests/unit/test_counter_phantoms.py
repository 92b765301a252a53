"""Counters never invent parts (issue 15, bullet 4): a width that does not fit the tag is refused at
`config check`, a counter always has a plausibility limit (given, or derived from the ideal cycle
time), and a drop to 0 or a drop from below the top of the range is a reset, never a rollover."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, load_plant
from collector.config.plant import Device
from collector.normalise.counters import PartCounter
from collector.normalise.records import CounterEventKind

pytestmark = pytest.mark.unit


def _plant(tmp_path: Path, tag_type: str, counter: str, oee: str = "") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(
        f"""version: 1
site: {{enterprise: t, site: s}}
devices:
  - id: plc-01
    protocol: modbus_tcp
    host: 127.0.0.1
    tags:
      - {{name: parts, address: 400001, type: {tag_type}}}
    counters:
      - {counter}
{oee}""",
        encoding="utf-8",
    )
    return path


def _device(path: Path) -> Device:
    return load_plant(path).config.devices[0]


def _count(counter: PartCounter, readings: list[tuple[int, int]]) -> tuple[int, list[CounterEventKind]]:
    parts, kinds = 0, []
    for ts, value in readings:
        update = counter.update(ts, value)
        parts += update.delta.delta if update.delta is not None else 0
        kinds += [e.event for e in update.events]
    return parts, kinds


def test_a_width_that_does_not_fit_the_tag_type_is_a_located_config_error(tmp_path: Path) -> None:
    path = _plant(tmp_path, "int16", "{name: parts, tag: parts, width: 32, max_rate: 1}")
    with pytest.raises(ConfigError) as caught:
        load_plant(path)
    [problem] = caught.value.problems
    assert problem.path == ("devices", 0, "counters", 0, "width")
    where = problem.location
    assert where is not None and (where.line, where.column) == (10, 42)  # at the value 32
    assert "int16" in problem.message and problem.hint == "set width: 16"


def test_the_signed_16_bit_step_adds_one_part_with_the_right_width(tmp_path: Path) -> None:
    device = _device(_plant(tmp_path, "int16", "{name: parts, tag: parts, width: 16, max_rate: 1}"))
    parts, kinds = _count(PartCounter(device.id, device.counters[0]), [(0, 32_767), (1_000, -32_768)])
    assert (parts, kinds) == (1, [CounterEventKind.BASELINE])  # not 4,294,901,761


def test_a_counter_without_any_plausibility_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_plant(_plant(tmp_path, "uint16", "{name: parts, tag: parts, width: 16}"))
    [problem] = caught.value.problems
    assert problem.path == ("devices", 0, "counters", 0) and "max_rate" in problem.message


def test_max_rate_is_derived_from_the_fastest_ideal_cycle_time(tmp_path: Path) -> None:
    oee = "    oee: {ideal_cycle_time: 60s, per_program: {P30: 30s}}\n"
    device = _device(_plant(tmp_path, "uint16", "{name: parts, tag: parts, width: 16}", oee))
    assert device.counters[0].max_rate == pytest.approx(1 / 30)


def test_a_single_zero_reading_adds_no_phantom_parts(tmp_path: Path) -> None:
    # 5000 -> 0 -> 5001, polled every second, on a machine whose ideal cycle is 60 s
    oee = "    oee: {ideal_cycle_time: 60s}\n"
    device = _device(_plant(tmp_path, "uint16", "{name: parts, tag: parts, width: 16}", oee))
    counter = PartCounter(device.id, device.counters[0])
    parts, kinds = _count(counter, [(0, 5_000), (1_000, 0), (2_000, 5_001), (62_000, 5_002)])
    assert parts == 1  # only the part made after the glitch; not 5,001 more
    assert kinds == [CounterEventKind.BASELINE, CounterEventKind.RESET, CounterEventKind.IMPLAUSIBLE]


def test_a_manual_reset_near_the_top_is_a_reset_not_a_rollover(tmp_path: Path) -> None:
    oee = "    oee: {ideal_cycle_time: 60s}\n"
    device = _device(_plant(tmp_path, "uint16", "{name: parts, tag: parts, width: 16}", oee))
    counter = PartCounter(device.id, device.counters[0])
    parts, kinds = _count(counter, [(0, 60_000), (600_000, 0), (660_000, 1)])
    assert parts == 1  # the part after the reset; not the 5,536 of a wrap
    assert kinds == [CounterEventKind.BASELINE, CounterEventKind.RESET]


@pytest.mark.parametrize("after", [0, 1])
def test_a_real_wrap_near_the_top_is_still_a_rollover(tmp_path: Path, after: int) -> None:
    oee = "    oee: {ideal_cycle_time: 60s}\n"
    device = _device(_plant(tmp_path, "uint16", "{name: parts, tag: parts, width: 16}", oee))
    counter = PartCounter(device.id, device.counters[0])
    parts, kinds = _count(counter, [(0, 65_535), (120_000, after)])
    assert (parts, kinds) == (after + 1, [CounterEventKind.BASELINE, CounterEventKind.ROLLOVER])


def test_a_counter_naming_no_tag_of_the_device_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_plant(_plant(tmp_path, "uint16", "{name: parts, tag: part_count, width: 16, max_rate: 1}"))
    [problem] = caught.value.problems
    assert problem.path == ("devices", 0, "counters", 0, "tag") and "part_count" in problem.message


@pytest.mark.parametrize(
    ("device", "tag", "width"),
    [
        (
            "{protocol: mc, host: 127.0.0.1, port: 5000",
            "{name: parts, address: D100}",
            16,
        ),  # int16 by default
        ("{protocol: s7, host: 127.0.0.1", "{name: parts, address: DB1.DBD0, type: dint}", 32),
    ],
)
def test_the_width_is_checked_on_s7_and_mc_registers_too(
    tmp_path: Path, device: str, tag: str, width: int
) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: t, site: s}\ndevices:\n"
        f"  - {device}, id: plc-01, tags: [{tag}],\n"
        "     counters: [{name: parts, tag: parts, width: 64, max_rate: 1}]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_plant(path)
    [problem] = caught.value.problems
    assert problem.path == ("devices", 0, "counters", 0, "width") and problem.hint == f"set width: {width}"
