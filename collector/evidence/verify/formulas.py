"""Metric formulas of the evidence pack (docs/STANDARDS.md §7.4, §7.6–§7.9, §3.6), shared by the
builder and the verifier.

STDLIB ONLY: copied into every pack as ``verify/formulas.py``, so the pack's figures and the
reviewer's recomputation run the very same code. Times are UTC ms, windows are [start, end).

Decisions the standard leaves open (each function's docstring repeats its own):
- Polled tags: completeness = Σ min(received_good, ⌊window/period⌋) / Σ ⌊window/period⌋ (a tag that
  is polled faster than declared cannot make up for another tag's losses).
- on_change and subscribe tags are judged against their heartbeat (the collector re-sends an
  on_change value at least that often; a subscribed tag's register heartbeat is the interval within
  which the collector stores it while the subscription's keep-alive holds): expected =
  ⌊judged time/heartbeat⌋, and each silence between good samples (edges of judged time included)
  of length L misses ⌊L/heartbeat⌋ − 1 heartbeats.
- Judged time is the device's scheduled time (PBT rows of 计划日历.csv) minus the time its state
  timeline shows it powered off (sub-state POWER_OFF): samples are expected, and silences are gaps,
  only then. Outside shifts, in breaks and planned stops, a machine switched off is not penalised.
- Time with no state interval at all counts as OFFLINE (nothing proves the device was online). A
  device without a state rule is given its connection intervals from the chain instead
  (connectivity.py: DEVICE_CONNECT … DEVICE_DISCONNECT / COLLECTOR_STOP, as state "CONNECTED").
- Scheduled time for the online rate is the PBT rows of 计划日历.csv (breaks/PDOT excluded).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Protocol

from .vendor.kpimodel import Span as Span  # the shared model's names, used through this module
from .vendor.kpimodel import merge as merge
from .vendor.kpimodel import ratio as ratio
from .vendor.kpimodel import subtract as subtract

MIN_GAP_MS = 10_000
GAP_PERIODS = 3
ALL_DEVICES = ("", "*")  # the device cell of a calendar row that applies to every device
HEARTBEAT_METHODS = ("on_change", "subscribe")  # judged by heartbeat coverage, not by a poll count
POWER_OFF = "POWER_OFF"  # a state row with this sub-state: the machine is switched off


# --- quality -----------------------------------------------------------------------------------


def severity(status: int) -> str:
    """OPC UA StatusCode bits 31–30: 00 Good, 01 Uncertain, 10/11 Bad (docs/STANDARDS.md §1.1)."""
    return ("Good", "Uncertain", "Bad", "Bad")[(status >> 30) & 0b11]


def is_good(status: int) -> bool:
    return (status >> 30) & 0b11 == 0


class SampleLike(Protocol):
    """What the figures read of a sample: the verifier's Sample and the builder's StoredSample (which
    also keeps the value) both are one, so the builder needs no copy of every sample."""

    @property
    def device(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def ts_ms(self) -> int: ...
    @property
    def source_ts_ms(self) -> int | None: ...
    @property
    def good(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """One landed reading (a row of 05_raw_samples): receive time, StatusCode, (session, seq)."""

    device: str
    tag: str
    ts_ms: int
    status: int
    session: int
    seq: int
    source_ts_ms: int | None = None

    @property
    def good(self) -> bool:
        return is_good(self.status)


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One row of 数据采集点清单: how often a tag should produce a value."""

    device: str
    tag: str
    method: str  # poll | on_change | subscribe
    period_ms: int | None
    heartbeat_ms: int | None = None
    required: bool = True

    @property
    def cadence_ms(self) -> int | None:
        """The interval a tag is judged against: the period when polled, the heartbeat for on_change
        and subscribe (HEARTBEAT_METHODS)."""
        if self.method == "poll":
            return self.period_ms if self.period_ms and self.period_ms > 0 else None
        if self.method in HEARTBEAT_METHODS:
            return self.heartbeat_ms if self.heartbeat_ms and self.heartbeat_ms > 0 else None
        return None


def good_ratio(samples: Iterable[SampleLike]) -> float | None:
    """数据有效率 = good samples / all samples (None without samples)."""
    total = good = 0
    for s in samples:
        total += 1
        good += s.good
    return good / total if total else None


# --- spans -------------------------------------------------------------------------------------


def clip(spans: Iterable[Span], start: int, end: int) -> list[Span]:
    return merge((max(s, start), min(e, end)) for s, e in spans)


def length_ms(spans: Iterable[Span]) -> int:
    return sum(e - s for s, e in merge(spans))


def overlap_ms(a: Iterable[Span], b: Iterable[Span]) -> int:
    """Length of the intersection of two span sets (each merged first, so nothing counts twice)."""
    left, right = merge(a), merge(b)
    total = i = j = 0
    while i < len(left) and j < len(right):
        lo, hi = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        total += max(0, hi - lo)
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return total


# --- gaps and completeness --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    device: str
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class GapStats:
    count: int
    total_ms: int
    longest_ms: int

    @property
    def total_s(self) -> float:
        return self.total_ms / 1000

    @property
    def longest_s(self) -> float:
        return self.longest_ms / 1000


def gap_threshold_ms(cadence_ms: int) -> int:
    """A silence is a gap when longer than max(3 × period, 10 s) (docs/STANDARDS.md §7.6)."""
    return max(GAP_PERIODS * cadence_ms, MIN_GAP_MS)


def silences(good_ts: Iterable[int], spans: Sequence[Span]) -> list[Span]:
    """The intervals between consecutive good samples inside each judged span, the span's edges
    included (time outside the spans is never a silence)."""
    points = sorted(good_ts)
    out: list[Span] = []
    for start, end in spans:
        inside = points[bisect_left(points, start) : bisect_left(points, end)]
        out += pairwise([start, *inside, end])
    return out


def find_gaps(device: str, good_ts: Iterable[int], spans: Sequence[Span], threshold_ms: int) -> list[Gap]:
    """断点: silences between good samples longer than `threshold_ms` within the judged spans,
    including the silence from a span's start to its first good sample and from the last to its end."""
    return [Gap(device, s, e) for s, e in silences(good_ts, spans) if e - s > threshold_ms]


def gap_stats(gaps: Iterable[Gap]) -> GapStats:
    """断点次数/断点时长: count, total and longest duration."""
    durations = [g.duration_ms for g in gaps]
    return GapStats(len(durations), sum(durations), max(durations, default=0))


@dataclass(frozen=True, slots=True)
class TagFigures:
    """Completeness figures of one tag over a window (a row of 采集完整率_按日.csv)."""

    device: str
    tag: str
    expected: int | None  # None: the tag is not judged (subscribe, or no period)
    received: int
    received_good: int
    credited: int | None  # the numerator: received_good capped at expected, or heartbeats seen
    completeness: float | None
    good_ratio: float | None
    gaps: tuple[Gap, ...]


def expected_count(spec: TagSpec, spans: Sequence[Span]) -> int | None:
    """⌊judged time / period⌋ for polled tags, ⌊judged time / heartbeat⌋ for on_change and subscribe
    tags, else None (not judged)."""
    cadence = spec.cadence_ms
    return None if cadence is None else length_ms(spans) // cadence


def in_spans(ts: int, spans: Sequence[Span]) -> bool:
    """Whether `ts` lies in one of the merged, sorted `spans`."""
    i = bisect_left(spans, (ts + 1,)) - 1
    return i >= 0 and spans[i][0] <= ts < spans[i][1]


def tag_figures(
    spec: TagSpec, samples: Iterable[SampleLike], start: int, end: int, judged: Sequence[Span] | None = None
) -> TagFigures:
    """采集完整率 of one tag over [start, end); `samples` are this tag's samples (those outside the window
    are ignored); `judged` is the device's judged time (judged_spans), default the whole window.

    poll:               credited = min(good samples in judged time, ⌊judged/period⌋)
    on_change/subscribe: credited = ⌊judged/heartbeat⌋ − Σ_silences max(0, ⌊L/heartbeat⌋ − 1), 0 without
                        good data
    completeness = credited / expected (None when expected is None or 0). received and received_good
    count every sample of the window, judged time or not.
    """
    spans = clip(judged if judged is not None else [(start, end)], start, end)
    inside = [s for s in samples if start <= s.ts_ms < end]
    good_ts = [s.ts_ms for s in inside if s.good and in_spans(s.ts_ms, spans)]
    expected = expected_count(spec, spans)
    cadence = spec.cadence_ms
    credited: int | None = None
    gaps: list[Gap] = []
    if expected is not None and cadence is not None:
        if spec.method == "poll":
            credited = min(len(good_ts), expected)
        elif good_ts:
            missed = sum(max(0, (e - s) // cadence - 1) for s, e in silences(good_ts, spans))
            credited = max(0, expected - missed)
        else:
            credited = 0
        gaps = find_gaps(spec.device, good_ts, spans, gap_threshold_ms(cadence))
    return TagFigures(
        device=spec.device,
        tag=spec.tag,
        expected=expected,
        received=len(inside),
        received_good=sum(1 for s in inside if s.good),
        credited=credited,
        completeness=ratio(credited, expected),
        good_ratio=good_ratio(inside),
        gaps=tuple(gaps),
    )


def completeness(figures: Iterable[TagFigures]) -> float | None:
    """采集完整率 of several tags = Σ credited / Σ expected over the judged tags (docs/STANDARDS.md §7.7)."""
    num = den = 0
    for f in figures:
        if f.expected is not None and f.credited is not None:
            num += f.credited
            den += f.expected
    return ratio(num, den)


def device_gaps(
    specs: Iterable[TagSpec], samples: Iterable[SampleLike], start: int, end: int,
    judged: Sequence[Span] | None = None,
) -> list[Gap]:  # fmt: skip
    """断点 of a device: silences within its judged time (default: the window) in the merged good
    samples of its judged tags longer than max(3 × its shortest cadence, 10 s). A device with no
    judged tag has no gap list ([])."""
    cadences = {s.tag: s.cadence_ms for s in specs if s.cadence_ms is not None}
    device = next((s.device for s in specs), "")
    if not cadences:
        return []
    spans = clip(judged if judged is not None else [(start, end)], start, end)
    good_ts = [s.ts_ms for s in samples if s.tag in cadences and s.good]
    return find_gaps(device, good_ts, spans, gap_threshold_ms(min(cadences.values())))


# --- states, schedule, online rate ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateSpan:
    """One row of 状态时间线.csv: state (RUNNING|IDLE|ALARM|STOPPED|OFFLINE) and ISO 22400 bucket."""

    device: str
    start_ms: int
    end_ms: int
    state: str
    bucket: str = "UNKNOWN"
    sub: str = ""


@dataclass(frozen=True, slots=True)
class PlanSegment:
    """One row of 计划日历.csv: planned time of a device ("" or "*" = every device), PBT or PDOT."""

    device: str
    start_ms: int
    end_ms: int
    kind: str  # PBT | PDOT

    def applies_to(self, device: str) -> bool:
        return self.device in ALL_DEVICES or self.device == device


def online_spans(states: Iterable[StateSpan]) -> list[Span]:
    """Merged time in any state except OFFLINE; time without any state row is not online."""
    return merge((s.start_ms, s.end_ms) for s in states if s.state != "OFFLINE")


def state_coverage(states: Iterable[StateSpan], start: int, end: int) -> float | None:
    """状态覆盖率 = (window − OFFLINE time) / window, where uncovered time also counts as OFFLINE."""
    return ratio(overlap_ms(online_spans(states), [(start, end)]), end - start)


def scheduled_spans(segments: Iterable[PlanSegment], device: str, start: int, end: int) -> list[Span]:
    """The device's PBT time inside [start, end), merged (planned downtime is not scheduled time)."""
    return clip(
        ((g.start_ms, g.end_ms) for g in segments if g.kind == "PBT" and g.applies_to(device)), start, end
    )


def powered_off(states: Iterable[StateSpan]) -> list[Span]:
    """Time the state timeline shows the machine switched off (any state with sub-state POWER_OFF)."""
    return merge((s.start_ms, s.end_ms) for s in states if s.sub == POWER_OFF)


def judged_spans(
    segments: Iterable[PlanSegment], states: Iterable[StateSpan], device: str, start: int, end: int
) -> list[Span]:
    """Scheduled and powered time: the device's PBT inside [start, end) minus its POWER_OFF time
    (`states` is its state timeline). Completeness, gaps and the online rate are judged over it."""
    return subtract(scheduled_spans(segments, device, start, end), powered_off(states))


@dataclass(frozen=True, slots=True)
class Online:
    online_ms: int
    scheduled_ms: int

    @property
    def rate(self) -> float | None:
        return ratio(self.online_ms, self.scheduled_ms)


def online(states: Iterable[StateSpan], scheduled: Iterable[Span]) -> Online:
    """设备在线率 = non-OFFLINE time within scheduled time / scheduled time (sum Online's to aggregate).
    `states` is the state timeline, or connectivity.connection_states for a device without a rule."""
    spans = merge(scheduled)
    return Online(overlap_ms(online_spans(states), spans), length_ms(spans))


def online_total(parts: Iterable[Online]) -> Online:
    """Time-weighted aggregate: Σ online / Σ scheduled."""
    items = list(parts)
    return Online(sum(p.online_ms for p in items), sum(p.scheduled_ms for p in items))


# --- days in the site's time zone ----------------------------------------------------------


def parse_tz(text: str) -> tzinfo:
    """ "+08:00" / "UTC+8" / "Z" as a fixed offset, else an IANA name ("Asia/Shanghai")."""
    raw = text.strip().upper().removeprefix("UTC").removeprefix("GMT")
    if raw in ("", "Z"):
        return UTC
    if raw[0] in "+-":
        sign = -1 if raw[0] == "-" else 1
        hours, _, minutes = raw[1:].partition(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
    from zoneinfo import ZoneInfo  # only for names; offsets need no tz database

    return ZoneInfo(text.strip())


@dataclass(frozen=True, slots=True)
class Day:
    date: str  # local calendar date, ISO
    start_ms: int
    end_ms: int


def _ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def local_date(ts_ms: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz).date().isoformat()


def days(start: int, end: int, tz: tzinfo) -> list[Day]:
    """Local calendar days overlapping [start, end), each clipped to the window."""
    out: list[Day] = []
    day = datetime.fromtimestamp(start / 1000, tz).date()
    while True:
        lo = _ms(datetime.combine(day, datetime.min.time(), tz))
        hi = _ms(datetime.combine(day + timedelta(days=1), datetime.min.time(), tz))
        if lo >= end:
            return out
        out.append(Day(day.isoformat(), max(lo, start), min(hi, end)))
        day = date.fromordinal(day.toordinal() + 1)


# --- verified networked -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkRule:
    min_coverage: float = 0.95
    min_days: float = 0.90

    @property
    def text(self) -> str:
        return f"coverage≥{self.min_coverage:.0%} & days≥{self.min_days:.0%}"


@dataclass(frozen=True, slots=True)
class NetworkCheck:
    coverage: float | None
    days_with_data: int
    scheduled_days: int
    verified: bool


def network_check(
    coverage: float | None,
    good_ts: Iterable[int],
    scheduled: Iterable[Span],
    day_list: Sequence[Day],
    rule: NetworkRule = NetworkRule(),
) -> NetworkCheck:
    """已验证联网: coverage ≥ rule.min_coverage and days_with_data / scheduled_days ≥ rule.min_days.

    `coverage` is the caller's choice of coverage figure (the pack uses the online rate over scheduled
    time, so machines switched off outside shifts are not penalised). A scheduled day has PBT > 0; it
    has data when at least one good sample falls on that local day.
    """
    spans = merge(scheduled)
    planned = [d for d in day_list if overlap_ms(spans, [(d.start_ms, d.end_ms)]) > 0]
    ts = sorted(good_ts)
    with_data = sum(1 for d in planned if bisect_left(ts, d.start_ms) < bisect_left(ts, d.end_ms))
    share = ratio(with_data, len(planned))
    ok = (
        coverage is not None
        and coverage >= rule.min_coverage
        and share is not None
        and share >= rule.min_days
    )
    return NetworkCheck(coverage, with_data, len(planned), ok)
