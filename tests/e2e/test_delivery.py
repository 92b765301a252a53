"""End to end without loss: Modbus simulators → Engine → outboxes → mosquitto → historian → VictoriaMetrics.

Every test compares what the engine handed to the delivery (device, session, seq) with what the store
holds: each reading exactly once (seq continuity per device and session), whatever was stopped or
killed in between. VictoriaMetrics runs with -dedup.minScrapeInterval=1ms (see docs/DELIVERY.md).

The historians use the default shared subscription and the collector the default store confirmation;
only the confirmation deadline is shortened (3 s instead of 30 s) so a re-send does not hold the suite up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.historian import Historian
from collector.model import Reading
from collector.outbox import UNCONFIRMED, Outbox
from collector.session import next_session
from simulators.modbus import PlcSimulator
from tests.support.net import async_wait_for, free_port
from tests.support.servers import Server, start_mosquitto, start_victoria_metrics
from tests.support.store import seqs_by_device

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "configs" / "templates"


Sim = tuple[int, str, int]  # (port, template, unit id)
CONFIRM = "{timeout: 3s}"


def plant_text(
    mqtt_port: int, vm_url: str, sims: dict[str, int | Sim], outbox: str = "{max_bytes: 1GiB}",
    poll: str = "100ms", failover: str = "[]",
) -> str:  # fmt: skip
    lines = [
        "version: 1", "site: {enterprise: acme, site: s1, edge_id: e2e}", "data_dir: data",
        f"templates_dir: {TEMPLATES}", "devices:",
    ]  # fmt: skip
    for name, sim in sims.items():
        port, template, unit = sim if isinstance(sim, tuple) else (sim, "energy-meter", 1)
        lines += [f"  - {{id: {name}, protocol: modbus_tcp, host: 127.0.0.1, port: {port}, unit_id: {unit},",
                  "     area: a1, line: l1,",
                  f"     template: {template}, poll_interval: {poll}, timeout: 300ms}}"]  # fmt: skip
    lines += [
        f'mqtt: {{mode: uns, host: 127.0.0.1, port: {mqtt_port}, version: "5", outbox: {outbox},',
        f"       confirm: {CONFIRM}, failover: {failover}}}",
        f"storage: {{backend: victoriametrics, url: '{vm_url}'}}",
    ]
    return "\n".join(lines) + "\n"


class Rig:
    """One broker (persistent unless `persistent=False`, restartable on its port), one VM,
    simulators, collector, historians."""

    def __init__(self, tmp: Path, persistent: bool = True) -> None:
        self.tmp = tmp
        self.persistent = persistent
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

    def start_broker(self, port: int | None = None) -> Server:
        conf = f"persistence true\npersistence_location {self.broker_dir}/\n" if self.persistent else ""
        return start_mosquitto(self.broker_dir, conf, port=port or self.port)

    def write_plant(self, sims: dict[str, int | Sim], outbox: str = "{max_bytes: 1GiB}", **kw: str) -> Path:
        path = self.tmp / "plant.yaml"
        path.write_text(plant_text(self.port, self.vm.url, sims, outbox, **kw), encoding="utf-8")
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
        engine = Engine(plant, self.record, events=self.delivery.events, session=session)
        stop = asyncio.Event()
        deliver = asyncio.create_task(self.delivery.run(stop, flush_deadline=10))
        self.tasks["engine"] = (asyncio.create_task(engine.run()), stop)
        self.tasks["delivery"] = (deliver, stop)
        self.engine = engine
        return engine

    async def stop_engine(self) -> None:
        """The devices stop; the delivery goes on (until stop_collector)."""
        self.engine.stop()
        task, _stop = self.tasks.pop("engine")
        await asyncio.wait_for(task, 15)

    async def stop_collector(self) -> None:
        if "engine" in self.tasks:
            await self.stop_engine()
        task, stop = self.tasks.pop("delivery")
        stop.set()
        await asyncio.wait_for(task, 30)

    async def start_historian(
        self, path: Path, instance: str = "1", group: str | None = "historian"
    ) -> Historian:
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
    # the oldest may have been published before the outage and never confirmed: the store may hold them
    assert {d.reason for d in drops} <= {"max_bytes", "max_bytes" + UNCONFIRMED}
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


def run_historian(path: Path, instance: str = "1", *options: str) -> subprocess.Popen[bytes]:
    """`shopfloor historian` as a process of its own (so it can be SIGKILLed), logging to historian-N.log."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (path.parent / f"historian-{instance}.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "collector",
        "-v",
        "historian",
        "-c",
        str(path),
        "--instance",
        instance,
        *options,
    ]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def subscribed(path: Path, instance: str, times: int = 1) -> bool:
    log = path.parent / f"historian-{instance}.log"
    return log.exists() and log.read_text().count("historian subscribed") >= times


async def test_c_historian_sigkill_mid_batch_and_restart(rig: Rig) -> None:
    async with PlcSimulator(name="m1", profile="energy-meter", seed=7, update_interval=0.1) as m1:
        path = rig.write_plant({"m1": m1.port})
        historian = run_historian(path, "1", "--batch", "50")
        await async_wait_for(lambda: subscribed(path, "1"), 30, "historian up")
        engine = await rig.start_collector(path)
        await async_wait_for(lambda: bool(seqs_by_device(rig.vm.url)), 30, "first points stored")
        historian.send_signal(signal.SIGKILL)  # whatever batch it held is unacknowledged
        historian.wait(10)
        await polls(engine, "m1", 10)
        historian = run_historian(path, "1", "--batch", "50")
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


@contextlib.asynccontextmanager
async def historians_away(historians: dict[str, subprocess.Popen[bytes]]) -> AsyncIterator[None]:
    """SIGSTOP the historians for the block, then SIGCONT: a broker that comes back meets the
    collector first, which replays its backlog into shared subscriptions nobody has joined yet
    (the loss of the issue, made certain rather than left to the two reconnect backoffs)."""
    for proc in historians.values():
        proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in historians.values():
            proc.send_signal(signal.SIGCONT)


DEVICES_PER_SIM = 12
PROFILES = ("energy-meter", "stacklight-plc", "injection-molding")  # 3 x 12 = 36 devices


async def test_g_defaults_lose_nothing_through_broker_kill_historian_kill_store_outage_and_failover(
    tmp_path: Path,
) -> None:
    """The issue's run: 36 devices, `shopfloor historian` twice with its default shared group, the
    collector with its default store confirmation, mosquitto without persistence. The broker is
    SIGKILLed and restarted empty, a historian is SIGKILLed, the store goes down, and finally the
    broker is SIGKILLed for good and an empty one takes over at the failover address (a cluster
    fail-over). Every (device, session, seq) must be in the store exactly once."""
    rig = Rig(tmp_path, persistent=False)
    historians: dict[str, subprocess.Popen[bytes]] = {}
    units = range(1, DEVICES_PER_SIM + 1)
    try:
        async with contextlib.AsyncExitStack() as stack:
            sims = [
                await stack.enter_async_context(
                    PlcSimulator(
                        name=profile, profile=profile, seed=10 + i, unit_ids=units, update_interval=0.5
                    )
                )
                for i, profile in enumerate(PROFILES)
            ]
            devices: dict[str, int | Sim] = {
                f"{sim.name[:2]}-{u:02d}": (sim.port, sim.name, u) for sim in sims for u in units
            }
            standby = free_port()
            path = rig.write_plant(devices, poll="500ms", failover=f"['127.0.0.1:{standby}']")
            for n in ("1", "2"):
                historians[n] = run_historian(path, n)
            await async_wait_for(
                lambda: subscribed(path, "1") and subscribed(path, "2"), 60, "both historians"
            )
            engine = await rig.start_collector(path)
            first = next(iter(devices))
            await polls(engine, first, 3)

            async with historians_away(historians):  # they re-subscribe after the collector replayed
                rig.broker.proc.kill()  # SIGKILL: whatever it held is gone, persistence is off anyway
                rig.broker.proc.wait(10)
                await polls(engine, first, 6)
                rig.broker = rig.start_broker()  # empty, same port
                await rig.replayed()
                await polls(engine, first, 3)

            historians["1"].kill()  # SIGKILL mid-run: its unacknowledged batch is the broker's again
            historians["1"].wait(10)
            await polls(engine, first, 3)
            historians["1"] = run_historian(path, "1")
            await polls(engine, first, 3)

            vm_port = rig.vm.port
            rig.vm.stop()
            await polls(engine, first, 4)
            rig.vm = start_victoria_metrics(rig.tmp / "vm", port=vm_port)
            await polls(engine, first, 3)

            async with historians_away(historians):
                rig.broker.proc.kill()  # the fail-over: this broker is gone for good
                rig.broker.proc.wait(10)
                await polls(engine, first, 4)
                rig.broker = rig.start_broker(standby)  # an empty node at the failover address
                await rig.replayed()
                await polls(engine, first, 3)
            await polls(engine, first, 4)
            await rig.stop_engine()
        expected = rig.expected()
        assert len(expected) == 36
        await rig.wait_stored(expected, 120)  # the delivery runs on: re-sends land too
        await rig.stop_collector()
        stored = seqs_by_device(rig.vm.url)
        assert rig.delivery is not None
        counters = rig.delivery.runners[0].outbox.counters()
        left = rig.delivery.runners[0].outbox.depth  # state and event records too: none waits forever
    finally:
        for proc in historians.values():
            proc.terminate()
            proc.wait(15)
        await rig.close()
    missing = {k: sorted(set(v) - set(stored.get(k, []))) for k, v in expected.items()}
    assert {k: m for k, m in missing.items() if m} == {}  # 0 missing seq per (device, session)
    assert stored == expected and continuous(stored)  # and none stored twice
    assert left == 0
    for device, session in expected:
        accepted = counters[(device, "accepted")]
        assert accepted == len(expected[(device, session)]) == counters[(device, "confirmed")]
        assert counters.get((device, "dropped"), 0) == 0
