"""`shopfloor evidence build|verify|key`: the signed evidence pack (佐证材料包), its offline check, and
the public key an evaluator pins the check to (obtained out of band, e.g. on the handover sheet)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collector.commands.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, report_problems
from collector.config import ConfigError, load_plant
from collector.evidence.window import EmptyWindow, parse_time


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
    build.add_argument(
        "--json",
        action="store_true",
        help="one JSON object on stdout: the pack and what the build cost, or the error "
        "(the status page's builds run this way, in a child process)",
    )
    build.set_defaults(func=_build)
    verify = actions.add_parser("verify", help="check a pack: hashes, signature, chain, recomputed figures")
    verify.add_argument("pack", help="pack folder")
    pin = verify.add_mutually_exclusive_group()
    pin.add_argument(
        "--trusted-key",
        default=None,
        help="the plant's public key the pack must be signed by: PUB.pem or its sha256: fingerprint "
        "(without one the verdict says the signer is not pinned, exit 3)",
    )
    pin.add_argument(
        "-c", "--config", default=None, help="pin to the signing key of this plant (on its host)"
    )
    verify.set_defaults(func=_verify)
    key = actions.add_parser(
        "key", help="print the plant's evidence public key and its fingerprint, for the handover sheet"
    )
    key.add_argument("-c", "--config", required=True, help="plant YAML file")
    key.set_defaults(func=_key)


def _build(args: argparse.Namespace) -> int:
    code, outcome = build_outcome(args)
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False))
    elif code != EXIT_OK:
        if outcome["error"] != "bad_config":  # already on stderr, located
            print(f"evidence build: {outcome['message']}", file=sys.stderr)
    else:
        print(outcome["path"])
        if outcome["zip"] is not None:
            print(outcome["zip"])
        built, asked = outcome["window"] or {}, outcome["requested"]
        if built.get("from_ms") != asked["from_ms"] or built.get("to_ms") != asked["to_ms"]:
            print(f"  window cut to the ledger's span and now: {_iso(built.get('from_ms'))} – "
                  f"{_iso(built.get('to_ms'))}")  # fmt: skip
        for line in headline_lines(outcome):
            print(line)
    return code


def build_outcome(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """(exit code, outcome): the pack and the build's own cost, or {"error": kind, "message": text}."""
    from collector.evidence.budget import WindowTooLarge
    from collector.evidence.pack import DEFAULT_MAX_RAW, build_pack
    from collector.evidence.store_reader import StoreUnavailable

    try:
        plant = load_plant(args.config)
    except ConfigError as exc:
        report_problems(exc)  # located, on stderr, as every command reports them
        return EXIT_BAD_INPUT, {"error": "bad_config", "message": str(exc)}
    tz = ZoneInfo(plant.config.site.timezone)
    now_ms = int(time.time() * 1000)
    try:
        from_ms = parse_time(args.from_, tz, now_ms)
        to_ms = parse_time(args.to, tz, now_ms)
    except ValueError as exc:
        hint = "use ISO 8601, 'now', or an age like --from=-24h"
        return EXIT_BAD_INPUT, {"error": "bad_window", "message": f"bad --from/--to: {exc} ({hint})"}
    if to_ms <= from_ms:
        return EXIT_BAD_INPUT, {"error": "bad_window", "message": "--to must be after --from"}
    if args.max_raw is not None and args.max_raw < 0:
        return EXIT_BAD_INPUT, {"error": "bad_argument", "message": "--max-raw must be >= 0"}
    out = Path(args.out) if args.out else None
    max_raw = DEFAULT_MAX_RAW if args.max_raw is None else args.max_raw
    try:
        result = build_pack(plant, from_ms, to_ms, out, make_zip=not args.no_zip, max_raw_rows=max_raw)
    except WindowTooLarge as exc:
        return EXIT_BAD_INPUT, {"error": "window_too_large", "message": str(exc)}
    except EmptyWindow as exc:
        return EXIT_BAD_INPUT, {"error": "bad_window", "message": str(exc)}
    except StoreUnavailable as exc:
        message = f"cannot read the time-series store {exc.store}: {exc}"
        return EXIT_FAILURE, {"error": "store_unavailable", "message": message}
    return EXIT_OK, {
        "path": str(result.path),
        "zip": str(result.zip_path) if result.zip_path is not None else None,
        "window": result.summary.get("window"),  # as built: cut to the ledger's span
        "requested": {"from_ms": from_ms, "to_ms": to_ms},
        "headline": result.summary.get("headline"),
        "raw": result.summary.get("raw"),
        "build": own_cost(),
    }


def own_cost() -> dict[str, Any]:
    """What the build cost this process, for an operator sizing windows (peak RSS: not on Windows)."""
    try:
        import resource
    except ImportError:
        peak = None
    else:
        peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    return {"pid": os.getpid(), "cpu_s": round(time.process_time(), 2), "peak_rss_mib": peak}


def headline_lines(summary: dict[str, Any]) -> list[str]:
    """The headline figures of a summary.json (or of a --json outcome, which carries its headline)."""
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


def _iso(ms: object) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if isinstance(ms, int) else "?"
    )


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _verify(args: argparse.Namespace) -> int:
    from collector.evidence.verify import verifier as verify

    trusted = args.trusted_key
    if args.config is not None:
        public = _public_key_file(args.config)
        if isinstance(public, int):
            return public
        trusted = str(public)
    argv = [args.pack] + (["--trusted-key", trusted] if trusted else [])
    return int(verify.main(argv))


def _public_key_file(config: str) -> Path | int:
    """The plant's exported public key file, or the exit code after saying why there is none."""
    from collector.ledger.keys import public_pem_path

    try:
        plant = load_plant(config)
    except ConfigError as exc:
        report_problems(exc)
        return EXIT_BAD_INPUT
    path = public_pem_path(plant.resolve(plant.config.evidence.signing_key_file))
    if not path.is_file():
        print(f"no evidence key yet ({path}): the collector creates it when it first starts", file=sys.stderr)
        return EXIT_FAILURE
    return path


def _key(args: argparse.Namespace) -> int:
    """What an evaluator needs to pin `evidence verify` to this plant: printed at commissioning and
    written on the signed handover sheet (交接单), or sent as the .pub.pem file by a trusted channel."""
    from collector.evidence.verify.integrity import public_key_fingerprint
    from collector.ledger.chain import key_id_from_public_pem

    path = _public_key_file(args.config)
    if isinstance(path, int):
        return path
    pem = path.read_bytes()
    print(f"证据签名公钥 evidence signing key: {path}")
    print(f"  key id (in every pack)  {key_id_from_public_pem(pem)}")
    print(f"  fingerprint (whole key) {public_key_fingerprint(pem)}")
    print(pem.decode("ascii").rstrip())
    print(
        "Give the evaluator this key by a channel the pack does not travel on (the signed handover "
        "sheet, in person); they verify with --trusted-key sha256:… or --trusted-key FILE.pub.pem.",
    )
    return EXIT_OK
