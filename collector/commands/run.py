"""`shopfloor run -c PLANT.yaml`: the collector service, engine → delivery (outbox per sink) → sinks.

SIGTERM/SIGINT stop the device tasks, then each sink gets `--flush-deadline` seconds to deliver
what its outbox holds; whatever is left stays in the outbox for the next start. Everything that
happens is also written to the signed audit ledger (evidence.ledger_dir), START to STOP. The
service itself is assembled in collector/service.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_or_report
from collector.ledger import LedgerError
from collector.service import collector_problems, serve_collector

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="the collector service: devices → outboxes → MQTT / store")
    parser.add_argument("-c", "--config", required=True, help="plant YAML file")
    parser.add_argument("--flush-deadline", type=float, default=5.0, help="seconds to flush outboxes at stop")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    plant = load_or_report(args.config)
    if plant is None:
        return EXIT_BAD_INPUT
    problems = collector_problems(plant)
    for problem in problems:
        print(problem.render(), file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    try:
        asyncio.run(serve_collector(plant, args.flush_deadline))
    except LedgerError as exc:
        print(f"shopfloor run: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        log.error("collector failed: %s", exc, exc_info=True)
        return EXIT_FAILURE
    return EXIT_OK
