"""`shopfloor run -c PLANT.yaml`: the collector service, engine → delivery (outbox per sink) → sinks.

SIGTERM/SIGINT stop the device tasks, then each sink gets `--flush-deadline` seconds to deliver
what its outbox holds; whatever is left stays in the outbox for the next start. Everything that
happens is also written to the signed audit ledger (evidence.ledger_dir), START to STOP.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass

from collector import sdnotify
from collector.config import ConfigError, LoadedPlant, load_plant
from collector.config.errors import Problem
from collector.delivery import Delivery
from collector.engine import Engine
from collector.ledger import Ledger, LedgerError, keys
from collector.memtrim import freeze_startup, trimming
from collector.recorder import EvidenceRecorder
from collector.session import next_session
from collector.web.server import serving

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="the collector service: devices → outboxes → MQTT / store")
    parser.add_argument("-c", "--config", required=True, help="plant YAML file")
    parser.add_argument("--flush-deadline", type=float, default=5.0, help="seconds to flush outboxes at stop")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if not Delivery.has_sink(plant.config):
        # without a sink the readings would go nowhere and delivery, with nothing to run, would end
        # the collector at once (exit 0, nothing said)
        path = ("storage", "direct")
        backend = plant.config.storage.backend.value
        problem = Problem(
            plant.smap.locate(path), path, f"readings would reach no sink: mqtt is off and {backend} is "
            "filled by the historian from MQTT",
            "set mqtt (mode: uns or sparkplug) for the historian, or storage.direct: true to write to "
            "the store from the collector",
        )  # fmt: skip
        print(problem.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(serve(plant, args.flush_deadline))
    except LedgerError as exc:
        print(f"shopfloor run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        log.error("collector failed: %s", exc, exc_info=True)
        return EXIT_FAILED
    return EXIT_OK


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
    def open(cls, plant: LoadedPlant) -> Collector:
        """Key, ledger (locked: one collector per ledger), outboxes and sinks, engine; nothing runs yet."""
        cfg = plant.config
        key = keys.load_or_create(plant.resolve(cfg.evidence.signing_key_file))
        ledger = Ledger(plant.resolve(cfg.evidence.ledger_dir), key, f"collector@{cfg.site.edge_id}")
        try:
            session = next_session(plant.resolve(cfg.data_dir))
            delivery = Delivery.build(cfg, plant.base_dir, session)
        except BaseException:
            ledger.close()
            raise
        recorder = EvidenceRecorder(ledger, plant, session, delivery)
        delivery.observe(recorder)
        engine = Engine(
            plant, recorder.tee_output(delivery), events=recorder.tee_events(delivery.events),
            session=session, observer=recorder,
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


async def serve(plant: LoadedPlant, flush_deadline: float = 5.0) -> None:
    """Run one collector until SIGTERM/SIGINT or a delivery failure, then flush."""
    collector = Collector.open(plant)
    # [web] status page, JSON API, /metrics, /healthz, /readyz (collector/web); up until after the flush
    async with serving(collector.engine, collector.delivery, collector.session), trimming():
        log.debug("%d objects left out of garbage collection", freeze_startup())
        await collector.run(flush_deadline)
