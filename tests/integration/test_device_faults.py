"""The device faults independent testing found (issue 17, "Devices"), each a test that failed before
its fix: a unit that never answers is not connected and is COMM_LOSS (in /metrics, the API and the
log); the OFFLINE state carries its inputs' worst quality; overruns count reads that ran long, not
time disconnected; a PLC that comes back is read on its TCP answer, not at the next backoff step;
S7 and MC CPUs that stop answering are not connected either."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.config import load_plant
from collector.config.mc import McDevice
from collector.config.opcua import OpcUaDevice
from collector.config.plant import Device
from collector.config.s7 import S7Device
from collector.engine import Engine
from collector.normalise.records import State
from drivers.backoff import Backoff
from drivers.status import (
    BAD_NO_COMMUNICATION,
    BAD_TIMEOUT,
    UNCERTAIN_LAST_USABLE_VALUE,
    is_good,
)
from drivers.tcpwatch import sleep_until_back
from simulators.mapped import MappedPlc
from simulators.mc import McSimulator
from simulators.modbus import PlcSimulator, Quirks
from simulators.opcua import CncSimulator
from simulators.s7 import S7Simulator
from tests.support.engine import Recorder, current_change, running
from tests.support.net import async_wait_for, free_port
from tests.support.opcua import device as cnc_device
from tests.support.plants import stacklight_plant
from tests.support.web import in_process
from tests.support.worker import connected, worker_running

pytestmark = pytest.mark.integration

NEVER = Backoff(base=3600, cap=3600)  # a reconnect that only the TCP watch can bring forward


def stacklight(folder: Path, port: int) -> Device:
    """Device sl-01 of the stack-light plant (100 ms polls, its state rule), as the plant file has it."""
    path = folder / "plant.yaml"
    path.write_text(stacklight_plant(port), encoding="utf-8")
    return load_plant(path).config.devices[0]


async def metrics_and_status(base: str, token: str) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/metrics") as res:
            metrics = await res.text()
        async with session.get(base + "/api/v1/status", headers={"Authorization": f"Bearer {token}"}) as res:
            status: dict[str, Any] = await res.json()
    return metrics, status


async def test_a_unit_that_never_answers_fails_the_sign_off_until_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    web_port = free_port()
    async with PlcSimulator(name="sl", profile="stacklight-plc", quirks=Quirks(dead_units={1})) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(
            stacklight_plant(sim.port, plant_extra=f"web: {{port: {web_port}}}\n"), encoding="utf-8"
        )
        async with in_process(path, web_port) as app, running(app.engine):
            engine, base = app.engine, app.url
            token = (tmp_path / "data" / "web-token").read_text().strip()
            change = await async_wait_for(
                lambda: current_change(engine, "sl-01"), 20, "a state for the dead unit"
            )
            metrics, status = await metrics_and_status(base, token)
            (dev,) = status["devices"]
            assert change is not None
            assert (change.state, change.sub, change.q) == (State.OFFLINE, "COMM_LOSS", BAD_TIMEOUT)
            assert 'shopfloor_device_connected{device="sl-01"} 0' in metrics
            assert "shopfloor_devices_connected 0" in metrics
            assert 'shopfloor_device_errors_total{device="sl-01",kind="no_answer"}' in metrics
            assert not dev["connected"] and dev["health"]["errors"]["no_answer"] >= 1
            assert (dev["state"], dev["sub"]) == ("OFFLINE", "COMM_LOSS")

            sim.dead_units.clear()  # the unit answers from now on
            await async_wait_for(lambda: engine.health()[0].connected, 20, "connected once the unit answers")
            metrics, status = await metrics_and_status(base, token)
            assert 'shopfloor_device_connected{device="sl-01"} 1' in metrics
            assert status["devices"][0]["connected"]
    said = [r.getMessage() for r in caplog.records if r.name == "collector.worker"]
    assert said == [
        "sl-01: no answer from the device: every request timed out (BadTimeout)",
        "sl-01: reading again",
    ]
    assert not [r for r in caplog.records if r.name.startswith("drivers.") and r.levelno >= logging.WARNING]


async def test_the_offline_state_carries_the_worst_input_quality(tmp_path: Path) -> None:
    async with PlcSimulator(name="sl", profile="stacklight-plc", update_interval=3600) as sim:
        path = tmp_path / "plant.yaml"
        path.write_text(stacklight_plant(sim.port, device_extra="    stale_timeout: 1s\n"), encoding="utf-8")
        rec = Recorder()
        engine = Engine(load_plant(path), rec.output, events=rec.event)

        def offline(sub: str) -> list[Any]:
            return [c for ev in rec.events for c in ev.states if (c.state, c.sub) == (State.OFFLINE, sub)]

        async with running(engine):
            await async_wait_for(lambda: any(ev.states for ev in rec.events), 20, "a first state")
            sim.busy()  # answers without data: the inputs go stale
            (stale, *_) = await async_wait_for(lambda: offline("STALE"), 20, "OFFLINE/STALE")
            sim.busy(False)
            await sim.stop()  # gone: every input Bad
            (lost, *_) = await async_wait_for(lambda: offline("COMM_LOSS"), 20, "OFFLINE/COMM_LOSS")
    assert stale.q == UNCERTAIN_LAST_USABLE_VALUE
    assert lost.q == BAD_NO_COMMUNICATION and all(value is None for _, value in lost.inputs)


async def test_overruns_count_reads_that_ran_long_not_time_disconnected(tmp_path: Path) -> None:
    port = free_port()
    async with worker_running(stacklight(tmp_path, port)) as (worker, worked):
        await async_wait_for(lambda: worker.health.consecutive_errors >= 4, 20, "several failed connects")
        first: list[int] = []  # overruns when the first readings come: no read has run long yet
        worked.on_reading = lambda _r: first.append(worker.ticker.overruns) if not first else None
        async with PlcSimulator(name="sl", profile="stacklight-plc", port=port):
            await async_wait_for(lambda: first, 20, "readings once the PLC is up")
    assert first == [0]


def cnc(port: int) -> CncSimulator:
    return CncSimulator(name="cnc-01", port=port, update_interval=0.2)


@pytest.mark.parametrize("protocol", ["modbus_tcp", "opcua"])
async def test_a_plc_that_comes_back_is_read_on_its_tcp_answer(
    protocol: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    sim: PlcSimulator | CncSimulator
    if protocol == "modbus_tcp":
        sim, device = PlcSimulator(name="sl", profile="stacklight-plc", port=port), stacklight(tmp_path, port)
    else:
        sim = cnc(port)
        device = cnc_device(sim, paths=["Monitoring/Spindle/ActualSpeed"], poll_interval="100ms")
    await sim.start()
    try:
        async with worker_running(device, backoff=NEVER) as (_worker, worked):
            tag = worked_tag(device)
            await async_wait_for(lambda: any(map(is_good, worked.statuses(tag))), 30, "first data")
            await sim.stop()
            await async_wait_for(lambda: BAD_NO_COMMUNICATION in worked.statuses(tag), 30, "the loss noticed")
            lost_at = len(worked.readings)
            if isinstance(sim, CncSimulator):
                sim = cnc(port)  # a rebooted controller: a new server on the same port
            await sim.start()
            # the worker sleeps an hour between reconnects: only the TCP watch brings it back
            await async_wait_for(
                lambda: any(is_good(r.status) for r in worked.readings[lost_at:]), 30, "data after the return"
            )
    finally:
        await sim.stop()
    assert any("accepts connections again; connecting" in r.getMessage() for r in caplog.records)


def worked_tag(device: Device) -> str:
    return device.tags[0].name if isinstance(device, OpcUaDevice) else "lamp_red"


async def test_a_device_whose_port_answers_all_along_is_not_probed() -> None:
    connections = 0

    def accept(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        back = await sleep_until_back("127.0.0.1", port, 0.5, 0.05)
        await async_wait_for(lambda: connections, 5, "the one probe seen by the server")
    assert back is False and connections == 1  # one look, then it was left alone


@pytest.mark.parametrize("kind", ["s7", "mc"])
async def test_an_s7_or_mc_cpu_that_stops_answering_is_not_connected(kind: str) -> None:
    sim: MappedPlc = (S7Simulator if kind == "s7" else McSimulator)(profile="stacklight-plc")
    async with sim:
        tags = [{"name": "lamp_red", "address": "M0.0" if kind == "s7" else "M0"}]
        device = (S7Device if kind == "s7" else McDevice).model_validate({
            "id": f"{kind}-01", "protocol": kind, "host": "127.0.0.1", "port": sim.port,
            "poll_interval": "100ms", "timeout": "300ms", "tags": tags,
        })  # fmt: skip
        async with worker_running(device, backoff=Backoff(base=0.1, cap=0.5)) as (worker, worked):
            await async_wait_for(lambda: connected(worker), 30, "connected")
            await sim.stall()
            await async_wait_for(lambda: not connected(worker), 30, "not connected")
            assert BAD_TIMEOUT in worked.statuses("lamp_red")
            await sim.unstall()
            await async_wait_for(lambda: connected(worker), 30, "connected again")
    # MC has no connect handshake: its reconnect succeeds and the next read times out (no_answer);
    # S7's COTP handshake does not complete through a stalled CPU, so it is unreachable as well
    assert worker.health.errors["no_answer"] >= 1
