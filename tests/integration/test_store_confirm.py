"""Store confirmation against a real mosquitto, historian and VictoriaMetrics: a record leaves the
collector's outbox when the store holds it, not when the broker acknowledged it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.historian import Historian
from collector.model import Reading
from collector.outbox import Entry
from tests.support.delivery import delivering
from tests.support.net import async_wait_for, free_port
from tests.support.servers import Server, start_victoria_metrics
from tests.support.store import seqs_by_device

pytestmark = pytest.mark.integration


@pytest.fixture
async def vm(tmp_path: Path) -> AsyncIterator[Server]:
    server = start_victoria_metrics(tmp_path / "vm")
    yield server
    server.stop()


def plant_file(tmp_path: Path, host_port: str, vm_url: str, extra_mqtt: str = "") -> Path:
    host, port = host_port.split(":")
    path = tmp_path / "plant.yaml"
    path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1, edge_id: ipc-3}\ndata_dir: data\n"
        "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1, area: a1, line: l1,\n"
        "     tags: [{name: speed, address: 40001}]}\n"
        f'mqtt:\n  mode: uns\n  host: {host}\n  port: {port}\n  version: "5"\n{extra_mqtt}'
        f"storage: {{backend: victoriametrics, url: '{vm_url}'}}\n",
        encoding="utf-8",
    )
    return path


def readings(seq0: int, n: int) -> list[Reading]:
    """One poll: a reading per tag (a message's points share its timestamp in the store)."""
    return [
        Reading("plc-01", f"t{i}", float(i), 0, None, 3_000_000 + seq0, 1, i) for i in range(seq0, seq0 + n)
    ]


async def historian_running(
    path: Path, **kwargs: object
) -> tuple[Historian, asyncio.Event, asyncio.Task[None]]:
    plant = load_plant(path)
    # an instance of its own: a persistent session (and its subscription) outlives the test on the
    # session's broker, and another test's historian of the same site must not inherit it
    historian = Historian(plant.config, plant.base_dir, linger=0.05, instance="store-confirm", **kwargs)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(historian.run(stop))
    await async_wait_for(lambda: historian.subscribed, 15, "the historian subscribed")
    return historian, stop, task


def counters(delivery: Delivery) -> dict[tuple[str, str], int]:
    return delivery.runners[0].outbox.counters()


async def test_what_the_broker_took_stays_until_a_historian_confirms_it(
    tmp_path: Path, mosquitto: Server, vm: Server
) -> None:
    # a short deadline, so the test need not wait the default 30 s for the re-send
    path = plant_file(tmp_path, f"127.0.0.1:{mosquitto.port}", vm.url, "  confirm: {timeout: 1s}\n")
    async with delivering(path) as delivery:
        runner = delivery.runners[0]
        assert runner.awaiting is not None  # the default with a historian-fed store
        delivery("plc-01", readings(1, 5))
        delivery("plc-01", readings(6, 5))
        # no historian yet: the broker acknowledges (and, with nobody in the shared group, drops)
        await async_wait_for(lambda: counters(delivery).get(("plc-01", "acked"), 0) == 10, 15, "10 PUBACKed")
        assert runner.outbox.depth == 2 and counters(delivery).get(("plc-01", "confirmed"), 0) == 0
        historian, stop, task = await historian_running(path)
        try:
            await async_wait_for(lambda: runner.outbox.depth == 0, 30, "the re-sent records confirmed")
            delivery("plc-01", readings(11, 5))
            await async_wait_for(lambda: runner.outbox.depth == 0, 15, "a live record confirmed")
            # no historian stores a state record: it leaves at the PUBACK instead of waiting forever
            delivery.submit([Entry("state", "plc-01", 1, 1, 1, 1, b'{"v":1,"state":"RUNNING"}')])
            await async_wait_for(lambda: runner.outbox.depth == 0, 15, "the state record gone")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        c = counters(delivery)
    assert seqs_by_device(vm.url) == {("plc-01", 1): list(range(1, 16))}
    # 15 readings confirmed by the store, and the state record acknowledged by the broker
    assert (c[("plc-01", "accepted")], c[("plc-01", "confirmed")], c[("plc-01", "acked")]) == (16, 15, 16)
    assert c[("plc-01", "resent")] >= 10 and historian.stats.confirmations >= 2


async def test_the_next_node_of_a_cluster_when_the_first_is_down(
    tmp_path: Path, mosquitto: Server, vm: Server
) -> None:
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    path = plant_file(tmp_path, down, vm.url, f"  failover: ['127.0.0.1:{mosquitto.port}']\n")
    historian, stop, task = await historian_running(path, session="clean", group=None)
    try:
        async with delivering(path) as delivery:
            delivery("plc-01", readings(1, 5))
            await async_wait_for(
                lambda: delivery.runners[0].outbox.depth == 0, 15, "confirmed via the failover"
            )
            conn = historian._conn
            assert conn is not None and conn.opts.client_id.startswith(historian.client_id + "-")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert seqs_by_device(vm.url) == {("plc-01", 1): [1, 2, 3, 4, 5]}
