"""`shopfloor browse opc.tcp://host:port`: walk an OPC UA server and print device YAML for it.

Connects without security and anonymously (commissioning on the machine network); the output is a
starting point to paste under `devices:` - review names and drop what you do not need.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from urllib.parse import urlparse

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("browse", help="walk an OPC UA server and print device YAML for its variables")
    parser.add_argument("endpoint", help="opc.tcp://host:port[/path]")
    parser.add_argument(
        "--path", default="", help="start below Objects at this browse path, e.g. Machines/cnc-01"
    )
    parser.add_argument("--depth", type=int, default=6, help="how many object levels to descend (default 6)")
    parser.add_argument(
        "--id",
        dest="device_id",
        help="device id for the YAML (default: the object the variables share, else the host name)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")
    parser.set_defaults(func=_browse)


def _browse(args: argparse.Namespace) -> int:
    if not re.match(r"^opc\.tcp://[^\s]+$", args.endpoint):
        print(f"browse: {args.endpoint!r} is not an opc.tcp:// endpoint", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        text = asyncio.run(_run(args))
    except LookupError as exc:
        print(f"browse: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, TimeoutError) as exc:
        print(f"browse: cannot reach {args.endpoint}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    sys.stdout.write(text)
    return EXIT_OK


async def _run(args: argparse.Namespace) -> str:
    from asyncua.client.client import Client

    from drivers.opcua import browse

    client = Client(args.endpoint, timeout=args.timeout)
    async with asyncio.timeout(args.timeout * 3):
        await client.connect()
    try:
        namespaces = [str(u) for u in await client.get_namespace_array()]
        start, trail = await browse.find_start(client, args.path)
        found = await browse.walk(client, start, trail, max(1, args.depth))
        variables = found.variables
    finally:
        await client.disconnect()
    shared = variables[0].path[: browse.common_depth(variables)] if variables else trail
    device_id = args.device_id or _default_id(args.endpoint, shared)
    header = f"# shopfloor browse {args.endpoint} --path {args.path!r}: {len(variables)} variables\n"
    header += "".join(f"# left out: {why}\n" for why in found.skipped)
    return header + browse.render(args.endpoint, device_id, variables, namespaces, len(trail))


def _default_id(endpoint: str, trail: list[tuple[int, str]]) -> str:
    from drivers.opcua.browse import tag_id

    if trail:
        return tag_id([trail[-1][1]])
    return tag_id([urlparse(endpoint).hostname or "opcua-device"])
