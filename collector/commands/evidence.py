"""`shopfloor evidence build|verify`: the signed evidence pack (佐证材料包) and its offline check."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_or_report

_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("evidence", help="build or verify a signed evidence pack (佐证材料包)")
    actions = parser.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build a pack over a window from the ledger and the store")
    build.add_argument("-c", "--config", required=True, help="plant YAML file")
    build.add_argument(
        "--from",
        dest="from_",
        default="-24h",
        help="ISO time (site zone if no offset), or an age: --from=-24h / --from 7d (default 24h ago)",
    )
    build.add_argument("--to", default="now", help="ISO time, 'now' (default), or an age like --to=-1h")
    build.add_argument("--out", default=None, help="parent folder of the pack (default evidence.dir)")
    build.add_argument("--no-zip", action="store_true", help="leave out the .zip copy")
    build.add_argument("--max-raw", type=int, default=None, help="cap on raw sample rows (marked truncated)")
    build.set_defaults(func=_build)
    verify = actions.add_parser("verify", help="check a pack: hashes, signature, chain, recomputed figures")
    verify.add_argument("pack", help="pack folder")
    verify.add_argument("--trusted-key", default=None, help="PUB.pem or key id the pack must be signed by")
    verify.set_defaults(func=_verify)


def parse_time(text: str, tz: ZoneInfo, now_ms: int) -> int:
    """'now', an age ('-24h' or '24h': that long before now), or ISO 8601 (the site's zone when the
    text has no offset). argparse takes '--from -24h' for an option, hence '--from=-24h' or '24h'."""
    text = text.strip()
    if text == "now":
        return now_ms
    rel = _RELATIVE.match(text)
    if rel:
        return now_ms - round(float(rel.group(1)) * _UNIT_S[rel.group(2)] * 1000)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return round(when.timestamp() * 1000)


def _build(args: argparse.Namespace) -> int:
    from collector.evidence.pack import DEFAULT_MAX_RAW, build_pack
    from collector.evidence.store_reader import StoreUnavailable

    plant = load_or_report(args.config)
    if plant is None:
        return EXIT_BAD_INPUT
    tz = ZoneInfo(plant.config.site.timezone)
    now_ms = int(time.time() * 1000)
    try:
        from_ms = parse_time(args.from_, tz, now_ms)
        to_ms = parse_time(args.to, tz, now_ms)
    except ValueError as exc:
        print(
            f"evidence build: bad --from/--to: {exc} (use ISO 8601, 'now', or an age like --from=-24h)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if to_ms <= from_ms:
        print("evidence build: --to must be after --from", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_raw is not None and args.max_raw < 0:
        print("evidence build: --max-raw must be >= 0", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out) if args.out else None
    max_raw = DEFAULT_MAX_RAW if args.max_raw is None else args.max_raw
    try:
        result = build_pack(plant, from_ms, to_ms, out, make_zip=not args.no_zip, max_raw_rows=max_raw)
    except StoreUnavailable as exc:
        print(f"evidence build: cannot read the time-series store {exc.store}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.path)
    if result.zip_path is not None:
        print(result.zip_path)
    for line in headline_lines(result.summary):
        print(line)
    return EXIT_OK


def headline_lines(summary: dict[str, object]) -> list[str]:
    head = summary.get("headline")
    if not isinstance(head, dict):
        return []
    shown = [
        ("networked_rate_verified", "设备联网率(核验) networked rate (verified)"),
        ("completeness", "采集完整率 completeness"),
        ("online_rate", "设备在线率 online rate"),
        ("gaps", "断点次数 gaps"),
        ("replayed", "断网续传 replayed"),
        ("delivery_ratio", "端到端入库率 delivery ratio"),
        ("oee", "设备综合效率 OEE"),
    ]
    return [f"  {label}: {_fmt(head.get(key))}" for key, label in shown]


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _verify(args: argparse.Namespace) -> int:
    from collector.evidence import verify

    argv = [args.pack] + (["--trusted-key", args.trusted_key] if args.trusted_key else [])
    return int(verify.main(argv))
