"""`shopfloor config check|schema`."""

from __future__ import annotations

import argparse
import json
import sys

from collector.config import ConfigError, PlantConfig, load_plant
from collector.config.assemble import display_path
from collector.config.summary import summarise

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="validate a plant file or print its JSON Schema")
    cmds = parser.add_subparsers(dest="config_cmd", required=True, metavar="{check,schema}")
    check = cmds.add_parser("check", help="report every problem with file:line:column, or a summary")
    check.add_argument("file", help="plant YAML file")
    check.set_defaults(func=_check)
    schema = cmds.add_parser("schema", help="print the JSON Schema of the plant file (for editors)")
    schema.set_defaults(func=_schema)


def _check(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summarise(plant, display_path(plant.file)))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    schema = PlantConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "shopfloor plant configuration"
    print(json.dumps(schema, ensure_ascii=False, indent=2))
    return EXIT_OK
