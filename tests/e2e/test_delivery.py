"""End to end without loss: Modbus simulators → Engine → outboxes → mosquitto → historian → VictoriaMetrics.

Every test compares what the engine handed to the delivery (device, session, seq) with what the store
holds: each reading exactly once (seq continuity per device and session), whatever was stopped or
killed in between. VictoriaMetrics runs with -dedup.minScrapeInterval=1ms (see docs/DELIVERY.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.historian import Historian
from collector.model import Reading
from collector.outbox import Outbox
from collector.session import next_session
from simulators.modbus import PlcSimulator
from tests.support.net import async_wait_for, free_port
from tests.support.servers import Server, start_mosquitto, start_victoria_metrics
from tests.support.store import seqs_by_device

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "configs" / "templates"


def plant_text(mqtt_port: int, vm_url: str, sims: dict[str, int], outbox: str = "{max_bytes: 1GiB}") -> str:
    lines = [
        "version: 1", "site: {enterprise: acme, site: s1, edge_id: e2e}", "data_dir: data",
        f"templates_dir: {TEMPLATES}", "devices:",
    ]  # fmt: skip
    for name, port in sims.items():
        lines += [f"  - {{id: {name}, protocol: modbus_tcp, host: 127.0.0.1, port: {port},",
                  "     area: a1, line: l1,",
                  "     template: energy-meter, poll_interval: 100ms, timeout: 300ms}"]  # fmt: skip
    lines += [
        f'mqtt: {{mode: uns, host: 127.0.0.1, port: {mqtt_port}, version: "5", outbox: {outbox}}}',
        f"storage: {{backend: victoriametrics, url: '{vm_url}'}}",
    ]
    return "\n".join(lines) + "\n"


class Rig:
    """One broker (persistent, restartable on its port), one VM, simulators, collector, historians."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        # outside pytest's 0700 tree: mosquitto drops root privileges before saving its database
        self.broker_dir = Path(tempfile.mkdtemp(prefix="shopfloor-broker-"))
        self.broker_dir.chmod(0o777)
        self.broker: Server = self.start_broker()
        self.vm = start_victoria_metrics(tmp / "vm")
        self.produced: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.delivery: Delivery | None = None
        self.tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.historians: dict[str, Historian] = {}

    def start_broker(self) -> Server:
        conf = f"persistence true\npersistence_location {self.broker_dir}/\n"
        return start_mosquitto(self.broker_dir, conf, port=self.port)

    def write_plant(self, sims: dict[str, int], outbox: str = "{max_bytes: 1GiB}") -> Path:
        path = self.tmp / "plant.yaml"
        path.write_text(plant_text(self.port, self.vm.url, sims, outbox), encoding="utf-8")
        return path

    def record(self, device: str, readings: list[Reading]) -> None:
        assert self.delivery is not None
        self.delivery(device, readings)  # accepted once this returns (committed to every outbox)
        for r in readings:
            self.produced[(device, r.session)].append(r.seq)

    async def start_collector(self, path: Path) -> Engine:
        plant = load_plant(path)
        session = next_session(plant.resolve(plant.config.data_dir))
        self.delivery = Delivery.build(plant.config, plant.base_dir, session)
        engine = Engine(plant, self.record, session=session)
        stop = asyncio.Event()
        deliver = asyncio.create_task(self.delivery.run(stop, flush_deadline=10))
        self.tasks["engine"] = (asyncio.create_task(engine.run()), stop)
        self.tasks["delivery"] = (deliver, stop)
        self.engine = engine
        return engine

    async def stop_collector(self) -> None:
        self.engine.stop()
        task, stop = self.tasks.pop("engine")
        await asyncio.wait_for(task, 15)
        stop.set()
        await asyncio.wait_for(self.tasks.pop("delivery")[0], 30)

    async def start_historian(self, path: Path, instance: str = "1", group: str | None = None) -> Historian:
        """A plain subscription by default: mosquitto drops shared ones over a broker restart."""
        plant = load_plant(path)
        historian = Historian(plant.config, plant.base_dir, group=group, instance=instance, linger=0.05)
        stop = asyncio.Event()
        self.tasks[f"historian-{instance}"] = (asyncio.create_task(historian.run(stop)), stop)
        self.historians[instance] = historian
        await async_wait_for(lambda: historian.subscribed, 15, "historian subscribed")
        return historian

    async def stop_historian(self, instance: str = "1") -> None:
        task, stop = self.tasks.pop(f"historian-{instance}")
        stop.set()
        await asyncio.wait_for(task, 15)

    async def replayed(self) -> None:
        """Wait until the MQTT outbox is past an outage again."""
        assert self.delivery is not None
        runner = self.delivery.runners[0]
        await async_wait_for(lambda: not runner.outage, 30, "the MQTT sink to reconnect")

    def expected(self) -> dict[tuple[str, int], list[int]]:
        return {k: sorted(v) for k, v in self.produced.items()}

    async def wait_stored(self, expected: dict[tuple[str, int], list[int]], timeout: float = 40) -> None:
        def done() -> bool:
            have = seqs_by_device(self.vm.url)
            # every expected seq, not a count: a reading dropped after the broker took it (PUBACK lost in
            # an outage) lands too and would make a count reach the target before the last survivors
            return all(set(v) <= set(have.get(k, [])) for k, v in expected.items())

        try:
            await async_wait_for(done, timeout, "every reading in the store")
        except TimeoutError:
            have = seqs_by_device(self.vm.url)
            missing = {k: sorted(set(v) - set(have.get(k, []))) for k, v in expected.items()}
            stats = {k: (vars(h.stats), len(h._pending), h.subscribed) for k, h in self.historians.items()}
            tail = self.broker.log.read_text()[-3000:]
            raise AssertionError(f"missing from the store: {missing}; {stats}; mqtt log: {tail}") from None

    async def close(self) -> None:
        for name in list(self.tasks):
            task, stop = self.tasks.pop(name)
            stop.set()
            if name == "engine":
                self.engine.stop()
            try:
                await asyncio.wait_for(task, 15)
            except Exception:
                task.cancel()
        if self.delivery is not None:
            self.delivery.close()
        self.broker.stop()
        self.vm.stop()
        shutil.rmtree(self.broker_dir, ignore_errors=True)


def continuous(seqs: dict[tuple[str, int], list[int]]) -> bool:
    return all(v == list(range(v[0], v[0] + len(v))) for v in seqs.values())


async def polls(engine: Engine, device: str, n: int) -> None:
    await async_wait_for(lambda: device in engine.workers, 10, f"{device} started")
    start = engine.workers[device].health.reads
    await async_wait_for(
        lambda: engine.workers[device].health.reads >= start + n, 20, f"{n} polls of {device}"
    )


@pytest.fixture
async def rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = Rig(tmp_path)
    yield r
    await r.close()


async def test_a_broker_outage(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=1, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port})
        await rig.start_historian(path)
        engine = await rig.start_collector(path)
        await polls(engine, "m1", 5)
        rig.broker.stop()
        await polls(engine, "m1", 10)  # produced during the outage
        rig.broker = rig.start_broker()
        await rig.replayed()
        await polls(engine, "m1", 5)
        await rig.stop_collector()
    expected = rig.expected()
    await rig.wait_stored(expected, 15)
    stored = seqs_by_device(rig.vm.url)
    assert stored == expected and continuous(stored)
    assert rig.delivery is not None
    counters = rig.delivery.runners[0].outbox.counters()
    assert counters[("m1", "replayed")] > 0
    assert counters[("m1", "acked")] == counters[("m1", "accepted")] == len(expected[("m1", 1)])


async def test_d_store_down(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=2, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port})
        historian = await rig.start_historian(path)
        engine = await rig.start_collector(path)
        await polls(engine, "m1", 5)
        vm_port = rig.vm.port
        rig.vm.stop()
        await async_wait_for(lambda: historian.stats.retries > 0, 20, "the historian to retry")
        await polls(engine, "m1", 5)
        rig.vm = start_victoria_metrics(rig.tmp / "vm", port=vm_port)
        await polls(engine, "m1", 5)
        await rig.stop_collector()
    expected = rig.expected()
    await rig.wait_stored(expected)
    stored = seqs_by_device(rig.vm.url)
    assert stored == expected and continuous(stored)


async def test_e_disk_budget_too_small_drops_oldest_exactly(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=3, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port}, outbox="{max_bytes: 6KiB}")
        await rig.start_historian(path)
        engine = await rig.start_collector(path)
        await polls(engine, "m1", 3)
        rig.broker.stop()
        assert rig.delivery is not None
        box = rig.delivery.runners[0].outbox
        await async_wait_for(lambda: bool(box.drops()), 30, "the budget to force drops")
        await polls(engine, "m1", 3)
        rig.broker = rig.start_broker()
        await rig.replayed()
        await polls(engine, "m1", 5)
        await rig.stop_collector()
    drops = box.drops()
    dropped = sorted(s for d in drops for s in range(d.seq_first, d.seq_last + 1))
    assert {d.reason for d in drops} == {"max_bytes"}
    assert sum(d.points for d in drops) == len(dropped) == box.counters()[("m1", "dropped")]
    expected = rig.expected()[("m1", 1)]
    survivors = sorted(set(expected) - set(dropped))
    await rig.wait_stored({("m1", 1): survivors})
    stored = seqs_by_device(rig.vm.url)[("m1", 1)]
    assert len(stored) == len(set(stored))  # none doubled
    assert set(survivors) <= set(stored)
    # A record the broker took but whose PUBACK the outage swallowed stays in the outbox and may be
    # dropped later although it arrived: "dropped" means "not confirmed", never "stored twice".
    assert set(stored) - set(survivors) <= set(dropped)
    first_lost = dropped[0]
    assert dropped == list(range(first_lost, first_lost + len(dropped)))  # one run: the oldest of the outage


async def test_f_two_historians_share_the_load(rig: Rig) -> None:
    async with (
        PlcSimulator(name="m1", profile="energy-meter", seed=4, update_interval=0.1) as m1,
        PlcSimulator(name="m2", profile="energy-meter", seed=5, update_interval=0.1) as m2,
    ):
        path = rig.write_plant({"m1": m1.port, "m2": m2.port})
        h1 = await rig.start_historian(path, "1", group="g")
        h2 = await rig.start_historian(path, "2", group="g")
        engine = await rig.start_collector(path)
        await polls(engine, "m1", 20)
        await rig.stop_collector()
    expected = rig.expected()
    await rig.wait_stored(expected)
    stored = seqs_by_device(rig.vm.url)
    assert stored == expected and continuous(stored)
    assert h1.stats.acked > 0 and h2.stats.acked > 0


def run_collector(path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (path.parent / "collector.log").open("ab")
    cmd = [sys.executable, "-m", "collector", "run", "-c", str(path), "--flush-deadline", "10"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def outbox_counters(path: Path) -> dict[tuple[str, str], int]:
    box = Outbox(path.parent / "data" / "outbox" / "mqtt.sqlite")
    try:
        return box.counters()
    finally:
        box.close()


async def test_b_collector_sigkill_and_restart(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=6, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port})
        await rig.start_historian(path)
        proc = run_collector(path)
        await async_wait_for(
            lambda: sum(len(v) for v in seqs_by_device(rig.vm.url).values()) > 60, 30, "data"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        rig.broker.stop()  # what the killed run left unsent must come from its outbox
        rig.broker = rig.start_broker()
        proc = run_collector(path)
        await async_wait_for(lambda: len(seqs_by_device(rig.vm.url)) >= 2, 30, "the second session")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    counters = outbox_counters(path)
    accepted = counters[("m1", "accepted")]
    assert counters[("m1", "acked")] == accepted and counters.get(("m1", "dropped"), 0) == 0

    def complete() -> bool:
        return sum(len(v) for v in seqs_by_device(rig.vm.url).values()) >= accepted

    await async_wait_for(complete, 30, "every accepted reading stored")
    stored = seqs_by_device(rig.vm.url)
    assert sum(len(v) for v in stored.values()) == accepted
    assert continuous(stored) and all(v[0] == 1 for v in stored.values())


def run_historian(path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (path.parent / "historian.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "collector",
        "-v",
        "historian",
        "-c",
        str(path),
        "--group",
        "",
        "--batch",
        "50",
    ]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


async def test_c_historian_sigkill_mid_batch_and_restart(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=7, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port})
        historian = run_historian(path)
        log = path.parent / "historian.log"
        await async_wait_for(lambda: log.exists() and "subscribed" in log.read_text(), 30, "historian up")
        engine = await rig.start_collector(path)
        await async_wait_for(lambda: bool(seqs_by_device(rig.vm.url)), 30, "first points stored")
        historian.send_signal(signal.SIGKILL)  # whatever batch it held is unacknowledged
        historian.wait(10)
        await polls(engine, "m1", 10)
        historian = run_historian(path)
        await polls(engine, "m1", 5)
        await rig.stop_collector()
        try:
            expected = rig.expected()
            await rig.wait_stored(expected)
            stored = seqs_by_device(rig.vm.url)
            assert stored == expected and continuous(stored)
        finally:
            historian.send_signal(signal.SIGTERM)
            historian.wait(15)
