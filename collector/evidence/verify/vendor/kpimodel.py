# Vendored copy of collector/normalise/kpimodel.py: edit the source, then run scripts/vendor-verify.
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


def uncovered(covered: Sequence[Span], start: int, end: int) -> list[Span]:
    """The parts of [start, end) that the sorted, merged `covered` spans leave free."""
    out: list[Span] = []
    cursor = start
    for lo, hi in covered:
        if hi <= cursor or lo >= end:
            continue
        if lo > cursor:
            out.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        out.append((cursor, end))
    return out


def subtract(spans: Iterable[Span], cut: Iterable[Span]) -> list[Span]:
    """The parts of `spans` that no span of `cut` covers."""
    holes = merge(cut)
    return [piece for start, end in merge(spans) for piece in uncovered(holes, start, end)]


# --- time elements ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeElements:
    """ISO 22400-2 time elements of one window, in seconds. `worked` is planned down time the
    machine produced through: it is counted into PBT (and out of PDOT), so APT ≤ PBT always."""

    pot: float
    pdot: float
    pbt: float
    apt: float
    aust: float
    adet: float
    adot: float
    apmt: float
    unknown: float
    worked: float = 0.0


def element(segment_kind: str, bucket: str) -> str | None:
    """The element that an interval of `bucket` adds to inside a planned segment, or None.

    Inside PBT every bucket counts; a planned stop the machine reports but the calendar does not
    know (bucket PDOT) is a loss, ADOT; anything unrecognised is UNKNOWN. Inside PDOT only
    production (APT) counts, and that time becomes busy time (PBT): a machine that runs through a
    break was busy, so the break was not down time for it. Set-up, idling or stopping in a break is
    no loss and counts nowhere."""
    if segment_kind == PBT:
        if bucket == PDOT:
            return "ADOT"
        return bucket if bucket in ELEMENTS else "UNKNOWN"
    return "APT" if bucket == "APT" else None


class TimeTally:
    """Milliseconds per element over a window's planned segments, built up interval by interval.

    POT = Σ segments; PDOT = Σ PDOT segments − worked; PBT = POT − PDOT, where `worked` is PDOT
    time an APT interval covers. Each millisecond of a segment counts once, for the first interval
    that covers it (intervals of one device never overlap, but a clock stepped back makes two
    readings of the same wall time), so APT + AUST + ADET + ADOT + APMT + UNKNOWN = PBT and A ≤ 1
    hold whatever the intervals. PBT no interval covers is UNKNOWN (OFFLINE intervals are UNKNOWN
    too), never folded into another element."""

    def __init__(self, segments: Iterable[tuple[int, int, str]]) -> None:
        self.segments = tuple(segments)  # (start, end, kind), clipped to the window
        self._ms = dict.fromkeys(ELEMENTS, 0)
        self._covered: list[list[Span]] = [[] for _ in self.segments]  # per segment, merged
        self._worked = 0  # PDOT covered by APT

    def add(self, start: int, end: int, bucket: str) -> None:
        for index, (lo, hi, kind) in enumerate(self.segments):
            if min(hi, end) <= max(lo, start):
                continue
            covered = self._covered[index]
            free = uncovered(covered, max(lo, start), min(hi, end))
            if not free:
                continue
            self._covered[index] = merge([*covered, *free])
            target = element(kind, bucket)
            if target is None:
                continue
            ms = sum(b - a for a, b in free)
            self._ms[target] += ms
            if kind == PDOT:
                self._worked += ms

    def elements(self) -> TimeElements:
        pot = sum(hi - lo for lo, hi, _ in self.segments)
        planned_down = sum(hi - lo for lo, hi, kind in self.segments if kind == PDOT)
        covered = sum(
            b - a
            for (_, _, kind), spans in zip(self.segments, self._covered, strict=True)
            if kind == PBT
            for a, b in spans
        )
        pdot = planned_down - self._worked
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
            unknown=(ms["UNKNOWN"] + pot - planned_down - covered) / 1000,
            worked=self._worked / 1000,
        )


# --- part counters ---------------------------------------------------------------------------------


def allowed_parts(max_rate: float | None, tolerance: float, idle_ms: int) -> float | None:
    """Most parts a machine can have made since its counter last moved, `idle_ms` ago:
    max_rate × idle × (1 + tolerance), plus the one part that was already in progress then (a
    counter moves in whole parts, so a single part after a short poll is never implausible)."""
    if max_rate is None:
        return None
    return max_rate * max(idle_ms, 0) / 1000.0 * (1.0 + tolerance) + 1.0


def counter_step(before: int, now: int, modulus: int, allowed: float | None) -> tuple[int, str | None]:
    """Parts between two readings of a counter of range `modulus`, and "ROLLOVER", "RESET" or None.

    A rise counts the difference. A drop is a wrap only near the top of the range: the counter was
    in its top 10 % and the wrapped difference is no more than the machine can have made since it
    last moved (`allowed`); without a limit only a drop to above 0 can be a wrap. Any other drop is
    a reset (an operator, a shift change, a power cycle) and the new value counts, so a manual reset
    from 60000 on a 16-bit counter is never read as 5536 parts."""
    if now >= before:
        return now - before, None
    wrap = now + modulus - before
    plausible = now > 0 if allowed is None else wrap <= allowed
    if before >= ROLLOVER_ZONE * modulus and plausible:
        return wrap, "ROLLOVER"
    return now, "RESET"


@dataclass(frozen=True, slots=True)
class CounterStep:
    """What one reading of a counter adds: parts counted, parts withheld as implausible, and
    "ROLLOVER" / "RESET" / None."""

    parts: int
    quarantined: int
    kind: str | None


def count_step(
    before: int, now: int, modulus: int, max_rate: float | None, tolerance: float, idle_ms: int
) -> CounterStep:
    """One counter step with its plausibility check: more parts than `allowed_parts` since the
    counter last moved (`idle_ms` ago) are quarantined, not counted."""
    allowed = allowed_parts(max_rate, tolerance, idle_ms)
    delta, kind = counter_step(before, now, modulus, allowed)
    if allowed is not None and delta > allowed:
        return CounterStep(0, delta, kind)
    return CounterStep(delta, 0, kind)


def program_name(value: object) -> str | None:
    """The name of the active program from a reading of the program tag, spelled the same whether
    it was read as 30, 30.0 or the text "30.0" (a store or a CSV cell may turn one into another)."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    whole, dot, fraction = text.partition(".")
    if dot and fraction.strip("0") == "" and whole.lstrip("-").isdigit():
        text = whole
    return text or None


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
    """Data-quality flags of a window: E above the limit (PRI wrong or a counter counting twice),
    UNKNOWN time above its share of PBT (the machine was not heard from), and planned down time
    the machine produced through (counted into PBT, so the plan and PBT differ)."""
    flags = []
    if e is not None and e > e_limit:
        flags.append(f"E>{round(e_limit * 100)}%")
    if t.pbt > 0 and t.unknown > unknown_limit * t.pbt:
        flags.append(f"UNKNOWN>{round(unknown_limit * 100)}%PBT")
    if t.worked > 0:
        flags.append(WORKED_FLAG)
    return flags


WORKED_FLAG = "worked_in_PDOT"
QTY_UNAVAILABLE = "qty_unavailable"  # no part counter: E, QR and OEE are null, not 0
