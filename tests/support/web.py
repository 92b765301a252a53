"""`shopfloor run` as a real process with its web server, for the API and status-page tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from collector.config import load_plant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.web.app import Sources
from collector.web.live import LiveView
from collector.web.server import WebServer
from simulators.modbus import PlcSimulator
from simulators.modbus.testing import ManualClock
from tests.support.net import async_wait_for, free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "configs" / "templates"


def _device(did: str, name: str, name_zh: str, port: int, template: str, extra: str = "") -> str:
    return (
        f"  - id: {did}\n    name: {name}\n    name_zh: {name_zh}\n    protocol: modbus_tcp\n"
        f"    host: 127.0.0.1\n    port: {port}\n    template: {template}\n"
        f"    poll_interval: 200ms\n    timeout: 400ms\n{extra}"
    )


def plant_text(web_port: int, *, stacklight: int, meter: int, dead: int, extra: str = "") -> str:
    """Three devices: a stack-light PLC with a state rule, a meter without one, and a device nobody
    answers for (declared not networked, so the declared 设备联网率 is 2/3). `extra`: more top-level
    YAML (a calendar)."""
    state = (
        "    state: {template: stacklight, debounce: {default: 0s},\n"
        "            inputs: {red: lamp_red, yellow: lamp_yellow, green: lamp_green, power: powered}}\n"
    )
    return (
        "version: 1\n"
        "site: {enterprise: acme, enterprise_name_zh: 示例精密机械有限公司, site: s1, name_zh: 一号车间,"
        " edge_id: web-e2e}\n"
        f"data_dir: data\ntemplates_dir: {TEMPLATES}\n"
        "devices:\n"
        + _device("sl-01", "Cell 1 stack light", "加工单元1三色灯", stacklight, "stacklight-plc", state)
        + _device("meter-01", "Panel meter", "配电柜电表", meter, "energy-meter")
        + _device(
            "gone-01",
            "Old press",
            "老冲床",
            dead,
            "stacklight-plc",
            state + "    asset: {is_networked: false}\n",
        )
        + f"web: {{port: {web_port}, refresh: 500ms}}\n"
        + extra
    )


@contextlib.asynccontextmanager
async def plant_simulators() -> AsyncIterator[tuple[int, int]]:
    """The stack-light PLC and the meter of plant_text; yields (stacklight port, meter port). The stack
    light's clock stands still: its state cannot change under the comparisons."""
    async with (
        PlcSimulator(
            name="sl", profile="stacklight-plc", seed=5, clock=ManualClock(), update_interval=0.1
        ) as sl,
        PlcSimulator(name="m", profile="energy-meter", seed=4, update_interval=0.1) as meter,
    ):
        yield sl.port, meter.port


@dataclass
class InProcess:
    engine: Engine
    delivery: Delivery
    web: WebServer
    url: str


@contextlib.asynccontextmanager
async def in_process(plant_file: Path, web_port: int) -> AsyncIterator[InProcess]:
    """Engine, delivery and the web app wired as `shopfloor run` wires them, in this process, with the
    web server (the plant's `web.port`) serving; the caller runs the engine and the delivery."""
    plant = load_plant(plant_file)
    delivery = Delivery.build(plant.config, plant.base_dir, 1)
    live = LiveView()
    engine = Engine(plant, live.output(delivery), events=live.events(delivery.events), session=1)
    live.bind(engine)
    web = await WebServer.start(Sources(engine, delivery, live, 1))
    assert web is not None
    try:
        yield InProcess(engine, delivery, web, f"http://127.0.0.1:{web_port}")
    finally:
        await web.stop()
        delivery.close()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _spawn(plant: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "collector", "-v", "run", "-c", str(plant), "--flush-deadline", "5"]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


@dataclass
class RunningCollector:
    proc: subprocess.Popen[bytes]
    url: str
    plant: Path
    log: Path

    @property
    def token_file(self) -> Path:
        return self.plant.parent / "data" / "web-token"

    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def describe(self) -> str:
        return f"collector exit {self.proc.poll()}; log:\n{self.log.read_text(errors='replace')[-3000:]}"


async def _status(session: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with session.get(url) as res:
            return res.status
    except aiohttp.ClientError:
        return None


@contextlib.asynccontextmanager
async def collector_process(
    tmp: Path, *, stacklight: int, meter: int, extra: str = ""
) -> AsyncIterator[RunningCollector]:
    """`python -m collector run` on a plant with the web server on a free port; ready when /readyz is 200;
    stopped with SIGTERM (a clean exit is asserted)."""
    port = free_port()
    text = plant_text(port, stacklight=stacklight, meter=meter, dead=free_port(), extra=extra)
    plant = _write(tmp / "plant.yaml", text)
    log = tmp / "collector.log"
    proc = _spawn(plant, log)
    running = RunningCollector(proc, f"http://127.0.0.1:{port}", plant, log)
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(running.describe())
                return await _status(session, running.url + "/readyz") == 200

            await async_wait_for(ready, 60, "the collector's /readyz")
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, running.describe()
