"""`shopfloor run -c PLANT.yaml`: the collector service, engine → delivery (outbox per sink) → sinks.

SIGTERM/SIGINT stop the device tasks, then each sink gets `--flush-deadline` seconds to deliver
what its outbox holds; whatever is left stays in the outbox for the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from collector.config import ConfigError, LoadedPlant, load_plant
from collector.delivery import Delivery
from collector.engine import Engine
from collector.session import next_session

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
    try:
        asyncio.run(serve(plant, args.flush_deadline))
    except Exception as exc:
        log.error("collector failed: %s", exc, exc_info=True)
        return EXIT_FAILED
    return EXIT_OK


async def serve(plant: LoadedPlant, flush_deadline: float = 5.0) -> None:
    """Run until SIGTERM/SIGINT (the engine's handlers) or a delivery failure, then flush."""
    session = next_session(plant.resolve(plant.config.data_dir))
    delivery = Delivery.build(plant.config, plant.base_dir, session)
    engine = Engine(plant, delivery, events=delivery.events, session=session)
    stop = asyncio.Event()
    deliver = asyncio.create_task(delivery.run(stop, flush_deadline), name="delivery")
    deliver.add_done_callback(lambda _t: engine.stop())
    log.info(
        "collector session %d: %d devices, %d sinks",
        session,
        len(plant.config.devices),
        len(delivery.runners),
    )
    try:
        await engine.run()
    finally:
        stop.set()
        try:
            await asyncio.wait_for(deliver, flush_deadline + 10)
        finally:
            delivery.close()
