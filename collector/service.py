"""The services of a plant, assembled from a loaded plant file: the collector and the historian.

This is the composition root. The commands (collector/commands) parse arguments, load the plant
file and call `serve_collector` or `serve_historian`; the tests build a `Collector` the same way.
Start-up order follows the data backwards: ledger and key, outboxes and sinks, then the engine that
feeds them; shutdown runs forwards, with a final flush (see `Collector.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from collector import sdnotify
from collector.clock import SYSTEM, Clock, ClockHealth
from collector.config import LoadedPlant
from collector.config.errors import Problem
from collector.delivery import Delivery
from collector.engine import Engine
from collector.historian import Historian
from collector.ledger import Ledger, keys
from collector.memtrim import freeze_startup, trimming
from collector.recorder import EvidenceRecorder
from collector.session import next_session
from collector.web.server import serving

log = logging.getLogger(__name__)


def collector_problems(plant: LoadedPlant) -> list[Problem]:
    """What stops a valid plant file from running as a collector, located in the file: readings that
    would reach no sink, or a store nothing would fill."""
    cfg, path = plant.config, ("storage", "direct")
    backend = cfg.storage.backend.value
    if not Delivery.has_sink(cfg):
        # without a sink the readings would go nowhere and delivery, with nothing to run, would end
        # the collector at once (exit 0, nothing said)
        why = f"readings would reach no sink: mqtt is off and {backend} is filled by the historian from MQTT"
        hint = (
            "set mqtt (mode: uns or sparkplug) for the historian, or storage.direct: true to write to "
            "the store from the collector"
        )
    elif Delivery.store_unfilled(cfg):
        # the historian stores the UNS messages only: a Sparkplug node's data would never be stored
        why = f"nothing would fill {backend}: the historian reads UNS messages, and mqtt.mode is sparkplug"
        hint = "set storage.direct: true (the collector writes the store itself), or mqtt.mode: uns"
    else:
        return []
    return [Problem(plant.smap.locate(path), path, why, hint)]


@dataclass
class Collector:
    """The running parts of one `shopfloor run`, wired together (what the web server reads from)."""

    plant: LoadedPlant
    session: int
    ledger: Ledger
    delivery: Delivery
    engine: Engine
    recorder: EvidenceRecorder

    @classmethod
    def open(cls, plant: LoadedPlant, clock: Clock = SYSTEM) -> Collector:
        """Key, ledger (locked: one collector per ledger), outboxes and sinks, engine; nothing runs yet.
        `clock` is where the recorder and the device workers take time from (tests step it)."""
        cfg = plant.config
        key = keys.load_or_create(plant.resolve(cfg.evidence.signing_key_file))
        ledger = Ledger(plant.resolve(cfg.evidence.ledger_dir), key, f"collector@{cfg.site.edge_id}")
        try:
            session = next_session(plant.resolve(cfg.data_dir))
            delivery = Delivery.build(cfg, plant.base_dir, session)
        except BaseException:
            ledger.close()
            raise
        # the recorder learns from chrony when the clock is off; the workers then mark samples Uncertain
        clock_health = ClockHealth()
        recorder = EvidenceRecorder(ledger, plant, session, delivery, clock=clock, clock_health=clock_health)
        delivery.observe(recorder)
        engine = Engine(
            plant, recorder.tee_output(delivery), events=recorder.tee_events(delivery.events),
            session=session, observer=recorder, clock=clock, clock_health=clock_health,
            history=recorder.state_history, on_reload=lambda new: delivery.reconfigure(new.config),
        )  # fmt: skip
        return cls(plant, session, ledger, delivery, engine, recorder)

    async def run(self, flush_deadline: float = 5.0) -> None:
        """Until SIGTERM/SIGINT (the engine's handlers) or a delivery failure; then flush and close."""
        engine, delivery, recorder = self.engine, self.delivery, self.recorder
        stop = asyncio.Event()
        deliver = asyncio.create_task(delivery.run(stop, flush_deadline), name="delivery")
        deliver.add_done_callback(lambda _t: engine.stop())
        ledger_task = asyncio.create_task(recorder.run(), name="ledger")
        log.info(
            "collector session %d: %d devices, %d sinks, ledger key %s",
            self.session, len(self.plant.config.devices), len(delivery.runners), self.ledger.key_id,
        )  # fmt: skip
        reason = "stopped"
        try:
            recorder.start(engine.health)  # before any task runs: COLLECTOR_START comes first
            # systemd READY=1 on the loop's next turn: by then engine.run() has created every device task
            asyncio.get_running_loop().call_soon(sdnotify.ready, f"session {self.session}")
            await engine.run()
        except BaseException as exc:
            reason = f"error: {exc!r}"
            raise
        finally:
            sdnotify.stopping()
            stop.set()
            try:
                await asyncio.wait_for(deliver, flush_deadline + 10)
            except Exception as exc:
                reason = f"delivery failed: {exc!r}"
                raise
            finally:
                ledger_task.cancel()
                await asyncio.gather(ledger_task, return_exceptions=True)
                try:
                    recorder.stop(reason)  # after the final flush: the last SINK_BATCH counts it
                finally:
                    delivery.close()
                    self.ledger.close()


async def serve_collector(plant: LoadedPlant, flush_deadline: float = 5.0) -> None:
    """Run one collector until SIGTERM/SIGINT or a delivery failure, then flush."""
    collector = Collector.open(plant)
    # [web] status page, JSON API, /metrics, /healthz, /readyz (collector/web); up until after the flush
    async with serving(collector.engine, collector.delivery, collector.session), trimming():
        log.debug("%d objects left out of garbage collection", freeze_startup())
        await collector.run(flush_deadline)


async def serve_historian(historian: Historian) -> None:
    """Run the MQTT → store bridge until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    loop.call_soon(sdnotify.ready)  # systemd Type=notify: subscribed and serving
    async with trimming():
        await historian.run(stop)
