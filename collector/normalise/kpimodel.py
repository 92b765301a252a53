"""The one definition of what OEE is computed from, shared by the collector and the pack's verifier.

ISO 22400-2 time elements of a window, the parts a counter step adds, and the ratios with their
flags (docs/STANDARDS.md §3 and §4). The KPI tracker (kpi_tracker.py, oee.py) and the part counters
(counters.py) apply these rules as readings arrive; the verifier applies them again to what a pack
holds, from its own copy (collector/evidence/verify/vendor/kpimodel.py, written from this file by
scripts/vendor-verify). Standard library only, and no import from the collector, for that copy.

Buckets and segment kinds are plain strings ("APT", "PBT"); the collector's StrEnums compare and
hash as those strings, so either can be passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Span = tuple[int, int]  # [start, end) in UTC ms

PBT, PDOT = "PBT", "PDOT"  # planned segment kinds: planned busy time, planned down time (breaks, stops)
PRODUCTIVE = ("APT", "AUST")  # the only elements that count inside PDOT: running through a break
ELEMENTS = ("APT", "AUST", "ADET", "ADOT", "APMT", "UNKNOWN")
ROLLOVER_ZONE = 0.9  # a counter drop is a wrap only from the top 10 % of its range


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted union of [start, end) spans; empty spans are dropped."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(spans: Iterable[Span], cut: Iterable[Span]) -> list[Span]:
    """The parts of `spans` that no span of `cut` covers."""
    out: list[Span] = []
    holes = merge(cut)
    for start, end in merge(spans):
        cursor = start
        for s, e in holes:
            if e <= cursor or s >= end:
                continue
            if s > cursor:
                out.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < end:
            out.append((cursor, end))
    return out


# --- time elements ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeElements:
    """ISO 22400-2 time elements of one window, in seconds."""

    pot: float
    pdot: float
    pbt: float
    apt: float
    aust: float
    adet: float
    adot: float
    apmt: float
    unknown: float


def element(segment_kind: str, bucket: str) -> str | None:
    """The element that an interval of `bucket` adds to inside a planned segment, or None.

    Inside PBT every bucket counts; a planned stop the machine reports but the calendar does not
    know (bucket PDOT) is a loss, ADOT; anything unrecognised is UNKNOWN. Inside PDOT only APT and
    AUST count: running through a break is still production."""
    if segment_kind == PBT:
        if bucket == PDOT:
            return "ADOT"
        return bucket if bucket in ELEMENTS else "UNKNOWN"
    return bucket if bucket in PRODUCTIVE else None


class TimeTally:
    """Milliseconds per element over a window's planned segments, built up interval by interval.

    POT = Σ segments, PDOT = Σ PDOT segments, PBT = POT − PDOT; PBT that no interval covers is
    UNKNOWN (OFFLINE intervals are UNKNOWN too), never folded into another element."""

    def __init__(self, segments: Iterable[tuple[int, int, str]]) -> None:
        self.segments = tuple(segments)  # (start, end, kind), clipped to the window
        self._ms = dict.fromkeys(ELEMENTS, 0)
        self._covered = 0  # PBT covered by some interval

    def add(self, start: int, end: int, bucket: str) -> None:
        for lo, hi, kind in self.segments:
            overlap = min(hi, end) - max(lo, start)
            if overlap <= 0:
                continue
            target = element(kind, bucket)
            if kind == PBT:
                self._covered += overlap
            if target is not None:
                self._ms[target] += overlap

    def elements(self) -> TimeElements:
        pot = sum(hi - lo for lo, hi, _ in self.segments)
        pdot = sum(hi - lo for lo, hi, kind in self.segments if kind == PDOT)
        pbt = pot - pdot
        ms = self._ms
        return TimeElements(
            pot=pot / 1000,
            pdot=pdot / 1000,
            pbt=pbt / 1000,
            apt=ms["APT"] / 1000,
            aust=ms["AUST"] / 1000,
            adet=ms["ADET"] / 1000,
            adot=ms["ADOT"] / 1000,
            apmt=ms["APMT"] / 1000,
            unknown=(ms["UNKNOWN"] + pbt - self._covered) / 1000,
        )


# --- part counters ---------------------------------------------------------------------------------


def allowed_parts(max_rate: float | None, tolerance: float, elapsed_ms: int) -> float | None:
    """Most parts a machine can have made in `elapsed_ms`: max_rate × elapsed × (1 + tolerance)."""
    return None if max_rate is None else max_rate * max(elapsed_ms, 0) / 1000.0 * (1.0 + tolerance)


def counter_step(before: int, now: int, modulus: int, allowed: float | None) -> tuple[int, str | None]:
    """Parts between two readings of a counter of range `modulus`, and "ROLLOVER", "RESET" or None.

    A rise counts the difference. A drop is a wrap when the counter was in the top 10 % of its range
    and the wrapped difference is plausible; any other drop is a reset, and the new value counts."""
    if now >= before:
        return now - before, None
    wrap = now + modulus - before
    if before >= ROLLOVER_ZONE * modulus and (allowed is None or wrap <= allowed):
        return wrap, "ROLLOVER"
    return now, "RESET"


def made_at(since: int, ts: int, offline: Sequence[Span] = ()) -> int:
    """When the parts of a counter step (since, ts] were made: at the middle of the last OFFLINE gap
    the step spans, else just before the reading that saw them (so a reading exactly on a window
    boundary belongs to the window that just ended)."""
    gaps = [g for g in offline if g[0] < ts and g[1] > since]
    if not gaps:
        return ts - 1 if ts > since else ts
    lo, hi = gaps[-1]
    middle = (max(lo, since) + min(hi, ts)) // 2
    return min(max(middle, since), ts)


# --- ratios and flags ------------------------------------------------------------------------------


def ratio(num: float | None, den: float | None) -> float | None:
    """num / den, or None when either is missing or den ≤ 0 (never a made-up 100 %)."""
    if num is None or den is None or den <= 0:
        return None
    return num / den


def product(*parts: float | None) -> float | None:
    """The product, or None when any factor is None."""
    out = 1.0
    for part in parts:
        if part is None:
            return None
        out *= part
    return out


@dataclass(frozen=True, slots=True)
class Ratios:
    """A = APT/PBT, E = ΣPRI·PQ/APT, QR = GQ/PQ, OEE = A·E·QR; NEE = (APT+AUST)/PBT·E·QR;
    TE = APT/(APT+ADET). Each is None on a zero denominator or a missing input."""

    a: float | None
    e: float | None
    qr: float | None
    oee: float | None
    nee: float | None
    te: float | None


def ratios(t: TimeElements, ideal_s: float | None, pq: int, gq: int) -> Ratios:
    a, e, qr = ratio(t.apt, t.pbt), ratio(ideal_s, t.apt), ratio(gq, pq)
    nee = product(ratio(t.apt + t.aust, t.pbt), e, qr)
    return Ratios(a, e, qr, product(a, e, qr), nee, ratio(t.apt, t.apt + t.adet))


def ideal_time(pri_s: float | None, pq: int) -> float | None:
    """Σ PRI·PQ, the numerator of E: 0 when nothing was produced, None when PRI is unknown."""
    if pq == 0:
        return 0.0
    return None if pri_s is None else pri_s * pq


def quality_flags(
    e: float | None, t: TimeElements, e_limit: float = 1.05, unknown_limit: float = 0.05
) -> list[str]:
    """Data-quality flags of a window: E above the limit (PRI wrong or a counter counting twice), and
    UNKNOWN time above its share of PBT (the machine was not heard from)."""
    flags = []
    if e is not None and e > e_limit:
        flags.append(f"E>{round(e_limit * 100)}%")
    if t.pbt > 0 and t.unknown > unknown_limit * t.pbt:
        flags.append(f"UNKNOWN>{round(unknown_limit * 100)}%PBT")
    return flags
