"""The end of a run: what the outboxes and the store hold, then the evidence pack, built and verified.

The pack builder (collector.evidence.pack) and verifier (collector.evidence.verify) are imported
when needed, so a checkout without them still runs the demo and says what is missing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.config import load_plant


@dataclass
class PackOutcome:
    path: Path | None = None
    zip_path: Path | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    oee_rows: list[dict[str, Any]] = field(default_factory=list)  # summary.json "oee": per device and period
    verified: bool = False
    report: str = ""
    error: str | None = None


def outbox_counters(data_dir: Path, sink: str) -> dict[tuple[str, str], int]:
    """{(device, accepted|acked|replayed|dropped): points} of one sink's outbox, read-only."""
    path = data_dir / "outbox" / f"{sink}.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return {(d, n): int(v) for d, n, v in db.execute("SELECT device, name, value FROM counters")}
    finally:
        db.close()


def landed_points(plant_path: Path, from_ms: int, to_ms: int) -> int:
    """Distinct readings (device, session, seq) in the store over the window."""
    from collector.evidence.store_reader import read_samples

    plant = load_plant(plant_path)
    rows = read_samples(plant.config.storage, plant.base_dir, from_ms, to_ms)
    return len({(r.device, r.session, r.seq) for r in rows})


def build_and_verify(plant_path: Path, from_ms: int, to_ms: int) -> PackOutcome:
    try:
        from collector.evidence.pack import build_pack
        from collector.evidence.verify.verifier import render, verify_pack
    except ImportError as exc:
        return PackOutcome(error=f"the evidence pack is not available in this checkout ({exc})")
    plant = load_plant(plant_path)
    try:
        result = build_pack(plant, from_ms, to_ms, out_dir=None, make_zip=True)
    except Exception as exc:  # report it with the run's other results rather than a traceback
        return PackOutcome(error=f"building the evidence pack failed: {type(exc).__name__}: {exc}")
    outcome = PackOutcome(path=result.path, zip_path=result.zip_path)
    outcome.headline = dict(result.summary.get("headline") or {})
    outcome.oee_rows = [r for r in result.summary.get("oee") or [] if isinstance(r, dict)]
    from collector.ledger.keys import public_pem_path

    # pinned to the key this run signed with: the demo is its own plant and evaluator
    trusted = public_pem_path(plant.resolve(plant.config.evidence.signing_key_file))
    try:
        report = verify_pack(result.path, str(trusted))
    except Exception as exc:
        outcome.error = f"verifying the evidence pack failed: {type(exc).__name__}: {exc}"
        return outcome
    outcome.report = render(report)
    outcome.verified = report.ok and report.pinned
    return outcome


def _rate(value: object) -> str:
    return f"{100 * float(value):.1f}%" if isinstance(value, int | float) else "n/a"


def headline_lines(headline: dict[str, Any], oee_rows: list[dict[str, Any]]) -> list[str]:
    """设备联网率, completeness and OEE as the pack states them."""
    total = headline.get("devices_total")
    verified = headline.get("verified_networked")
    count = (
        f" ({verified}/{total} production equipment)" if total is not None and verified is not None else ""
    )
    lines = [
        f"设备联网率 (networked rate, verified): {_rate(headline.get('networked_rate_verified'))}{count}",
        f"采集完整率 (completeness): {_rate(headline.get('completeness'))}",
    ]
    lines.append(_oee_headline(headline.get("oee"), oee_rows))
    shifts = [r for r in oee_rows if r.get("period") == "shift" and r.get("oee") is not None]
    for label in dict.fromkeys(r.get("label") for r in shifts):  # one line per shift, in order
        per = ", ".join(f"{r.get('device')} {_rate(r.get('oee'))}" for r in shifts if r.get("label") == label)
        lines.append(f"OEE by shift ({label}): {per}")
    return lines


def _oee_headline(oee: object, oee_rows: list[dict[str, Any]]) -> str:
    """The headline OEE aggregates the day rows, or the pack-window rows when no day closed
    (collector.evidence.figures.plant_oee): say which."""
    periods = {r.get("period") for r in oee_rows}
    if "day" in periods:
        basis = "whole days"
    elif "window" in periods:
        basis = "pack window, no calendar day closed during the run"
    else:
        return "OEE (headline): n/a, no OEE rows in the pack"
    if oee is None:
        return f"OEE (headline, {basis}): n/a"
    return f"OEE (headline, {basis}): {_rate(oee)}"


def ledger_entries(ledger_dir: Path, from_ms: int, to_ms: int, kind: str) -> list[dict[str, Any]]:
    """Entries of one type with from_ms <= ts <= to_ms, read straight from the JSON lines."""
    import json

    out = []
    for path in sorted(ledger_dir.glob("audit-*.jsonl")):
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # a torn last line after SIGKILL
                if entry.get("type") == kind and from_ms <= int(entry.get("ts", 0)) <= to_ms:
                    out.append(entry)
    return out


def produced_readings(ledger_dir: Path, from_ms: int, to_ms: int) -> int:
    """Readings handed to delivery, as the ledger's RAW_BATCH entries state them."""
    total = 0
    for entry in ledger_entries(ledger_dir, from_ms, to_ms, "RAW_BATCH"):
        for dev in (entry.get("payload") or {}).get("devices", {}).values():
            total += int(dev.get("count", 0))
    return total
