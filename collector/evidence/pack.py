"""`build_pack`: the evidence pack (佐证材料包) of a plant over a window (docs/STANDARDS.md §8,
docs/EVIDENCE.md).

Read-only on the ledger and the store, so it runs beside a live collector. The pack is assembled in
a hidden temporary folder and renamed into place when complete: a failed build leaves no half pack.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.config import LoadedPlant
from collector.config.redact import config_hash
from collector.evidence import budget, manifest, reconcile, results, tables, window
from collector.evidence.figures import compute, indicators, oee_rows, window_oee_rows
from collector.evidence.manifest import dump_json
from collector.evidence.report.crosswalk import render_crosswalk
from collector.evidence.report.html import render_report
from collector.evidence.sources import Sources, gather
from collector.evidence.store_reader import StoreUnavailable, count_samples
from collector.evidence.summary import build_summary, generator
from collector.ledger import keys

log = logging.getLogger(__name__)

DEFAULT_MAX_RAW = 5_000_000
VERIFIER = Path(__file__).resolve().parent / "verify"


@dataclass(frozen=True)
class PackResult:
    path: Path
    zip_path: Path | None
    summary: dict[str, Any]


def build_pack(
    plant: LoadedPlant, from_ms: int, to_ms: int, out_dir: Path | None = None, *, make_zip: bool = True,
    max_raw_rows: int = DEFAULT_MAX_RAW,
) -> PackResult:  # fmt: skip
    """Build the pack under `out_dir` (default plant.evidence.dir) over the window cut to the ledger's
    span (window.bounded); StoreUnavailable if the store cannot be read, ValueError for an empty
    window (window.EmptyWindow when it holds nothing of the ledger), budget.WindowTooLarge (a
    ValueError) for one longer than window.MAX_DAYS or whose samples would not fit in memory."""
    if to_ms <= from_ms:
        raise ValueError("the window must end after it starts")
    cfg = plant.config
    from_ms, to_ms = window.bounded(
        plant.resolve(cfg.evidence.ledger_dir), from_ms, to_ms, int(time.time() * 1000)
    )
    budget.check(_count(plant, from_ms, to_ms), budget.available_bytes())
    key = keys.load_or_create(plant.resolve(cfg.evidence.signing_key_file))
    src = gather(plant, from_ms, to_ms)
    parent = out_dir if out_dir is not None else plant.resolve(cfg.evidence.dir)
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / pack_name(src, parent)
    work = parent / f".{final.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        summary = _write(src, work, key, max_raw_rows)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    zip_path = manifest.make_zip(final) if make_zip else None
    log.info("evidence pack %s: %d raw samples, %d ledger entries", final, len(src.samples), len(src.entries))
    return PackResult(final, zip_path, summary)


def _count(plant: LoadedPlant, from_ms: int, to_ms: int) -> int | None:
    cfg = plant.config
    try:
        return count_samples(cfg.storage, plant.base_dir, from_ms, to_ms, cfg.site.site)
    except StoreUnavailable as exc:
        if "maxSamplesPerQuery" in str(exc):  # VictoriaMetrics refuses to count past its limit
            return budget.TOO_MANY_TO_COUNT
        raise


def pack_name(src: Sources, parent: Path) -> str:
    """evidence_<enterprise>_<YYYYMMDD>-<YYYYMMDD>_v<n>: the next free version in `parent`."""
    site = src.plant.config.site
    code = site.enterprise_code or site.enterprise
    first = src.local(src.from_ms).strftime("%Y%m%d")
    last = src.local(src.to_ms - 1).strftime("%Y%m%d")
    stem = f"evidence_{code}_{first}-{last}"
    n = 1
    while (parent / f"{stem}_v{n}").exists() or (parent / f"{stem}_v{n}.zip").exists():
        n += 1
    return f"{stem}_v{n}"


def _write(src: Sources, pack: Path, key: Ed25519PrivateKey, max_raw_rows: int) -> dict[str, Any]:
    tables.write_device_register(src, pack)
    tables.write_data_points(src, pack)
    tables.write_calendar(src, pack)
    timeline = tables.write_state(src, pack)
    tables.write_counter_events(src, pack)
    tables.write_timesync(src, pack)
    tables.write_audit(src, pack)
    tables.write_config(src, pack)
    figures = compute(src, timeline)
    results.write_connectivity(src, pack, figures, indicators(src, figures))
    results.write_completeness(pack, figures)
    gaps = results.classify_gaps(src, figures)
    replays = reconcile.replays(src)
    results.write_gaps(src, pack, gaps, replays)
    results.write_reconciliation(pack, reconcile.by_day(src))
    oee = oee_rows(src) + window_oee_rows(src, timeline)
    results.write_oee(pack, oee)
    raw = results.write_raw(src, pack, max_raw_rows)
    generated = int(time.time() * 1000)
    summary = build_summary(
        src, figures, gaps=gaps, replays=replays, delivery=reconcile.by_device(src), oee=oee,
        timeline=timeline, raw=raw, key_id=keys.key_id(key), generated_ms=generated,
    )  # fmt: skip
    (pack / "summary.json").write_bytes(dump_json(summary))
    (pack / "README.html").write_text(render_report(summary), encoding="utf-8")
    crosswalk = pack / "14_crosswalk" / "指标对照表.md"
    crosswalk.parent.mkdir(parents=True, exist_ok=True)
    crosswalk.write_text(render_crosswalk(summary), encoding="utf-8")
    copy_verifier(pack)
    manifest.write_checkpoints(pack, key, src.entries, src.from_ms, src.to_ms)
    manifest.seal(pack, key, _header(src, generated))
    return summary


def copy_verifier(pack: Path) -> None:
    """verify/: the whole verifier package (stdlib and cryptography only), so the pack checks itself.
    Contents only (copyfile, not copytree): the modes of the installed package are not the pack's;
    its files get the process's umask like every other file of the pack."""
    for source in sorted(VERIFIER.rglob("*")):
        rel = source.relative_to(VERIFIER)
        if "__pycache__" in rel.parts or not source.is_file():
            continue
        target = pack / "verify" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _header(src: Sources, generated_ms: int) -> dict[str, Any]:
    site = src.plant.config.site
    return {
        "generator": generator(),
        "created_ms": generated_ms,
        "created": datetime.fromtimestamp(generated_ms / 1000, src.tz).isoformat(timespec="seconds"),
        "window": {"from_ms": src.from_ms, "to_ms": src.to_ms, "tz": site.timezone},
        "enterprise": site.enterprise_code or site.enterprise,
        "site": site.site,
        "config_hash": config_hash(src.plant.config),
    }
