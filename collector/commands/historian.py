"""`shopfloor historian -c PLANT.yaml`: MQTT → time-series store, shared-subscription capable."""

from __future__ import annotations

import argparse
import asyncio
import sys

from collector.commands.common import EXIT_BAD_INPUT, EXIT_OK, load_or_report
from collector.config.sinks import StoreBackend
from collector.historian import Historian
from collector.service import serve_historian


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("historian", help="MQTT telemetry → InfluxDB / VictoriaMetrics (ack after store)")
    parser.add_argument("-c", "--config", required=True, help="plant YAML file")
    parser.add_argument(
        "--group",
        default="historian",
        help="shared-subscription group ($share/<group>/…); '' for a plain subscription",
    )
    parser.add_argument("--instance", default="1", help="this historian's id within the group (client id)")
    parser.add_argument("--batch", type=int, default=5000, help="points per store write")
    parser.add_argument(
        "--session",
        choices=("persistent", "clean"),
        default="persistent",
        help="persistent: the broker queues while the historian is away; clean: a new session and "
        "client id per connection, for broker clusters (docs/OPERATIONS.md)",
    )
    parser.set_defaults(func=_historian)


def _historian(args: argparse.Namespace) -> int:
    plant = load_or_report(args.config)
    if plant is None:
        return EXIT_BAD_INPUT
    if plant.config.storage.backend is StoreBackend.SQLITE or not plant.config.storage.url:
        print("historian needs storage.backend victoriametrics or influxdb with a url", file=sys.stderr)
        return EXIT_BAD_INPUT
    historian = Historian(
        plant.config,
        plant.base_dir,
        group=args.group or None,
        instance=args.instance,
        batch_points=args.batch,
        session=args.session,
    )
    asyncio.run(serve_historian(historian))
    return EXIT_OK
