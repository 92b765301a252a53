"""Evidence metric formulas against small hand-worked cases (the arithmetic is in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from collector.evidence.verify import connectivity, indicators, kpis, oeewindow
from collector.evidence.verify import formulas as f

pytestmark = pytest.mark.unit

S = 1000  # ms per second
MIN = 60 * S
BAD = 0x80310000  # BadNoCommunication
UNCERTAIN = 0x40900000


def poll(tag: str = "t", period: int = S, device: str = "m1") -> f.TagSpec:
    return f.TagSpec(device, tag, "poll", period)


def samples(times_s: list[float], tag: str = "t", status: int = 0, device: str = "m1") -> list[f.Sample]:
    return [f.Sample(device, tag, int(t * S), status, 1, i) for i, t in enumerate(times_s)]


def test_severity_bits() -> None:
    assert [f.severity(c) for c in (0, UNCERTAIN, BAD, 0xC0000000)] == ["Good", "Uncertain", "Bad", "Bad"]
    assert f.is_good(0x00000400)  # only the InfoType bit: still Good
    assert not f.is_good(UNCERTAIN)


def test_completeness_with_a_gap() -> None:
    # Window 60 s, period 1 s → expected ⌊60/1⌋ = 60. Good samples at 0..19 s and 35..59 s = 20 + 25 = 45;
    # two Bad samples at 20 and 21 s → received 47. completeness 45/60 = 0.75, good ratio 45/47.
    good = samples([*range(20), *range(35, 60)])
    bad = samples([20, 21], status=BAD)
    fig = f.tag_figures(poll(), good + bad, 0, 60 * S)
    assert (fig.expected, fig.received, fig.received_good, fig.credited) == (60, 47, 45, 45)
    assert fig.completeness == 0.75
    assert fig.good_ratio == 45 / 47
    # Gap threshold max(3·1 s, 10 s) = 10 s; the silence 19 s → 35 s is 16 s > 10 s: one gap.
    # Edges: 0 → 0 s and 59 → 60 s are short.
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(19 * S, 35 * S)]


def test_samples_outside_the_window_and_faster_polling_do_not_count() -> None:
    # 120 good samples at 0.5 s steps in [0, 60 s) but expected is 60: credited is capped at 60 → 1.0.
    # The sample at 60 s lies outside [0, 60 s).
    fig = f.tag_figures(poll(), samples([i / 2 for i in range(121)]), 0, 60 * S)
    assert (fig.received_good, fig.credited, fig.completeness) == (120, 60, 1.0)


def test_completeness_sums_over_tags() -> None:
    # Tag a: 45 of 60 (as above). Tag b: period 6 s → expected 10, 10 good samples.
    # Σ credited / Σ expected = (45 + 10) / (60 + 10) = 55/70.
    a = f.tag_figures(poll("a"), samples([*range(20), *range(35, 60)], "a"), 0, 60 * S)
    b = f.tag_figures(poll("b", 6 * S), samples([6 * i for i in range(10)], "b"), 0, 60 * S)
    assert f.completeness([a, b]) == 55 / 70


def test_gaps_at_window_edges() -> None:
    # Good data only 20..39 s of a 60 s window: leading silence 0 → 20 s (20 s) and trailing
    # 39 → 60 s (21 s) are both gaps (> 10 s); count 2, total 41 s, longest 21 s.
    fig = f.tag_figures(poll(), samples(list(range(20, 40))), 0, 60 * S)
    stats = f.gap_stats(fig.gaps)
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(0, 20 * S), (39 * S, 60 * S)]
    assert (stats.count, stats.total_s, stats.longest_s) == (2, 41.0, 21.0)


def test_a_silence_of_exactly_the_threshold_is_not_a_gap() -> None:
    # Period 5 s → threshold max(15 s, 10 s) = 15 s. Samples 0, 15, 31 s in [0, 40 s):
    # 0 → 15 (15 s, not > 15) no gap; 15 → 31 (16 s) gap; 31 → 40 (9 s) no gap.
    gaps = f.find_gaps("m1", [0, 15 * S, 31 * S], [(0, 40 * S)], f.gap_threshold_ms(5 * S))
    assert [(g.start_ms, g.end_ms) for g in gaps] == [(15 * S, 31 * S)]


def test_no_data_at_all_is_one_gap_and_zero_completeness() -> None:
    fig = f.tag_figures(poll(), [], 0, 60 * S)
    assert (fig.completeness, fig.good_ratio) == (0.0, None)
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(0, 60 * S)]


def test_on_change_tags_are_judged_against_the_heartbeat() -> None:
    # Heartbeat 60 s, window 600 s → expected 10. Samples at 30, 90, 150, 450, 510, 570 s.
    # Silences 30, 60, 60, 300, 60, 60, 30 s; each misses ⌊L/60⌋ − 1 heartbeats → only 300 s: 4.
    # credited 10 − 4 = 6 → 0.6.
    spec = f.TagSpec("m1", "t", "on_change", 1 * S, 60 * S)
    fig = f.tag_figures(spec, samples([30, 90, 150, 450, 510, 570]), 0, 600 * S)
    assert (fig.expected, fig.credited, fig.completeness) == (10, 6, 0.6)
    # Gap threshold max(3·60 s, 10 s) = 180 s: the 300 s silence 150 → 450 s is the only gap.
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(150 * S, 450 * S)]
    # Heartbeats 61 s apart never count as missed: ⌊61/60⌋ − 1 = 0.
    steady = f.tag_figures(spec, samples([61 * i for i in range(10)]), 0, 600 * S)
    assert steady.completeness == 1.0


def test_subscribe_tags_are_judged_by_heartbeat_coverage() -> None:
    """Issue 15: a subscribed OPC UA tag used to have no completeness, so one sample made it
    "effective". It is judged like an on_change tag against its register heartbeat: heartbeat 10 s,
    window 60 s → expected 6; samples only at 1, 2, 3 s leave a 57 s silence missing ⌊57/10⌋ − 1 = 4
    heartbeats, and the edge silence 0 → 1 s none: credited 2 → 1/3, with the silence a gap."""
    spec = f.TagSpec("m1", "t", "subscribe", 500, 10 * S)
    fig = f.tag_figures(spec, samples([1, 2, 3]), 0, 60 * S)
    assert (fig.expected, fig.credited) == (6, 2)
    assert fig.completeness == pytest.approx(1 / 3)
    assert [(g.start_ms, g.end_ms) for g in fig.gaps] == [(3 * S, 60 * S)]
    steady = f.tag_figures(spec, samples([1 + 9.5 * i for i in range(7)]), 0, 60 * S)
    assert steady.completeness == 1.0
    assert f.TagSpec("m1", "t", "subscribe", 500, None).cadence_ms is None  # no heartbeat: not judged


def test_device_gaps_use_the_merged_good_samples_and_the_shortest_period() -> None:
    # Tag a (1 s) has data 0..29 s, tag b (10 s) at 40 and 50 s; merged good samples: 0..29, 40, 50.
    # Threshold max(3·1 s, 10 s) = 10 s: 29 → 40 (11 s) is a gap; 50 → 60 (10 s) is not.
    specs = [poll("a"), poll("b", 10 * S)]
    data = samples(list(range(30)), "a") + samples([40, 50], "b") + samples([45], "b", status=BAD)
    gaps = f.device_gaps(specs, data, 0, 60 * S)
    assert [(g.start_ms, g.end_ms) for g in gaps] == [(29 * S, 40 * S)]


def h(hour: float) -> int:
    return int(hour * 3600 * S)


def test_online_rate_with_a_scheduled_break() -> None:
    # Scheduled (PBT) 8:00–10:00 and 10:15–12:00: break 10:00–10:15 is PDOT → 120 + 105 = 225 min.
    # States: RUNNING 8:00–9:00, OFFLINE 9:00–9:30, IDLE 9:30–12:00.
    # Online in scheduled time: 60 (8–9) + 30 (9:30–10) + 105 (10:15–12) = 195 min → 195/225.
    plan = [
        f.PlanSegment("m1", h(8), h(10), "PBT"),
        f.PlanSegment("m1", h(10), h(10.25), "PDOT"),
        f.PlanSegment("", h(10.25), h(12), "PBT"),  # "" applies to every device
        f.PlanSegment("m2", h(12), h(14), "PBT"),  # another device's shift
    ]
    states = [
        f.StateSpan("m1", h(8), h(9), "RUNNING"),
        f.StateSpan("m1", h(9), h(9.5), "OFFLINE"),
        f.StateSpan("m1", h(9.5), h(12), "IDLE"),
    ]
    scheduled = f.scheduled_spans(plan, "m1", h(0), h(24))
    assert scheduled == [(h(8), h(10)), (h(10.25), h(12))]
    online = f.online(states, scheduled)
    assert (online.online_ms, online.scheduled_ms) == (195 * MIN, 225 * MIN)
    assert online.rate == 195 / 225
    # State coverage over 8:00–12:00 (240 min): online 60 + 150 = 210 → 0.875.
    assert f.state_coverage(states, h(8), h(12)) == 0.875
    # Time without any state row counts as OFFLINE: with rows only up to 11:00, 150/240.
    assert f.state_coverage([*states[:2], f.StateSpan("m1", h(9.5), h(11), "IDLE")], h(8), h(12)) == 150 / 240
    # Aggregate: + a device online 30 of 60 scheduled min → (195 + 30) / (225 + 60).
    total = f.online_total([online, f.Online(30 * MIN, 60 * MIN)])
    assert total.rate == 225 / 285


def test_days_in_the_site_offset() -> None:
    tz = f.parse_tz("+08:00")
    assert tz == timezone(timedelta(hours=8))
    # 2026-11-24 20:00+08:00 = 12:00Z; to 2026-11-26 06:00+08:00 = 2026-11-25 22:00Z.
    start = int(datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp() * 1000)
    end = start + h(34)
    days = f.days(start, end, tz)
    assert [d.date for d in days] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert [d.end_ms - d.start_ms for d in days] == [h(4), h(24), h(6)]
    assert f.local_date(start + h(4), tz) == "2026-11-25"
    assert f.parse_tz("UTC") == f.parse_tz("Z") == f.parse_tz("+00:00")


def test_verified_networked_rule() -> None:
    tz = f.parse_tz("+00:00")
    days = f.days(0, h(72), tz)  # three days, each scheduled 8:00–16:00
    scheduled = [(h(24 * d + 8), h(24 * d + 16)) for d in range(3)]
    two_days = [h(9), h(24 + 9)]
    # Data on 2 of 3 scheduled days: 2/3 < 90 % → not verified, whatever the coverage.
    check = f.network_check(0.99, two_days, scheduled, days)
    assert (check.days_with_data, check.scheduled_days, check.verified) == (2, 3, False)
    # Data on 3 of 3 and coverage 0.96 ≥ 0.95 → verified; coverage 0.94 → not.
    three_days = [*two_days, h(48 + 9)]
    assert f.network_check(0.96, three_days, scheduled, days).verified
    assert not f.network_check(0.94, three_days, scheduled, days).verified
    # An unscheduled day does not count: data only outside shifts, day 3 unplanned.
    assert f.network_check(1.0, two_days, scheduled[:2], days).scheduled_days == 2


def test_delivery_with_a_missing_seq_range() -> None:
    # Published: session 1, seqs 0–99 and 100–199, and 200–209 with the stated hole 205–206 → 208.
    # Landed: all but 50–59 and 150 → 208 − 11 = 197; plus seq 500 nobody announced (unexpected).
    payloads = [
        {
            "session": 1,
            "from": 0,
            "to": 60_000,
            "devices": {"m1": {"seq_first": 0, "seq_last": 99, "count": 100}},
        },
        {"session": 1, "from": 60_000, "to": 120_000, "devices": {"m1": {"seq_first": 100, "seq_last": 199}}},
        {
            "session": 1,
            "from": 120_000,
            "to": 180_000,
            "devices": {"m1": {"seq_first": 200, "seq_last": 209, "holes": [[205, 206]]}, "m2": {"count": 0}},
        },
    ]
    batches = [b for p in payloads for b in kpis.raw_batches(p)]
    lost = {*range(50, 60), 150, 205, 206}
    landed = [("m1", 1, s) for s in range(210) if s not in lost] + [("m1", 1, 500), ("m1", 1, 0)]
    result = kpis.reconcile(batches, landed)["m1"]
    assert (result.published, result.landed, result.unexpected) == (208, 197, 1)
    assert kpis.format_ranges(result.missing) == "1:50-59;1:150"
    assert result.ratio == 197 / 208
    # Only batches wholly inside a window count for it.
    assert len(kpis.batches_inside(batches, 0, 120_000)) == 2


def test_replay_volume_and_latency_percentiles() -> None:
    replays = [
        kpis.replay_from(
            {"sink": "mqtt", "started": 10, "ended": 20, "records": 7, "by_device": {"m1": 5, "m2": 2}}
        ),
        kpis.replay_from({"sink": "mqtt", "started": 90, "ended": 120, "records": 3, "by_device": {"m1": 3}}),
    ]
    # Only the replay that ended inside [0, 100) counts.
    assert kpis.replay_volume(replays, 0, 100) == (7, {"m1": 5, "m2": 2})
    # Nearest rank over 1..20: p50 → rank ⌈10⌉ = 10 → 10; p95 → rank ⌈19⌉ = 19 → 19; p100 → 20.
    values = [float(v) for v in range(20, 0, -1)]
    assert (kpis.percentile(values, 50), kpis.percentile(values, 95), kpis.percentile(values, 100)) == (
        10,
        19,
        20,
    )
    assert kpis.percentile([], 50) is None
    data = [f.Sample("m1", "t", 1000, 0, 1, 1, 990), f.Sample("m1", "t", 1000, BAD, 1, 2, 900)]
    assert kpis.latencies([*data, f.Sample("m1", "t", 1000, 0, 1, 3)]) == [10]


def test_oee_worked_example() -> None:
    # PBT 8 h = 28 800 s, APT 6 h = 21 600 s, PRI 30 s, PQ 600, GQ 570.
    # A = 21600/28800 = 0.75; E = 30·600/21600 = 5/6; QR = 570/600 = 0.95;
    # OEE = 0.75 · 5/6 · 0.95 = 0.59375 (= PRI·GQ/PBT = 17100/28800).
    result = kpis.oee(21_600, 28_800, kpis.ideal_time(30, 600), 600, 570)
    assert result.a == 0.75
    assert result.e == pytest.approx(5 / 6, abs=1e-15)
    assert result.qr == 0.95
    assert result.oee == pytest.approx(0.59375, abs=1e-12)
    # Zero denominators give None, never 100 %.
    assert kpis.oee(0, 0, 0.0, 0, 0) == kpis.Oee(None, None, None, None)
    assert kpis.oee(100, 200, kpis.ideal_time(None, 5), 5, 5).e is None  # PRI unknown
    # Totals aggregate the elements: day 1 above, day 2 PBT 28 800, APT 14 400, PRI 30, PQ 300, GQ 300.
    # A = 36000/57600 = 0.625; E = (18000 + 9000)/36000 = 0.75; QR = 870/900; OEE = 0.625·0.75·870/900.
    total = kpis.oee_total(
        [
            kpis.OeeInputs(28_800, 21_600, 18_000, 600, 570),
            kpis.OeeInputs(28_800, 14_400, 9_000, 300, 300),
        ]
    )
    assert (total.a, total.e, total.qr) == (0.625, 0.75, 870 / 900)
    assert total.oee == pytest.approx(0.625 * 0.75 * 870 / 900, abs=1e-15)


def test_time_elements_with_a_break_and_offline_time() -> None:
    # POT 8:00–12:00 = 240 min with a PDOT break 10:00–10:15 → PBT 225 min.
    # RUNNING 8:00–9:30 (APT), ALARM 9:30–9:45 (ADET), RUNNING 9:45–10:30 (APT, through the break),
    # IDLE 10:30–11:00 (ADOT), OFFLINE 11:00–11:30 (UNKNOWN), no row 11:30–12:00.
    # APT = 90 + 15 + 15 (break: still production) + 15 = 135 min; ADET 15; ADOT 30;
    # UNKNOWN = 30 (offline) + 30 (uncovered PBT) = 60 min.
    plan = [
        f.PlanSegment("m1", h(8), h(10), "PBT"),
        f.PlanSegment("m1", h(10), h(10.25), "PDOT"),
        f.PlanSegment("m1", h(10.25), h(12), "PBT"),
    ]
    states = [
        f.StateSpan("m1", h(8), h(9.5), "RUNNING", "APT"),
        f.StateSpan("m1", h(9.5), h(9.75), "ALARM", "ADET"),
        f.StateSpan("m1", h(9.75), h(10.5), "RUNNING", "APT"),
        f.StateSpan("m1", h(10.5), h(11), "IDLE", "ADOT"),
        f.StateSpan("m1", h(11), h(11.5), "OFFLINE", "UNKNOWN"),
        f.StateSpan("m2", h(8), h(12), "RUNNING", "APT"),
    ]
    te = kpis.time_elements(states, plan, "m1", h(0), h(24))
    assert (te.pot, te.pdot, te.pbt) == (240 * 60, 15 * 60, 225 * 60)
    assert (te.apt, te.adet, te.adot, te.unknown) == (135 * 60, 15 * 60, 30 * 60, 60 * 60)
    # Only 8:00–9:00 of the day: PBT 60 min, APT 60 min.
    part = kpis.time_elements(states, plan, "m1", h(8), h(9))
    assert (part.pbt, part.apt, part.unknown) == (3600, 3600, 0)


def test_counter_readings_count_parts_like_the_collector() -> None:
    # 16-bit counter: 100 → 103 (+3), 103 → 65534 (+65431), 65534 → 2 (a drop from the top 10 % of
    # 65536: rollover, +4), 2 → 0 (any other drop: a reset, the new value counts: +0), 0 → 7 (+7).
    c = oeewindow.CounterSpec("m1", "parts", "cnt", "all", 16)
    readings = [(0, 100), (S, 103), (2 * S, 65534), (3 * S, 2), (4 * S, 0), (5 * S, 7)]
    assert oeewindow.count_parts(c, readings, 0, MIN) == oeewindow.Counted(3 + 65431 + 4 + 0 + 7, 0, 1)
    # Readings outside the window are not used: the first reading inside is the baseline.
    assert oeewindow.count_parts(c, [(-S, 0), (0, 10), (S, 12), (MIN, 99)], 0, MIN).parts == 2
    # max_rate 1 part/s, tolerance 0.5: at most 1.5 parts per second; +5 in 1 s is quarantined.
    fast = oeewindow.CounterSpec("m1", "parts", "cnt", "all", 16, max_rate=1.0, tolerance=0.5)
    assert oeewindow.count_parts(fast, [(0, 0), (S, 1), (2 * S, 6)], 0, MIN) == oeewindow.Counted(1, 5, 0)
    values = ("12", "12.0", 3.0, 3.5, True, "x")
    assert [oeewindow.counter_value(v) for v in values] == [12, 12, 3, None, None, None]


def test_window_oee_from_states_calendar_and_counter_readings() -> None:
    # Window 8:00–9:00, all PBT; RUNNING 8:00–8:30 (APT 1800 s), IDLE after. PRI 30 s.
    # all-counter 0 → 45 (PQ 45), scrap counter 0 → 3 (SQ 3), no good counter: GQ = 42.
    # A = 1800/3600 = 0.5; E = 30·45/1800 = 0.75; QR = 42/45 → OEE = 0.5 · 0.75 · 42/45.
    plan = [f.PlanSegment("m1", h(8), h(9), "PBT")]
    states = [
        f.StateSpan("m1", h(8), h(8.5), "RUNNING", "APT"),
        f.StateSpan("m1", h(8.5), h(9), "IDLE", "ADOT"),
    ]
    counters = [
        oeewindow.CounterSpec("m1", "parts", "all_t", "all", 32),
        oeewindow.CounterSpec("m1", "scrap", "scrap_t", "scrap", 32),
    ]
    readings = {"all_t": [(h(8), 0), (h(8.5), 45)], "scrap_t": [(h(8), 0), (h(8.5), 3)]}
    w = oeewindow.window_oee("m1", h(8), h(9), states, plan, counters, readings, 30.0)
    assert (w.pq, w.gq, w.sq, w.ideal_s) == (45, 42, 3, 1350.0)
    assert (w.figures.a, w.figures.e, w.figures.qr) == (0.5, 0.75, 42 / 45)
    assert w.flags == ("window", "qty_from_counter_readings")
    # Without counters the quantities are unknown: E, QR and OEE are null, never 0 or 100 %.
    bare = oeewindow.window_oee("m1", h(8), h(9), states, plan, [], {}, 30.0)
    assert bare.figures == kpis.Oee(0.5, None, None, None) and "qty_unavailable" in bare.flags
    assert (
        "calendar_missing"
        in oeewindow.window_oee("m1", h(8), h(9), states, [], counters, readings, None).flags
    )


def entry(kind: str, ts_s: float, **payload: object) -> dict[str, object]:
    return {"type": kind, "ts": int(ts_s * S), "payload": payload}


def test_connection_intervals_of_a_device_without_a_state_rule() -> None:
    # Window 0–100 s. m1 connects at 10 s, drops at 30 s, is back at 40 s; the collector stops at
    # 70 s and starts again at 80 s, m1 connects at 85 s → online 20 + 30 + 15 = 65 s.
    chain = [
        entry("COLLECTOR_START", 5, session=1), entry("DEVICE_CONNECT", 10, device="m1"),
        entry("DEVICE_CONNECT", 12, device="m2"),
        entry("DEVICE_DISCONNECT", 30, device="m1", was_connected=True),
        entry("DEVICE_CONNECT", 40, device="m1"), entry("COLLECTOR_STOP", 70, connected=["m1", "m2"]),
        entry("COLLECTOR_START", 80, session=2), entry("DEVICE_CONNECT", 85, device="m1"),
    ]  # fmt: skip
    spans = connectivity.connection_spans(chain, "m1", 0, 100 * S)
    assert spans == [(10 * S, 30 * S), (40 * S, 70 * S), (85 * S, 100 * S)]
    states = connectivity.connection_states(chain, "m1", 0, 100 * S)
    assert f.online(states, [(0, 100 * S)]).rate == 0.65
    # A window starting mid-run: the first entry that tells the state settles it at the window start.
    assert connectivity.connection_spans(chain, "m2", 50 * S, 100 * S) == [(50 * S, 70 * S)]  # STOP lists m2
    batch = [entry("RAW_BATCH", 20, connected=["m1"]), entry("DEVICE_DISCONNECT", 30, device="m1")]
    assert connectivity.connection_spans(batch, "m1", 0, 100 * S) == [(0, 30 * S)]
    assert connectivity.connection_spans(batch, "m2", 0, 100 * S) == []
    failing = [entry("DEVICE_DISCONNECT", 30, device="m1", was_connected=False)]  # never answered
    assert connectivity.connection_spans(failing, "m1", 0, 100 * S) == []
    # A run that ended without a stop is closed by the next start.
    crashed = [entry("DEVICE_CONNECT", 10, device="m1"), entry("COLLECTOR_START", 50, session=2)]
    assert connectivity.connection_spans(crashed, "m1", 0, 100 * S) == [(10 * S, 50 * S)]


def reg(code: str, category: str = "production", *, digital: bool | None = None,
        networked: bool | None = None, key: bool | None = None, nc: bool | None = None, process: str = "",
        via: str = "", counts: bool | None = None) -> indicators.RegisterEntry:  # fmt: skip
    return indicators.RegisterEntry(code, category, counts, digital, networked, key, nc, process, via)


def test_plant_indicators() -> None:
    # d1 digital, connected via c1, key "turning", NC; d2 digital, via c2, key "turning", is_nc false;
    # d3 digital, unconnected, key "milling" with is_nc undeclared (not NC); d4 connected via c4 only;
    # d5 nothing declared; m1 a connected meter (outside the production equipment).
    register = [
        reg("d1", digital=True, key=True, nc=True, process="turning", via="c1"),
        reg("d2", digital=True, key=True, nc=False, process="turning", via="c2"),
        reg("d3", digital=True, key=True, process="milling"),
        reg("d4", digital=False, key=False, via="c4"),
        reg("d5", ""),
        reg("m1", "metering", digital=True, key=False, via="c9"),
    ]
    ind = indicators.indicators(register, ["c1", "c4", "c9"])
    # 5 production rows. Declared networked 3/5 = 0.6 (those with a connection), verified 2/5 = 0.4,
    # digital 3/5 = 0.6, verified ∩ digital 1/3.
    assert (ind.devices_total, ind.register_rows) == (5, 6)
    assert (ind.declared_networked, ind.verified_networked, ind.digital) == (3, 2, 3)
    assert (ind.networked_rate_declared, ind.networked_rate_verified, ind.digital_rate) == (0.6, 0.4, 0.6)
    assert ind.networked_rate_of_digital == 1 / 3
    # Key processes: turning (d2 not NC → not NC-enabled), milling (d3 undeclared → not NC) → 0 of 2.
    assert (ind.key_processes, ind.key_processes_nc, ind.key_process_nc_rate) == (2, 0, 0.0)
    # Undeclared among production rows: d5 all of category, is_digital, is_key_process; d3 is_nc.
    assert dict(ind.undeclared) == {"category": 1, "is_digital": 1, "is_nc": 1, "is_key_process": 1}
    assert indicators.indicators([], []).networked_rate_verified is None


def test_a_meter_counts_when_declared_production_and_an_empty_category_counts() -> None:
    register = [
        reg("m1", "metering", counts=True),
        reg("f1", "facility"),
        reg("x", ""),
        reg("a", "auxiliary"),
    ]
    assert [r.production for r in register] == [True, False, True, True]
    assert indicators.indicators(register, []).devices_total == 3


def test_networked_rate_of_a_partly_connected_plant_is_10_of_40() -> None:
    """Issue 15: 40 machines, 10 of them connected (and verified), used to report 10/10 because the
    register was the list of connections. The denominator is every production row."""
    register = [reg(f"jc-{i:02d}", via=f"dev-{i:02d}" if i < 10 else "") for i in range(40)]
    ind = indicators.indicators(register, [f"dev-{i:02d}" for i in range(10)])
    assert (ind.verified_networked, ind.devices_total, ind.networked_rate_verified) == (10, 40, 0.25)


def test_auto_collection_rate() -> None:
    # Required: a (0.75 < 0.95, not effective), b (1.0, effective), s (subscribe with one good sample but
    # no heartbeat coverage: not judged, so not effective); c is not required. Effective 1 of 3.
    specs = [
        poll("a"),
        poll("b", 6 * S),
        f.TagSpec("m1", "s", "subscribe", 500),
        f.TagSpec("m1", "c", "poll", S, None, False),
    ]
    figs = [
        f.tag_figures(specs[0], samples([*range(20), *range(35, 60)], "a"), 0, 60 * S),
        f.tag_figures(specs[1], samples([6 * i for i in range(10)], "b"), 0, 60 * S),
        f.tag_figures(specs[2], samples([3], "s"), 0, 60 * S),
        f.tag_figures(specs[3], [], 0, 60 * S),
    ]
    auto = indicators.auto_collection(specs, figs)
    assert (auto.effective, auto.required) == (1, 3)
    assert auto.rate == 1 / 3
