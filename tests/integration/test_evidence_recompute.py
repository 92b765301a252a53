"""The pack's figures match numbers recomputed here, independently of collector.evidence: plain csv
parsing, and a brute-force sweep over the elementary intervals between every boundary in the files.

Completeness, online rate and OEE are recomputed from 05_raw_samples, 03_datapoints, 06_state and
07_kpi and compared with summary.json and with the figures README.html prints.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from collector.config import load_plant
from collector.evidence.pack import build_pack
from collector.evidence.verify import verifier as verify
from tests.support import tiny_pack
from tests.support.evidence import now_ms, polls, running, simulated_plant
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration

TOL = 1e-9
Row = dict[str, str]


OUTAGE_MS = 12_000  # longer than the 10 s gap threshold of 200 ms polling


async def outage_run(tmp: Path) -> Path:
    """A real run in which plc-01 stops answering for > 12 s, then recovers; the pack covers it all."""
    async with simulated_plant(tmp) as (plant_file, plc):
        start = now_ms()
        async with running(plant_file) as collector:
            await polls(collector, 5)
            health = collector.engine.workers["plc-01"].health
            await plc.stall()
            await async_wait_for(
                lambda: now_ms() - (health.last_good_ts or 0) > OUTAGE_MS, 60, "a 12 s outage of plc-01"
            )
            await plc.unstall()
            await polls(collector, 5)
        end = now_ms() + 1
    return build_pack(load_plant(plant_file), start - 1000, end, tmp / "packs", make_zip=False).path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return asyncio.run(outage_run(tmp_path_factory.mktemp("evidence-outage")))


def key(cell: str) -> str:
    """A header cell "中文(english)" is keyed by the text in its last parentheses."""
    found = re.search(r"\(([^()]*)\)\s*$", cell)
    return found.group(1) if found else cell


def read(path: Path) -> list[Row]:
    reader = csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""))
    head = [key(h) for h in next(reader)]
    return [dict(zip(head, cells, strict=True)) for cells in reader if cells]


class Pack:
    def __init__(self, root: Path) -> None:
        self.root = root
        window = json.loads((root / "manifest.json").read_bytes())["window"]
        self.lo, self.hi = int(window["from_ms"]), int(window["to_ms"])
        self.summary: dict[str, Any] = json.loads((root / "summary.json").read_bytes())
        self.devices = [r["device_id"] for r in read(root / "01_device_register" / "接入设备清单.csv")]
        self.points = read(root / "03_datapoints" / "数据采集点清单.csv")
        self.raw = [r for p in sorted((root / "05_raw_samples").glob("*.csv")) for r in read(p)]
        self.states = read(root / "06_state" / "状态时间线.csv")
        self.plan = read(root / "07_kpi" / "计划日历.csv")
        self.oee = read(root / "07_kpi" / "OEE_按日.csv")
        chain = [
            json.loads(line)
            for line in (root / "11_audit" / "audit_chain.jsonl").read_text("utf-8").split("\n")
            if line
        ]
        for r in read(root / "01_device_register" / "接入设备清单.csv"):
            if r.get("online_basis") == "connection":  # no state rule: online while connected
                self.states += connected(chain, r["device_id"], self.lo, self.hi)


def connected(chain: list[dict[str, Any]], device: str, lo: int, hi: int) -> list[Row]:
    """Connection rows of a device from the chain, for a window that starts before the collector:
    from DEVICE_CONNECT to DEVICE_DISCONNECT or a collector stop/start, clipped to [lo, hi)."""
    spans: list[tuple[int, int]] = []
    since: int | None = None
    for e in chain:
        mine = e["payload"].get("device") == device
        if e["type"] == "DEVICE_CONNECT" and mine and since is None:
            since = int(e["ts"])
        elif since is not None and (
            (e["type"] == "DEVICE_DISCONNECT" and mine) or e["type"] in ("COLLECTOR_STOP", "COLLECTOR_START")
        ):
            spans.append((since, int(e["ts"])))
            since = None
    if since is not None:
        spans.append((since, hi))
    return [
        {"device_id": device, "start_ms": str(max(a, lo)), "end_ms": str(min(b, hi)), "state": "CONNECTED",
         "iso22400_bucket": "UNKNOWN"}
        for a, b in spans
        if min(b, hi) > max(a, lo)
    ]  # fmt: skip


def good(row: Row) -> bool:
    return int(row["status_code_hex"], 16) >> 30 == 0


def judged(pack: Pack, device: str) -> list[tuple[int, int]]:
    """The device's scheduled (PBT) and powered (no POWER_OFF state row) time, as joined intervals."""
    out: list[tuple[int, int]] = []
    for a, b, flags in elementary(pack, device, pack.lo, pack.hi):
        if flags["pbt"] and not flags["power_off"]:
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
    return out


def tag_counts(pack: Pack, device: str) -> tuple[int, int]:
    """(Σ credited, Σ expected) over the device's judged tags, counted sample by sample over judged time."""
    credited = expected = 0
    spans = judged(pack, device)
    width = sum(b - a for a, b in spans)
    for p in pack.points:
        if p["device_id"] != device:
            continue
        times = sorted(
            int(r["ts_receive_ms"])
            for r in pack.raw
            if r["device_id"] == device and r["tag_id"] == p["tag_id"] and good(r)
            if any(a <= int(r["ts_receive_ms"]) < b for a, b in spans)
        )
        if p["method"] == "poll" and int(p["period_ms"] or 0) > 0:
            n = width // int(p["period_ms"])
            credited, expected = credited + min(len(times), n), expected + n
        elif p["method"] in ("on_change", "subscribe") and int(p["heartbeat_ms"] or 0) > 0:
            beat = int(p["heartbeat_ms"])
            n = width // beat
            missed = 0
            for lo, hi in spans:
                edges = [lo, *(t for t in times if lo <= t < hi), hi]
                for a, b in pairwise(edges):
                    missed += max(0, (b - a) // beat - 1)
            credited, expected = credited + (max(0, n - missed) if times else 0), expected + n
    return credited, expected


def applies(row: Row, device: str) -> bool:
    return row["device_id"] in ("", "*", device)


def elementary(pack: Pack, device: str, lo: int, hi: int) -> list[tuple[int, int, dict[str, bool]]]:
    """The elementary intervals of [lo, hi) between all plan and state boundaries (each lies wholly in or
    out of every row), with what holds on each."""
    rows = [r for r in pack.plan if applies(r, device)] + [r for r in pack.states if r["device_id"] == device]
    cuts = {lo, hi} | {int(r[k]) for r in rows for k in ("start_ms", "end_ms") if lo < int(r[k]) < hi}
    out = []
    for a, b in pairwise(sorted(cuts)):

        def inside(r: Row, a: int = a) -> bool:
            return int(r["start_ms"]) <= a < int(r["end_ms"])

        kinds = {r["kind"] for r in pack.plan if applies(r, device) and inside(r)}
        here = [r for r in pack.states if r["device_id"] == device and inside(r)]
        assert len(here) <= 1, f"{device}: overlapping state rows at {a}"
        out.append((a, b, {
            "pbt": "PBT" in kinds, "pdot": "PDOT" in kinds,
            "online": bool(here) and here[0]["state"] != "OFFLINE",
            "apt": bool(here) and here[0]["iso22400_bucket"] == "APT",
            "power_off": bool(here) and here[0].get("sub_state") == "POWER_OFF",
        }))  # fmt: skip
    return out


def sweep(pack: Pack, device: str, lo: int, hi: int) -> dict[str, int]:
    """ms of [lo, hi) that are scheduled (PBT), judged (PBT and powered), planned down (PDOT), online in
    judged time, and APT inside POT."""
    out: dict[str, int] = defaultdict(int)
    for a, b, x in elementary(pack, device, lo, hi):
        out["pbt"] += (b - a) * x["pbt"]
        out["judged"] += (b - a) * (x["pbt"] and not x["power_off"])
        out["pdot"] += (b - a) * x["pdot"]
        out["online_in_pbt"] += (b - a) * (x["online"] and x["pbt"] and not x["power_off"])
        out["apt"] += (b - a) * (x["apt"] and (x["pbt"] or x["pdot"]))
    return out


def close(reported: object, computed: float | None) -> bool:
    if computed is None or reported is None:
        return reported is None and computed is None
    assert isinstance(reported, int | float)
    return abs(reported - computed) <= TOL


def ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def check_pack(pack: Pack) -> dict[str, float | None]:
    head, rows = pack.summary["headline"], {d["id"]: d for d in pack.summary["devices"]}
    total_c = total_e = online = scheduled = 0
    for dev in pack.devices:
        c, e = tag_counts(pack, dev)
        s = sweep(pack, dev, pack.lo, pack.hi)
        assert close(rows[dev]["completeness"], ratio(c, e)), dev
        assert close(rows[dev]["online_rate"], ratio(s["online_in_pbt"], s["judged"])), dev
        total_c, total_e = total_c + c, total_e + e
        online, scheduled = online + s["online_in_pbt"], scheduled + s["judged"]
    figures = {"completeness": ratio(total_c, total_e), "online_rate": ratio(online, scheduled)}
    assert close(head["completeness"], figures["completeness"])
    assert close(head["online_rate"], figures["online_rate"])
    figures["oee"] = check_oee(pack)
    assert close(head["oee"], figures["oee"])
    return figures


def check_oee(pack: Pack) -> float | None:
    """Each OEE row inside the window from the sweep; the headline aggregates the day rows' elements."""
    listed = {(o["device"], o["period"], o["label"]): o for o in pack.summary["oee"]}
    sums = defaultdict(float)
    # the headline aggregates the day rows, or the pack-window rows when there is no day row
    basis = "day" if any(r["period"] == "day" for r in pack.oee) else "window"
    for row in pack.oee:
        start, end = int(row["start_ms"]), int(row["end_ms"])
        if not pack.lo <= start < end <= pack.hi:
            continue
        s = sweep(pack, row["device_id"], start, end)
        pq, gq, pri = int(row["PQ"]), int(row["GQ"]), float(row["PRI_s"])
        a, e, qr = ratio(s["apt"], s["pbt"]), ratio(pri * pq * 1000, s["apt"]), ratio(gq, pq)
        oee = None if None in (a, e, qr) else a * e * qr  # type: ignore[operator]
        entry = listed[(row["device_id"], row["period"], row["label"])]
        for key, value in (("a", a), ("e", e), ("qr", qr), ("oee", oee)):
            assert close(entry[key], value), (row["device_id"], key)
            assert close(float(row[key.upper()]) if row[key.upper()] else None, value)
        if row["period"] == "window":
            assert (start, end) == (pack.lo, pack.hi)
            assert pq == parts_made(pack, row["device_id"])
        if row["period"] == basis:
            for key, value in (("pbt", s["pbt"]), ("apt", s["apt"]), ("ideal", pri * pq * 1000)):
                sums[key] += value
            sums["pq"] += pq
            sums["gq"] += gq
    a, e, qr = (
        ratio(sums["apt"], sums["pbt"]),
        ratio(sums["ideal"], sums["apt"]),
        ratio(sums["gq"], sums["pq"]),
    )
    return None if None in (a, e, qr) else a * e * qr  # type: ignore[operator]


def parts_made(pack: Pack, device: str) -> int:
    """Parts counted by the device's counters between their readings in the window (no wrap or reset
    in a short run: the sum of the rises), from 计数器.csv and the raw samples."""
    total = 0
    for c in read(pack.root / "07_kpi" / "计数器.csv"):
        if c["device_id"] != device or c["role"] != "all":
            continue
        values = [
            int(float(r["value"]))
            for r in sorted(pack.raw, key=lambda r: int(r["ts_receive_ms"]))
            if r["device_id"] == device and r["tag_id"] == c["tag_id"] and good(r)
            if pack.lo <= int(r["ts_receive_ms"]) < pack.hi
        ]
        total += sum(max(0, b - a) for a, b in pairwise(values))
    return total


def printed(html: str, label: str) -> str:
    """The first figure README.html prints after `label` (a percentage, or the em dash for none)."""
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(svg|style)\b.*?</\1>", " ", html, flags=re.S))
    found = re.search(re.escape(label) + r"\s+(\d+\.\d+%|—)", text)
    assert found, f"README.html prints no figure after {label!r}"
    return found.group(1)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def test_real_pack_figures_match_an_independent_recomputation(built: Path) -> None:
    pack = Pack(built)
    assert pack.raw and pack.states and pack.plan  # a real run with data, states and a calendar
    plc = {d["id"]: d for d in pack.summary["devices"]}["plc-01"]
    assert plc["gaps"] >= 1 and plc["longest_gap_s"] > OUTAGE_MS / 1000  # the outage shows as a gap…
    assert any(r["device_id"] == "plc-01" and r["state"] == "OFFLINE" for r in pack.states)  # …and OFFLINE
    report = verify.verify_pack(built)
    assert report.ok, verify.render(report)
    figures = check_pack(pack)
    html = (built / "README.html").read_text(encoding="utf-8")
    assert printed(html, "Sample completeness") == pct(figures["completeness"])
    assert printed(html, "Online rate") == pct(figures["online_rate"])
    assert printed(html, "Overall equipment effectiveness") == pct(figures["oee"])


def test_on_change_tags_and_oee_rows_match(tmp_path: Path) -> None:
    """The tiny pack has what a short real run lacks: an on_change tag, a gap, a break and OEE rows."""
    pack = Pack(tiny_pack.build(tmp_path / "tiny").root)
    assert any(p["method"] == "on_change" for p in pack.points) and pack.oee
    figures = check_pack(pack)
    # Hand check of the online rate: each device is scheduled 600 − 30 s (break) = 570 s; m1 is
    # OFFLINE 200–260 s (all in PBT) → 510 s online, m2 online throughout → (510 + 570) / 1140.
    assert figures["online_rate"] == pytest.approx(1080 / 1140, abs=TOL)
