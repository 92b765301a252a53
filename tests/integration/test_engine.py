"""The engine against real Modbus simulators: values flow, failures stay local, reload is surgical."""

from __future__ import annotations

import asyncio
import gc
import itertools
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.engine import Engine
from collector.memtrim import freeze_startup
from collector.model import Reading
from drivers.status import BAD_NO_COMMUNICATION, is_good
from simulators.modbus import PlcSimulator
from tests.support.engine import running
from tests.support.net import async_wait_for, free_port

pytestmark = pytest.mark.integration


class Collected:
    """The stage boundary after the engine: readings per device, in arrival order."""

    def __init__(self) -> None:
        self.by_device: dict[str, list[Reading]] = defaultdict(list)

    def __call__(self, device: str, readings: list[Reading]) -> None:
        self.by_device[device].extend(readings)

    def good(self, device: str, tag: str) -> list[Reading]:
        return [r for r in self.by_device[device] if r.tag == tag and is_good(r.status)]


def plant_yaml(devices: dict[str, tuple[int, str]], interval: str = "200ms") -> str:
    lines = ["version: 1", "site: {enterprise: t, site: s}", "data_dir: data", "devices:"]
    for name, (port, template) in devices.items():
        lines += [
            f"  - id: {name}",
            "    protocol: modbus_tcp",
            "    host: 127.0.0.1",
            f"    port: {port}",
            f"    template: {template}",
            f"    poll_interval: {interval}",
            "    timeout: 300ms",
        ]
    return "\n".join(lines) + "\n"


def write_plant(tmp_path: Path, text: str) -> Path:
    templates = Path(__file__).resolve().parents[2] / "configs" / "templates"
    path = tmp_path / "plant.yaml"
    path.write_text(
        text.replace("data_dir: data", f"data_dir: data\ntemplates_dir: {templates}"), encoding="utf-8"
    )
    return path


async def test_values_flow_and_a_dead_device_stays_local(tmp_path: Path) -> None:
    dead_port = free_port()
    async with (
        PlcSimulator(name="sl", profile="stacklight-plc", seed=3, update_interval=0.1) as sl,
        PlcSimulator(name="m", profile="energy-meter", seed=4, update_interval=0.1) as meter,
    ):
        path = write_plant(
            tmp_path,
            plant_yaml({"sl-01": (sl.port, "stacklight-plc"), "meter-01": (meter.port, "energy-meter"),
                        "gone-01": (dead_port, "energy-meter")}),
        )  # fmt: skip
        out = Collected()
        engine = Engine(load_plant(path), out)
        async with running(engine):
            await async_wait_for(lambda: len(out.good("meter-01", "voltage")) >= 5, 20, "meter readings")
            await async_wait_for(lambda: len(out.good("sl-01", "parts_total")) >= 5, 20, "plc readings")
            await async_wait_for(lambda: bool(out.by_device["gone-01"]), 20, "the dead device reported")
        voltage = out.good("meter-01", "voltage")[-1].value
        assert isinstance(voltage, float) and 150 < voltage < 300
        assert isinstance(out.good("sl-01", "parts_total")[-1].value, int)
        gone = out.by_device["gone-01"]
        assert {r.status for r in gone} == {BAD_NO_COMMUNICATION} and all(r.value is None for r in gone)
        for device in ("sl-01", "meter-01"):
            seqs = [r.seq for r in out.by_device[device]]
            assert seqs == list(range(1, len(seqs) + 1)), "seq is gapless and monotonic per device"
            assert len({r.session for r in out.by_device[device]}) == 1
        health = {h.device: h for h in engine.health()}
        assert health["meter-01"].connected and not health["gone-01"].connected
        assert health["gone-01"].errors and health["gone-01"].consecutive_errors >= 1


async def test_device_that_comes_up_later_is_picked_up(tmp_path: Path) -> None:
    port = free_port()
    path = write_plant(tmp_path, plant_yaml({"late-01": (port, "energy-meter")}))
    out = Collected()
    engine = Engine(load_plant(path), out)
    async with running(engine):
        await async_wait_for(lambda: bool(out.by_device["late-01"]), 20, "first failure reported")
        async with PlcSimulator(name="late", profile="energy-meter", port=port, update_interval=0.1):
            await async_wait_for(lambda: len(out.good("late-01", "voltage")) >= 2, 30, "values after start")


async def test_reload_restarts_only_changed_devices_and_refuses_invalid_files(tmp_path: Path) -> None:
    async with (
        PlcSimulator(name="a", profile="energy-meter", seed=1, update_interval=0.1) as a,
        PlcSimulator(name="b", profile="energy-meter", seed=2, update_interval=0.1) as b,
        PlcSimulator(name="c", profile="energy-meter", seed=3, update_interval=0.1) as c,
        PlcSimulator(name="d", profile="energy-meter", seed=4, update_interval=0.1) as d,
    ):
        first = {
            "a-01": (a.port, "energy-meter"),
            "b-01": (b.port, "energy-meter"),
            "c-01": (c.port, "energy-meter"),
        }
        path = write_plant(tmp_path, plant_yaml(first))
        out = Collected()
        engine = Engine(load_plant(path), out)
        async with running(engine):
            await async_wait_for(
                lambda: all(len(out.good(x, "voltage")) >= 3 for x in first), 20, "all polling"
            )
            task_a = engine.task("a-01")

            second = dict(first)
            del second["c-01"]
            second["d-01"] = (d.port, "energy-meter")
            text = plant_yaml(second).replace(
                f"port: {b.port}\n    template: energy-meter\n    poll_interval: 200ms",
                f"port: {b.port}\n    template: energy-meter\n    poll_interval: 300ms",
            )
            write_plant(tmp_path, text)
            freeze_startup()  # as `shopfloor run` does: a reload must thaw, or the old plant never goes
            result = engine.reload()
            assert gc.get_freeze_count() == 0
            assert result.ok and result.added == ("d-01",) and result.removed == ("c-01",)
            assert result.changed == ("b-01",)
            assert engine.task("a-01") is task_a  # the untouched device kept its task
            c_seen = len(out.by_device["c-01"])
            before = len(out.good("a-01", "voltage"))
            await async_wait_for(lambda: len(out.good("d-01", "voltage")) >= 3, 20, "added device polling")
            await async_wait_for(
                lambda: len(out.good("a-01", "voltage")) >= before + 5, 20, "a keeps polling"
            )
            assert len(out.by_device["c-01"]) == c_seen, "removed device stopped"

            path.write_text(
                path.read_text().replace("poll_interval: 300ms", "poll_interval: soon"), encoding="utf-8"
            )
            refused = engine.reload()
            assert not refused.ok and any(
                "poll_interval" in p and "plant.yaml:" in p for p in refused.problems
            )
            assert engine.task("a-01") is task_a
            count = len(out.good("b-01", "voltage"))
            await async_wait_for(
                lambda: len(out.good("b-01", "voltage")) > count + 2, 20, "old config still runs"
            )

        stamps = [r.collected_ts for r in out.good("a-01", "voltage")]
        gaps = [t2 - t1 for t1, t2 in itertools.pairwise(stamps)]
        # A gap in the evidence sense (docs/STANDARDS.md §7.6) is a silence longer than max(3 x period, 10 s).
        assert max(gaps) < 10_000, f"device a had a gap of {max(gaps)} ms across the reloads"
        seqs = [r.seq for r in out.by_device["a-01"]]
        assert seqs == list(range(1, len(seqs) + 1))
        # b-01 was restarted by the reload: its seq goes on, so (device, session, seq) stays unique
        seqs = [r.seq for r in out.by_device["b-01"]]
        assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)


async def test_shopfloor_reload_signals_the_running_collector(tmp_path: Path) -> None:
    async with (
        PlcSimulator(name="a", profile="energy-meter", seed=1, update_interval=0.1) as a,
        PlcSimulator(name="b", profile="energy-meter", seed=2, update_interval=0.1) as b,
    ):
        path = write_plant(tmp_path, plant_yaml({"a-01": (a.port, "energy-meter")}))
        out = Collected()
        engine = Engine(load_plant(path), out)

        async def reload_cli() -> subprocess.CompletedProcess[str]:
            cmd = [sys.executable, "-m", "collector", "reload", "-c", str(path)]
            return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, check=False)

        async with running(engine):
            await async_wait_for(lambda: engine.pid_file.exists(), 10, "pid file")
            write_plant(
                tmp_path, plant_yaml({"a-01": (a.port, "energy-meter")}).replace("poll_interval", "pol")
            )
            bad = await reload_cli()
            assert bad.returncode == 2 and "plant.yaml:" in bad.stderr and "not reloaded" in bad.stderr

            write_plant(
                tmp_path, plant_yaml({"a-01": (a.port, "energy-meter"), "b-01": (b.port, "energy-meter")})
            )
            good = await reload_cli()
            assert good.returncode == 0, good.stderr
            await async_wait_for(lambda: len(out.good("b-01", "voltage")) >= 2, 20, "device added by reload")
        assert not engine.pid_file.exists()
