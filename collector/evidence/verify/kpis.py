"""Delivery reconciliation, replay, latency and OEE (docs/STANDARDS.md §7.9, §3.6); the plant indicators
(docs/STANDARDS.md §7.2–§7.4) live in indicators.py.

STDLIB ONLY: copied into every pack as ``verify/kpis.py`` beside ``formulas.py`` and ``indicators.py``.

- Delivery: published = the seq ranges of RAW_BATCH ledger entries whose [from, to) lies inside the
  window (batches_inside), per (device, session); landed = the (device, session, seq) of the pack's
  raw samples. ratio = |landed ∩ published| / |published|; landed seqs no batch announced (those of
  a batch that began before the window) are counted apart. A batch's readings are stamped within
  its [from, to] and its entry's ts is its `to`, which the chain excerpt keeps only before the
  window end, so every reading of a counted batch lies inside the window: the ratio is exact.
- Latency percentiles are nearest-rank: the value at rank ⌈p/100 · n⌉ of the sorted list.
- OEE follows ISO 22400-2: A = APT/PBT, E = PRI·PQ/APT, QR = GQ/PQ, OEE = A·E·QR; a ratio with a
  zero denominator is None, never 100 %.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .formulas import PlanSegment, SampleLike, Span, StateSpan, ratio
from .vendor import kpimodel

# --- delivery reconciliation --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawBatch:
    """One device's part of a RAW_BATCH entry: seqs seq_first..seq_last (inclusive) minus holes."""

    device: str
    session: int
    from_ms: int
    to_ms: int
    seq_first: int
    seq_last: int
    holes: tuple[Span, ...] = ()  # inclusive (first, last) pairs the batch states as never produced

    def ranges(self) -> list[Span]:
        """Published seqs as inclusive ranges."""
        out: list[Span] = []
        cursor = self.seq_first
        for lo, hi in sorted(self.holes):
            if lo > cursor:
                out.append((cursor, min(lo - 1, self.seq_last)))
            cursor = max(cursor, hi + 1)
        if cursor <= self.seq_last:
            out.append((cursor, self.seq_last))
        return out


def raw_batches(payload: Mapping[str, Any]) -> list[RawBatch]:
    """The per-device parts of one RAW_BATCH payload (devices with no seq range are skipped)."""
    out: list[RawBatch] = []
    for device, part in sorted(dict(payload.get("devices") or {}).items()):
        first, last = part.get("seq_first"), part.get("seq_last")
        if not isinstance(first, int) or not isinstance(last, int) or last < first:
            continue
        holes = _holes(part.get("holes"))
        out.append(
            RawBatch(
                str(device),
                int(payload["session"]),
                int(payload["from"]),
                int(payload["to"]),
                first,
                last,
                holes,
            )
        )
    return out


def _holes(value: object) -> tuple[Span, ...]:
    """The batch's "holes": inclusive [first, last] seq ranges never handed to delivery. An older
    ledger wrote only their count (an int): without ranges those seqs stay published (missing)."""
    if not isinstance(value, list):
        return ()
    return tuple((int(h[0]), int(h[1])) for h in value if isinstance(h, list | tuple) and len(h) == 2)


@dataclass(frozen=True, slots=True)
class SeqRange:
    session: int
    first: int
    last: int  # inclusive

    @property
    def text(self) -> str:
        seqs = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.session}:{seqs}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """入库对账 of one device: published, landed (of those), missing ranges, landed-but-unannounced."""

    device: str
    published: int
    landed: int
    missing: tuple[SeqRange, ...]
    unexpected: int

    @property
    def ratio(self) -> float | None:
        """端到端入库率 = landed / published (None when nothing was published)."""
        return ratio(self.landed, self.published)


def format_ranges(ranges: Iterable[SeqRange]) -> str:
    """The missing_seq_ranges cell: "session:first-last" joined by ";" ("" when none)."""
    return ";".join(r.text for r in ranges)


def batches_inside(batches: Iterable[RawBatch], start: int, end: int) -> list[RawBatch]:
    """Batches whose [from, to) lies inside [start, end): a batch that began before the window is
    only partly in the pack, so builder and verifier both leave it out (its readings inside the
    window count as `unexpected`, not as missing)."""
    return [b for b in batches if b.from_ms >= start and b.to_ms <= end]


def _merged_inclusive(ranges: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def reconcile(batches: Iterable[RawBatch], landed: Iterable[tuple[str, int, int]]) -> dict[str, Delivery]:
    """Published vs landed per device from (device, session, seq) triples (duplicates count once)."""
    published: dict[tuple[str, int], list[Span]] = defaultdict(list)
    for b in batches:
        published[(b.device, b.session)] += b.ranges()
    seen: dict[tuple[str, int], set[int]] = defaultdict(set)
    for device, session, seq in landed:
        seen[(device, session)].add(seq)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    missing: dict[str, list[SeqRange]] = defaultdict(list)
    for key in sorted(set(published) | set(seen)):
        device, session = key
        ranges = _merged_inclusive(published.get(key, []))
        seqs = sorted(seen.get(key, set()))
        inside = 0
        for lo, hi in ranges:
            got = seqs[bisect_left(seqs, lo) : bisect_right(seqs, hi)]
            inside += len(got)
            edges = [lo - 1, *got, hi + 1]
            missing[device] += [SeqRange(session, a + 1, b - 1) for a, b in pairwise(edges) if b - a > 1]
        total = totals[device]
        total[0] += sum(hi - lo + 1 for lo, hi in ranges)
        total[1] += inside
        total[2] += len(seqs) - inside
    return {d: Delivery(d, t[0], t[1], tuple(missing[d]), t[2]) for d, t in sorted(totals.items())}


def sink_counts(
    sink_batches: Iterable[Mapping[str, Any]], from_ms: int, to_ms: int, date_of: Callable[[int], str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """入库对账's acked and confirmed columns from SINK_BATCH payloads whose `from` lies in [from_ms,
    to_ms): (device, date_of(from)) → (acked, confirmed) points of the sink that feeds the store —
    `store` when the collector writes the store itself, else `mqtt`, whose records a historian
    confirms once the store holds them (zero confirmed: the broker's PUBACK was all it had)."""
    batches = list(sink_batches)
    sink = "store" if any(p.get("sink") == "store" for p in batches) else "mqtt"
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for p in batches:
        if p.get("sink") != sink or p.get("from") is None:
            continue
        start = int(p["from"])
        if not from_ms <= start < to_ms:
            continue
        date = date_of(start)
        for device, d in (p.get("devices") or {}).items():
            acked, confirmed = out.get((str(device), date), (0, 0))
            out[(str(device), date)] = (
                acked + int(d.get("acked", 0)),
                confirmed + int(d.get("confirmed", 0)),
            )
    return out


# --- replay and latency --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replay:
    """One REPLAY entry: a sink's backlog sent after an outage."""

    sink: str
    started_ms: int
    ended_ms: int
    records: int
    by_device: tuple[tuple[str, int], ...]


def replay_from(payload: Mapping[str, Any]) -> Replay:
    by_device = tuple(sorted((str(d), int(n)) for d, n in dict(payload.get("by_device") or {}).items()))
    return Replay(
        str(payload["sink"]),
        int(payload["started"]),
        int(payload["ended"]),
        int(payload["records"]),
        by_device,
    )


def replay_volume(replays: Iterable[Replay], start: int, end: int) -> tuple[int, dict[str, int]]:
    """断网续传量: records of replays that ended inside [start, end), in total and per device."""
    total = 0
    per_device: dict[str, int] = defaultdict(int)
    for r in replays:
        if start <= r.ended_ms < end:
            total += r.records
            for device, n in r.by_device:
                per_device[device] += n
    return total, dict(per_device)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ⌈p/100 · n⌉ (1-based) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latencies(samples: Iterable[SampleLike]) -> list[int]:
    """Receive − source time of good samples that carry a source timestamp (ms)."""
    return [s.ts_ms - s.source_ts_ms for s in samples if s.good and s.source_ts_ms is not None]


# --- OEE (ISO 22400-2) ------------------------------------------------------------------------------

TimeElements = kpimodel.TimeElements
ideal_time = kpimodel.ideal_time


def time_elements(
    states: Iterable[StateSpan], segments: Iterable[PlanSegment], device: str, start: int, end: int
) -> TimeElements:
    """Time elements of `device` in [start, end) from the state timeline and the planned segments,
    by the rules the collector's KPI tracker applies (vendor/kpimodel.py)."""
    tally = kpimodel.TimeTally(
        (max(g.start_ms, start), min(g.end_ms, end), g.kind)
        for g in segments
        if g.applies_to(device) and g.end_ms > start and g.start_ms < end
    )
    for s in states:
        if s.device == device and s.end_ms > start and s.start_ms < end:
            tally.add(s.start_ms, s.end_ms, s.bucket)
    return tally.elements()


@dataclass(frozen=True, slots=True)
class Oee:
    a: float | None
    e: float | None
    qr: float | None
    oee: float | None


def oee(apt_s: float, pbt_s: float, ideal_s: float | None, pq: int, gq: int) -> Oee:
    """A = APT/PBT, E = PRI·PQ/APT, QR = GQ/PQ, OEE = A·E·QR (each None on a zero denominator)."""
    a, e, q = ratio(apt_s, pbt_s), ratio(ideal_s, apt_s), ratio(gq, pq)
    product = None if a is None or e is None or q is None else a * e * q
    return Oee(a, e, q, product)


@dataclass(frozen=True, slots=True)
class OeeInputs:
    """What one OEE window is computed from: PBT, APT (s), Σ PRI·PQ (s), PQ, GQ, and whether the
    device counts parts at all (without a part counter E, QR and OEE are null, never 0)."""

    pbt_s: float
    apt_s: float
    ideal_s: float | None
    pq: int
    gq: int
    counted: bool = True

    @property
    def figures(self) -> Oee:
        if not self.counted:
            return oee(self.apt_s, self.pbt_s, None, 0, 0)
        return oee(self.apt_s, self.pbt_s, self.ideal_s, self.pq, self.gq)

    @property
    def effective(self) -> bool:
        """Its E can be computed: parts are counted, and every counted part has a PRI."""
        return self.counted and (self.pq == 0 or self.ideal_s is not None)


def oee_total(rows: Iterable[OeeInputs]) -> Oee:
    """OEE over several windows (the headline: the day rows of every device): ISO 22400 aggregates
    the base elements, then takes the ratios — A = ΣAPT/ΣPBT, E = ΣPRI·PQ/ΣAPT, QR = ΣGQ/ΣPQ. Only
    windows whose E can be computed take part (`OeeInputs.effective`): a machine without a part
    counter or without a PRI would otherwise add APT with no ideal time and drag E towards 0."""
    items = [r for r in rows if r.effective]
    return oee(
        sum(r.apt_s for r in items),
        sum(r.pbt_s for r in items),
        sum(r.ideal_s or 0.0 for r in items),
        sum(r.pq for r in items),
        sum(r.gq for r in items),
    )


def left_out(rows: Iterable[tuple[str, OeeInputs]]) -> list[str]:
    """The devices with a window `oee_total` leaves out (summary.json headline `oee_excluded`)."""
    return sorted({device for device, r in rows if not r.effective})
