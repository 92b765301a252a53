"""Cross-check the pack's result tables (02_connectivity, 04_completeness) against the recomputation.

STDLIB ONLY; part of the in-pack verifier (``verify/tablecheck.py``). summary.json feeds the report;
these CSVs are what a reviewer opens in a spreadsheet, so each row must hold the recomputed figures
too, and no row may be missing or extra. A difference names the file, line and column.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from . import csvio, kpis, packinputs, recompute
from . import formulas as f

CONNECTIVITY = "02_connectivity/联网核验.csv"
ONLINE_DAILY = "02_connectivity/在线率_按日.csv"
COMPLETENESS_DAILY = "04_completeness/采集完整率_按日.csv"
GAPS = "04_completeness/断点记录.csv"
RECONCILIATION = "04_completeness/入库对账.csv"

Key = tuple[str, ...]
Figures = dict[str, object]


def _compare(cmp: recompute.Compare, rel: str, rows: Iterable[csvio.Row], keys: tuple[str, ...],
             expected: dict[Key, Figures]) -> None:  # fmt: skip
    """Each CSV row against the recomputed figures of its key; missing and extra rows are problems."""
    seen: set[Key] = set()
    for row in rows:
        key = tuple(row.text(k) for k in keys)
        want = expected.get(key)
        if want is None:
            cmp.problems.append(f"{rel} line {row.line}: no such {'/'.join(keys)} {'/'.join(key)} recomputed")
            continue
        seen.add(key)
        for column, value in want.items():
            cmp.same(f"{rel} line {row.line}", _typed(row, column, value), column, value)
    for key in sorted(set(expected) - seen):
        cmp.problems.append(f"{rel}: no row for {'/'.join(key)}")


def _typed(row: csvio.Row, column: str, like: object) -> dict[str, object]:
    """The cell parsed as the recomputed value's type (an absent column stays absent)."""
    if not row.has(column):
        return {}
    if isinstance(like, bool):
        return {column: row.flag(column)}
    if isinstance(like, int):
        return {column: row.opt_integer(column)}
    if isinstance(like, float) or like is None:
        return {column: row.opt_number(column)}
    return {column: row.text(column)}


def finding(inp: packinputs.Inputs, devs: list[recompute.Device], root: Path) -> recompute.Finding:
    cmp = recompute.Compare()
    day_list = f.days(inp.start, inp.end, inp.tz)
    connectivity: dict[Key, Figures] = {}
    online_daily: dict[Key, Figures] = {}
    tags_daily: dict[Key, Figures] = {}
    gaps: dict[Key, Figures] = {}
    for d in devs:
        n = d.network
        connectivity[(d.id,)] = {"online_rate": d.online.rate, "state_coverage": d.coverage,
                                 "days_with_data": n.days_with_data, "scheduled_days": n.scheduled_days,
                                 "verified": n.verified}  # fmt: skip
        states = inp.online.get(d.id, [])
        for day in day_list:
            figs = d.day_tags(day.start_ms, day.end_ms)
            online_daily[(day.date, d.id)] = {
                "online_rate": d.day_online(states, day.start_ms, day.end_ms).rate,
                "state_coverage": f.state_coverage(states, day.start_ms, day.end_ms),
                "completeness": f.completeness(figs),
            }
            for t in figs:
                stats = f.gap_stats(t.gaps)
                tags_daily[(day.date, d.id, t.tag)] = {
                    "expected": t.expected, "received": t.received, "received_good": t.received_good,
                    "credited": t.credited, "completeness": t.completeness, "good_ratio": t.good_ratio,
                    "max_gap_s": stats.longest_s, "gaps": stats.count,
                }  # fmt: skip
        for g in d.gaps:
            gaps[(d.id, str(g.start_ms), str(g.end_ms))] = {"duration_s": g.duration_ms / 1000}
    _compare(cmp, CONNECTIVITY, _rows(root, CONNECTIVITY), ("device_id",), connectivity)
    _compare(cmp, ONLINE_DAILY, _rows(root, ONLINE_DAILY), ("date", "device_id"), online_daily)
    _compare(
        cmp, COMPLETENESS_DAILY, _rows(root, COMPLETENESS_DAILY), ("date", "device_id", "tag_id"), tags_daily
    )
    _compare(cmp, GAPS, _rows(root, GAPS), ("device_id", "start_ms", "end_ms"), gaps)
    if not recompute.truncated(inp):
        _compare(cmp, RECONCILIATION, _rows(root, RECONCILIATION), ("date", "device_id"), _deliveries(inp))
    _compare(
        cmp, packinputs.REGISTER, _rows(root, packinputs.REGISTER), ("equipment_id",), _register(inp, cmp)
    )
    return recompute.Finding(
        "结果表复核", "Result tables", cmp.problems, f"{cmp.compared} cells match the recomputation"
    )


def _register(inp: packinputs.Inputs, cmp: recompute.Compare) -> dict[Key, Figures]:
    """What each 设备台账 row derives from its own cells (production, undeclared flags); a row naming
    a connection the pack does not list is a problem."""
    out: dict[Key, Figures] = {}
    for r in inp.register:
        out[(r.equipment,)] = {"production": r.production, "undeclared": " ".join(r.undeclared)}
        if r.networked_via and r.networked_via not in inp.devices:
            cmp.problems.append(
                f"{packinputs.REGISTER}: {r.equipment} names connection {r.networked_via}, "
                f"which {packinputs.CONNECTIONS} does not list"
            )
    return out


def _rows(root: Path, rel: str) -> list[csvio.Row]:
    return csvio.read_csv(root / rel, rel)


def _deliveries(inp: packinputs.Inputs) -> dict[Key, Figures]:
    """入库对账 per local date of the batch start and device (devices that published that day)."""
    by_date: dict[str, list[kpis.RawBatch]] = defaultdict(list)
    for b in recompute.inside_batches(inp):
        by_date[f.local_date(b.from_ms, inp.tz)].append(b)
    landed = [(s.device, s.session, s.seq) for s in inp.samples]
    sinks = packinputs.payloads(inp.entries, "SINK_BATCH")
    counts = kpis.sink_counts(sinks, inp.start, inp.end, lambda ms: f.local_date(ms, inp.tz))
    out: dict[Key, Figures] = {}
    for date, batches in by_date.items():
        for device, d in kpis.reconcile(batches, landed).items():
            if d.published:
                acked, confirmed = counts.get((device, date), (0, 0))
                out[(date, device)] = {"published": d.published, "acked": acked, "confirmed": confirmed,
                                       "landed_tsdb": d.landed, "delivery_ratio": d.ratio,
                                       "missing_seq_ranges": kpis.format_ranges(d.missing)}  # fmt: skip
    return out
