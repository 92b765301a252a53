"""`shopfloor config check|schema`."""

from __future__ import annotations

import argparse
import json
import sys

from collector.commands.common import EXIT_BAD_INPUT, EXIT_OK, load_or_report
from collector.config import PlantConfig
from collector.config.assemble import display_path
from collector.config.summary import summarise


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="validate a plant file or print its JSON Schema")
    cmds = parser.add_subparsers(dest="config_cmd", required=True, metavar="{check,schema}")
    check = cmds.add_parser("check", help="report every problem with file:line:column, or a summary")
    check.add_argument("file", help="plant YAML file")
    check.set_defaults(func=_check)
    schema = cmds.add_parser("schema", help="print the JSON Schema of the plant file (for editors)")
    schema.set_defaults(func=_schema)


def _check(args: argparse.Namespace) -> int:
    plant = load_or_report(args.file)
    if plant is None:
        return EXIT_BAD_INPUT
    print(summarise(plant, display_path(plant.file)))
    for warning in plant.warnings:
        print(warning.render(), file=sys.stderr)
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    schema = PlantConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shopfloor plant configuration"
    print(json.dumps(schema, ensure_ascii=False, indent=2))
    return EXIT_OK
