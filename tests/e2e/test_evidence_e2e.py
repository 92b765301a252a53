"""Issue #8, done when: a pack built from a real run (simulators → collector → mosquitto → historian
→ VictoriaMetrics) over a window with a device outage and a broker outage shows the gap, the replay,
a 100 % end-to-end delivery ratio for every device including the replayed period, and verifies —
through the API and with the pack's own verify script run as a separate process.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from collector.config import load_plant
from collector.evidence.pack import build_pack
from collector.evidence.store_reader import count_samples
from collector.evidence.verify.csvio import read_csv
from collector.evidence.verify.verifier import verify_pack
from collector.historian import Historian
from collector.ledger import keys
from simulators.modbus import PlcSimulator
from tests.support.evidence import every_reading_stored, now_ms, plant_text, polls, running, write_plant
from tests.support.net import async_wait_for
from tests.support.servers import Server, start_mosquitto
from tests.support.worker import connected

pytestmark = pytest.mark.e2e
SITE = "evidence-e2e"  # the VictoriaMetrics fixture is shared: this test reads only its own site


class Broker:
    """A persistent mosquitto that can be stopped and started again on its port."""

    def __init__(self) -> None:
        # outside pytest's 0700 tree: mosquitto drops root privileges before saving its database
        self.dir = Path(tempfile.mkdtemp(prefix="shopfloor-evidence-broker-"))
        self.dir.chmod(0o777)
        self.server: Server = self._start()

    def _start(self, port: int | None = None) -> Server:
        conf = f"persistence true\npersistence_location {self.dir}/\n"
        return start_mosquitto(self.dir, conf, port=port)

    def restart(self) -> None:
        self.server = self._start(self.server.port)

    def close(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


async def test_pack_over_device_and_broker_outages(victoria_metrics: Server, tmp_path: Path) -> None:
    broker = Broker()
    stop_historian = asyncio.Event()
    try:
        async with (
            PlcSimulator(name="plc-01", profile="stacklight-plc", seed=21, update_interval=0.1) as plc,
            PlcSimulator(name="meter-01", profile="energy-meter", seed=22, update_interval=0.1) as meter,
        ):
            mqtt = f'{{mode: uns, host: 127.0.0.1, port: {broker.server.port}, version: "5"}}'
            storage = f"{{backend: victoriametrics, url: '{victoria_metrics.url}'}}"
            text = plant_text(plc.port, meter.port, storage=storage, mqtt=mqtt, site=SITE)
            plant_file = write_plant(tmp_path, text)
            plant = load_plant(plant_file)
            historian = Historian(plant.config, plant.base_dir, group=None, linger=0.05)
            hist_task = asyncio.create_task(historian.run(stop_historian), name="historian")
            await async_wait_for(lambda: historian.subscribed, 15, "historian subscribed")
            start = now_ms()
            async with running(plant_file) as collector:
                await polls(collector, 5)
                plc_worker = collector.engine.workers["plc-01"]
                # device outage: the PLC's server goes away; long enough to be a gap (> 10 s of silence)
                last_good_before = plc_worker.health.last_good_ts or 0
                await plc.stop()
                outage_from = now_ms()
                await async_wait_for(lambda: not connected(plc_worker), 10, "the PLC unreachable")
                await async_wait_for(lambda: now_ms() - outage_from > 11_000, 15, "an outage over 10 s")
                await plc.start()  # the same port again
                restarted = now_ms()
                await async_wait_for(lambda: connected(plc_worker), 30, "the PLC to answer again")
                first_good_after = plc_worker.health.last_good_ts or 0
                await polls(collector, 3)
                # broker outage: readings wait in the outbox, then are replayed
                mqtt_runner = collector.delivery.runners[0]
                broker.server.stop()
                await async_wait_for(lambda: mqtt_runner.outage, 20, "the MQTT sink to notice the outage")
                await polls(collector, 10)
                broker.restart()
                await async_wait_for(lambda: not mqtt_runner.outage, 30, "the MQTT sink to reconnect")
                await polls(collector, 5)
            end = now_ms() + 1
            total = await every_reading_stored(
                collector, victoria_metrics, plant_file, start - 1000, end, SITE
            )
            stop_historian.set()
            await asyncio.wait_for(hist_task, 15)
    finally:
        stop_historian.set()
        broker.close()

    result = build_pack(load_plant(plant_file), start - 1000, end, tmp_path / "packs")
    pack, summary = result.path, result.summary
    # the count the memory check asks the store for is the number of samples the pack then read
    storage = load_plant(plant_file).config.storage
    assert count_samples(storage, tmp_path, start - 1000, end, SITE) == summary["raw"]["rows"] > 0

    gaps = [r for r in read_csv(pack / "04_completeness" / "断点记录.csv") if r.text("device_id") == "plc-01"]
    assert len(gaps) == 1 and gaps[0].text("cause") == "comm"
    gap_from, gap_to = gaps[0].integer("start_ms"), gaps[0].integer("end_ms")
    # the outage as the test saw it: from the last good reading it saw before stopping the PLC to the
    # first good reading it saw after the restart; the gap lies within it and covers the downtime
    assert last_good_before <= gap_from <= outage_from and restarted <= gap_to <= first_good_after
    assert gaps[0].number("duration_s") == (gap_to - gap_from) / 1000

    replays = read_csv(pack / "04_completeness" / "断网续传记录.csv")
    replayed = {
        r.text("device_id"): r.integer("replayed_records") for r in replays if r.text("sink") == "mqtt"
    }
    assert set(replayed) == {"plc-01", "meter-01"} and all(n > 0 for n in replayed.values())
    assert all(r.text("cause") == "broker" and r.number("duration_s") > 0 for r in replays)
    assert summary["headline"]["replayed"] == sum(r.integer("replayed_records") for r in replays)

    rows = read_csv(pack / "04_completeness" / "入库对账.csv")
    assert {r.text("device_id") for r in rows} == {"plc-01", "meter-01"}
    assert all(r.number("delivery_ratio") == 1.0 and r.text("missing_seq_ranges") == "" for r in rows)
    head = summary["headline"]
    assert head["published"] == head["landed"] == total and head["delivery_ratio"] == 1.0

    report = verify_pack(pack)
    assert all(c.ok for c in report.checks), [(c.name_en, c.detail) for c in report.checks if not c.ok]
    script = await asyncio.create_subprocess_exec(
        sys.executable, "-B", "-m", "verify", ".", "--trusted-key", str(_public_key(plant_file)), cwd=pack,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(script.communicate(), 120)
    assert script.returncode == 0, output.decode()
    assert "ALL PASS" in output.decode()


def _public_key(plant_file: Path) -> Path:
    """The plant's key as the evaluator receives it out of band (here: read on the collector's host)."""
    plant = load_plant(plant_file)
    return keys.public_pem_path(plant.resolve(plant.config.evidence.signing_key_file))
