"""End-to-end delivery (入库对账) and replays (断网续传) from the ledger, checked against the store.

Published = the per-device seq ranges of the excerpt's RAW_BATCH entries inside the window;
landed = the (device, session, seq) of the raw samples the store query-back returned. The formulas
are kpis.py's (the verifier runs the same); this module only splits them by day and pairs each
REPLAY entry with the sink outage (BROKER_DISCONNECT → BROKER_CONNECT) it ended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from collector.evidence.sources import Sources
from collector.evidence.verify import kpis


@dataclass(frozen=True)
class DayDelivery:
    date: str
    device: str
    acked: int  # the store-side sink's far side took them (a broker PUBACK, or the store's answer)
    confirmed: int  # the store holds them (its answer, or a historian's confirmation)
    delivery: kpis.Delivery


@dataclass(frozen=True)
class Outage:
    sink: str
    start_ms: int
    end_ms: int | None


@dataclass(frozen=True)
class ReplayRow:
    replay: kpis.Replay
    outage: Outage | None


def batches(src: Sources) -> list[kpis.RawBatch]:
    """The RAW_BATCH parts of the excerpt whose [from, to) lies inside the window (kpis.batches_inside),
    as the in-pack verifier counts them (recompute.py, tablecheck.py)."""
    out: list[kpis.RawBatch] = []
    for entry in src.of_type("RAW_BATCH"):
        out += kpis.raw_batches(entry["payload"])
    return kpis.batches_inside(out, src.from_ms, src.to_ms)


def landed(src: Sources) -> list[tuple[str, int, int]]:
    return [(s.device, s.session, s.seq) for s in src.samples]


def by_device(src: Sources) -> dict[str, kpis.Delivery]:
    return kpis.reconcile(batches(src), landed(src))


def _sink_counts(src: Sources) -> dict[tuple[str, str], tuple[int, int]]:
    """(device, date) → (acked, confirmed) of the store-side sink (SINK_BATCH deltas, kpis.sink_counts)."""
    payloads = [e["payload"] for e in src.of_type("SINK_BATCH")]
    return kpis.sink_counts(payloads, src.from_ms, src.to_ms, lambda ms: src.local(ms).date().isoformat())


def by_day(src: Sources) -> list[DayDelivery]:
    """入库对账 rows: per local date (of the batch start) and device, in date then register order."""
    days: dict[str, list[kpis.RawBatch]] = defaultdict(list)
    for b in batches(src):
        days[src.local(b.from_ms).date().isoformat()].append(b)
    counts = _sink_counts(src)
    order = {d: i for i, d in enumerate(src.device_ids)}
    rows: list[DayDelivery] = []
    triples = landed(src)
    for date in sorted(days):
        result = kpis.reconcile(days[date], triples)
        for device in sorted((d for d in result if result[d].published), key=lambda d: order.get(d, 1 << 30)):
            acked, confirmed = counts.get((device, date), (0, 0))
            rows.append(DayDelivery(date, device, acked, confirmed, result[device]))
    return rows


def outages(src: Sources) -> list[Outage]:
    """Sink outages: a BROKER_DISCONNECT until the next BROKER_CONNECT of the same sink."""
    open_: dict[str, int] = {}
    out: list[Outage] = []
    for e in src.of_type("BROKER_DISCONNECT", "BROKER_CONNECT"):
        sink = str(e["payload"].get("sink", ""))
        if e["type"] == "BROKER_DISCONNECT":
            open_.setdefault(sink, int(e["ts"]))
        elif sink in open_:
            out.append(Outage(sink, open_.pop(sink), int(e["ts"])))
    out += [Outage(sink, start, None) for sink, start in open_.items()]
    return sorted(out, key=lambda o: o.start_ms)


def replays(src: Sources) -> list[ReplayRow]:
    """REPLAY entries that ended inside the window, each with the outage of its sink before it."""
    spans = outages(src)
    out = []
    for e in src.of_type("REPLAY"):
        r = kpis.replay_from(e["payload"])
        if not src.from_ms <= r.ended_ms < src.to_ms:
            continue
        before = [o for o in spans if o.sink == r.sink and o.start_ms <= r.started_ms]
        out.append(ReplayRow(r, before[-1] if before else None))
    return out


def replay_volume(src: Sources) -> tuple[int, dict[str, int]]:
    return kpis.replay_volume((row.replay for row in replays(src)), src.from_ms, src.to_ms)


def device_outages(src: Sources, device: str) -> list[tuple[int, int | None]]:
    """DEVICE_DISCONNECT → DEVICE_CONNECT spans of one device (the cause of a gap)."""
    start: int | None = None
    out: list[tuple[int, int | None]] = []
    for e in src.of_type("DEVICE_DISCONNECT", "DEVICE_CONNECT"):
        if e["payload"].get("device") != device:
            continue
        if e["type"] == "DEVICE_DISCONNECT" and start is None:
            start = int(e["ts"])
        elif e["type"] == "DEVICE_CONNECT" and start is not None:
            out.append((start, int(e["ts"])))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def overlaps(spans: Iterable[tuple[int, int | None]], lo: int, hi: int) -> bool:
    return any(s < hi and (e is None or e > lo) for s, e in spans)
