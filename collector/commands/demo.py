"""`shopfloor demo`: a simulated plant, a private broker and store, the collector and the historian,
a live view with a device fault and a broker outage, and a verified evidence pack at the end."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from collector.commands.common import EXIT_BAD_INPUT


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="the whole system for a few minutes against simulators; ends with a verified evidence pack",
    )
    parser.add_argument(
        "--minutes", type=float, default=3.0, help="length of the run (default 3; at least 0.5)"
    )
    parser.add_argument("--out", help="run directory (default ./demo-run/<timestamp>)")
    parser.add_argument(
        "--no-view", action="store_true", help="plain progress lines instead of the live screen"
    )
    parser.add_argument(
        "--scenario", help="simulator scenario (default: simulators/scenarios/demo.yaml, installed)"
    )
    parser.add_argument("--no-broker", action="store_true", help="no mosquitto: store-only delivery")
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="the embedded SQLite historian even if VictoriaMetrics is installed",
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from collector.demo.rig import used_run_dir
    from collector.demo.run import DemoOptions, run_demo

    if args.minutes < 0.5:
        print("--minutes must be at least 0.5", flush=True)
        return EXIT_BAD_INPUT
    run_dir = Path(args.out) if args.out else Path("demo-run") / time.strftime("%Y%m%d-%H%M%S")
    problem = used_run_dir(run_dir)
    if problem is not None:
        print(problem, flush=True)
        return EXIT_BAD_INPUT
    scenario = Path(args.scenario) if args.scenario else None
    if scenario is not None and not scenario.is_file():
        print(f"no scenario file {scenario}", flush=True)
        return EXIT_BAD_INPUT
    opts = DemoOptions(
        minutes=args.minutes,
        run_dir=run_dir.resolve(),
        view=not args.no_view,
        scenario=scenario,
        broker=not args.no_broker,
        store=not args.sqlite,
    )
    return run_demo(opts)
