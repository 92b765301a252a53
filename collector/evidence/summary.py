"""summary.json: the headline and per-device/per-day figures the report shows and the verifier
recomputes ("format": "shopfloor-evidence-summary/1", schema in docs/EVIDENCE.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collector import __version__
from collector.config.equipment import rows as register_rows
from collector.config.redact import config_hash
from collector.evidence import reconcile
from collector.evidence.figures import (
    AUTO_COLLECTION_THRESHOLD,
    DeviceFigures,
    OeeRow,
    auto_collection,
    indicators,
    plant_oee,
)
from collector.evidence.registers import PROTOCOL_NAMES
from collector.evidence.results import GapRow
from collector.evidence.sources import Sources
from collector.evidence.tables import online_basis
from collector.evidence.verify import formulas as f
from collector.evidence.verify import kpis

FORMAT = "shopfloor-evidence-summary/1"


def generator() -> str:
    return f"shopfloor {__version__}"


def build_summary(
    src: Sources, figures: list[DeviceFigures], *, gaps: list[GapRow], replays: list[reconcile.ReplayRow],
    delivery: dict[str, kpis.Delivery], oee: list[OeeRow], timeline: list[dict[str, Any]],
    raw: tuple[int, bool], key_id: str, generated_ms: int,
) -> dict[str, Any]:  # fmt: skip
    cfg = src.plant.config
    ind = indicators(src, figures)
    auto = auto_collection(figures)
    replayed, replayed_by_device = kpis.replay_volume((r.replay for r in replays), src.from_ms, src.to_ms)
    total = _delivery_total(delivery.values())
    all_tags = [t for d in figures for t in d.tags]
    samples = [s for d in figures for s in d.samples]
    online = f.online_total(d.online for d in figures)
    gap_total = f.gap_stats(g for d in figures for g in d.gaps)
    head = src.entries[-1] if src.entries else None
    return {
        "format": FORMAT,
        "enterprise": cfg.site.enterprise_code or cfg.site.enterprise,
        "enterprise_name_zh": cfg.site.enterprise_name_zh,
        "site": cfg.site.site,
        "tz": cfg.site.timezone,
        "window": {"from_ms": src.from_ms, "to_ms": src.to_ms},
        "generated_ms": generated_ms,
        "key_id": key_id,
        "config_hash": config_hash(cfg),
        "generator": generator(),
        "chain_head": {"seq": head["seq"], "hash": head["entry_hash"]} if head else None,
        "anchor": src.anchor,
        "network_rule": {
            "min_coverage": cfg.evidence.verified_min_coverage,
            "min_days": cfg.evidence.verified_min_days,
        },
        "auto_collection_threshold": AUTO_COLLECTION_THRESHOLD,
        "calendar_missing": src.calendar.missing,  # the whole window counted as scheduled (PBT)
        "headline": {
            **ind.headline(),
            "auto_collection_rate": auto.rate,
            "auto_points": auto.effective,
            "required_points": auto.required,
            "completeness": f.completeness(all_tags),
            "online_rate": online.rate,
            "good_ratio": f.good_ratio(samples),
            "gaps": gap_total.count,
            "gap_s": gap_total.total_s,
            "replayed": replayed,
            "published": total.published,
            "landed": total.landed,
            "delivery_ratio": total.ratio,
            "oee": plant_oee(oee),
        },
        "devices": [
            _device(src, d, delivery.get(d.device), replayed_by_device.get(d.device, 0)) for d in figures
        ],
        "days": [
            {
                "date": day.day.date,
                "device": d.device,
                "online_rate": day.online.rate,
                "completeness": day.completeness,
            }
            for d in figures
            for day in d.days
        ],
        "timeline": timeline,
        "oee": [
            {
                "device": r.device,
                "period": r.period,
                "label": r.label,
                "a": r.a,
                "e": r.e,
                "qr": r.qr,
                "oee": r.oee,
            }
            for r in oee
        ],
        "gaps": [
            {
                "device": g.gap.device,
                "start_ms": g.gap.start_ms,
                "end_ms": g.gap.end_ms,
                "duration_s": g.gap.duration_ms / 1000,
                "cause": g.cause,
            }
            for g in gaps
        ],
        "replays": [
            {
                "sink": r.replay.sink,
                "started_ms": r.replay.started_ms,
                "ended_ms": r.replay.ended_ms,
                "records": r.replay.records,
                "by_device": dict(r.replay.by_device),
                "outage_start_ms": r.outage.start_ms if r.outage else None,
                "outage_end_ms": r.outage.end_ms if r.outage else None,
            }
            for r in replays
        ],
        "business_links": _links(src, figures),
        "raw": {"truncated": raw[1], "rows": raw[0]},
    }


def _delivery_total(rows: Iterable[kpis.Delivery]) -> kpis.Delivery:
    published = landed = unexpected = 0
    missing: list[kpis.SeqRange] = []
    for r in rows:
        published += r.published
        landed += r.landed
        unexpected += r.unexpected
        missing += r.missing
    return kpis.Delivery("", published, landed, tuple(missing), unexpected)


def _device(src: Sources, d: DeviceFigures, delivery: kpis.Delivery | None, replayed: int) -> dict[str, Any]:
    dev = next(x for x in src.plant.config.devices if x.id == d.device)
    stats = d.stats
    return {
        "id": d.device,
        "name_zh": dev.name_zh or dev.name,
        "type": next(
            (r.type for r in register_rows(src.plant.config) if r.networked_via == dev.id and r.type),
            dev.asset.type,
        ),  # the type of the equipment it reads, as the register states it
        "protocol": PROTOCOL_NAMES.get(dev.protocol, dev.protocol),
        "first_seen_ms": d.first_seen_ms,
        "last_seen_ms": d.last_seen_ms,
        "samples": len(d.samples),
        "state_coverage": d.coverage,
        "online_rate": d.online.rate,
        "completeness": d.completeness,
        "good_ratio": d.good_ratio,
        "gaps": stats.count,
        "gap_s": stats.total_s,
        "longest_gap_s": stats.longest_s,
        "replayed": replayed,
        "published": delivery.published if delivery else 0,
        "landed": delivery.landed if delivery else 0,
        "missing_seq_ranges": kpis.format_ranges(delivery.missing) if delivery else "",
        "delivery_ratio": delivery.ratio if delivery else None,
        "latency_p50_ms": d.latency_p50_ms,
        "latency_p95_ms": d.latency_p95_ms,
        "days_with_data": d.network.days_with_data,
        "scheduled_days": d.network.scheduled_days,
        "verified": d.network.verified,
        "online_basis": online_basis(dev),
    }


def _links(src: Sources, figures: list[DeviceFigures]) -> list[dict[str, Any]]:
    """A business link is claimed when at least one required tag in it reaches 95 % completeness."""
    link_of = {(p.device, p.tag): p.business_link for p in src.points if p.business_link}
    links: dict[str, bool] = {}
    for d in figures:
        for spec, t in zip(d.specs, d.tags, strict=True):
            link = link_of.get((d.device, t.tag))
            if link is None:
                continue
            ok = spec.required and t.completeness is not None and t.completeness >= 0.95
            links[link] = links.get(link, False) or ok
    return [{"link": k, "verified": v} for k, v in sorted(links.items())]
