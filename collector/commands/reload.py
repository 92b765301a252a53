"""`shopfloor reload -c PLANT.yaml`: validate the file, then ask the running collector to apply it.

The pid file is checked before the signal (collector/pidfile.py): a stale one may name any process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from collector import pidfile
from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_or_report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("reload", help="check the plant file, then make the running collector apply it")
    parser.add_argument("-c", "--config", required=True, help="plant YAML file the collector runs with")
    parser.set_defaults(func=_reload)


def _reload(args: argparse.Namespace) -> int:
    plant = load_or_report(args.config)
    if plant is None:  # refuse here: the collector would refuse it too and keep its config
        print("not reloaded: the running collector keeps its current configuration", file=sys.stderr)
        return EXIT_BAD_INPUT
    pid_file = plant.resolve(plant.config.data_dir) / "collector.pid"
    hup = getattr(signal, "SIGHUP", None)
    if hup is None:
        print("live reload needs SIGHUP, which Windows lacks: restart the service instead", file=sys.stderr)
        return EXIT_FAILURE
    pid, why_not = pidfile.check(pid_file, plant.file)
    if pid is None or why_not is not None:
        print(f"not reloaded: pid {pid} from {pid_file} {why_not}" if pid else why_not, file=sys.stderr)
        return EXIT_FAILURE
    try:
        os.kill(pid, hup)
    except ProcessLookupError:
        print(f"no running collector found ({pid_file})", file=sys.stderr)
        return EXIT_FAILURE
    except PermissionError:
        print(f"not allowed to signal process {pid}: run as the collector's user", file=sys.stderr)
        return EXIT_FAILURE
    print(f"reload requested from collector pid {pid}; it logs what it applied")
    return EXIT_OK
