"""The `shopfloor` command. Only this module configures logging handlers."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence

from collector import __version__
from collector.commands import browse as browse_cmd
from collector.commands import certs as certs_cmd
from collector.commands import config as config_cmd
from collector.commands import demo as demo_cmd
from collector.commands import evidence as evidence_cmd
from collector.commands import historian as historian_cmd
from collector.commands import modbus_tools as modbus_tools_cmd
from collector.commands import probe as probe_cmd
from collector.commands import reload as reload_cmd
from collector.commands import run as run_cmd
from collector.commands import simulate as simulate_cmd
from drivers.liblog import PROTOCOL_LIBRARIES, keep_at_debug


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopfloor",
        description="Edge data collector for factories: OPC UA and Modbus to MQTT and a time-series store.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 bad input (configuration, arguments).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_cmd.add_parser(sub)
    simulate_cmd.add_parser(sub)
    probe_cmd.add_parser(sub)
    reload_cmd.add_parser(sub)
    modbus_tools_cmd.add_parser(sub)
    certs_cmd.add_parser(sub)
    browse_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    historian_cmd.add_parser(sub)
    demo_cmd.add_parser(sub)
    evidence_cmd.add_parser(sub)
    return parser


_NEGATIVE = re.compile(r"^-\d")  # -5:-2, -1h, -0.5: values, not options


def _value_options(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every option string, in every subcommand, that takes one value."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _value_options(sub)
        elif action.option_strings and action.nargs in (None, "?") and action.const is None:
            yield from action.option_strings


def join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`--range -5:-2` -> `--range=-5:-2`: argparse takes a value that starts with '-' for an option
    unless it is a plain number, so negative ranges and ages ("expected one argument") need the '='."""
    takes_value = set(_value_options(parser))
    out: list[str] = []
    for token in argv:
        if out and out[-1] in takes_value and _NEGATIVE.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


# Everything the collector writes — ledger, keys, outboxes, packs, the pid file, tokens — is for its
# user and group only, however it is started: systemd sets UMask=0027 in our unit, a shell usually
# leaves 0022, which made every file readable by all local users.
UMASK = 0o027


def entry() -> None:
    """The process entry (`shopfloor`, `python -m collector`): the umask is the process's, so it is set
    here and not in main(), which tests also call in-process."""
    os.umask(UMASK)
    sys.exit(main())


def configure_logging(verbose: int) -> None:
    """WARNING, INFO with -v, DEBUG with -vv. The protocol libraries' records are DEBUG whatever their
    level (drivers/liblog.py): a routine fault is one line from our drivers or the engine, and the
    library's traceback of it shows only with -vv."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for library in PROTOCOL_LIBRARIES:
        keep_at_debug(library)
        if verbose < 2:
            logging.getLogger(library).setLevel(logging.ERROR)  # below -vv not even built


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_negative_values(parser, sys.argv[1:] if argv is None else argv))
    configure_logging(args.verbose)
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # output piped into head & co.: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    entry()
