"""A collector killed mid-interval (issue #8): the state interval open at the kill never reaches the
chain as STATE_INTERVAL, while a KPI entry written before the kill already counted it.

The verifier derives the crash from the hash-checked chain (a COLLECTOR_START without a COLLECTOR_STOP
of the previous session), lists the KPI rows it cuts as not recomputable and still checks them against
the chain's KPI entries; a row flagged collector_crash without such a crash fails.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.figures import oee_rows
from collector.evidence.sources import Sources
from collector.evidence.verify import connectivity
from collector.evidence.verify import formulas as f
from collector.evidence.verify import verifier as verify
from collector.ledger import chain
from tests.support import tiny_pack

pytestmark = pytest.mark.unit

T0, S = tiny_pack.T0, tiny_pack.S
OEE = "07_kpi/OEE_按日.csv"
CRASH_AT = T0 + 400 * S  # the new COLLECTOR_START (session 2)


def _entry(seq: int, ts: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "type": kind, "actor": "collector@edge-01", "payload": payload}


def crashed_entries(original: list[dict[str, Any]], key: Ed25519PrivateKey) -> list[dict[str, Any]]:
    """The tiny chain with m1's closed intervals (RUNNING, OFFLINE) as STATE_INTERVAL entries of session 1,
    then — with no COLLECTOR_STOP — a COLLECTOR_START of session 2: m1's IDLE interval from 260 s was
    open at the kill and never written; the KPI entries still count it (as the collector did)."""
    body = [e for e in original if e["type"] != "CHECKPOINT"]
    out: list[dict[str, Any]] = []
    for e in body:
        out.append(_entry(0, e["ts"], e["type"], e["payload"]))
        if e["type"] == "RAW_BATCH" and e["payload"]["to"] == T0 + 300 * S:
            for lo, hi, state, bucket in ((0, 200, "RUNNING", "APT"), (200, 260, "OFFLINE", "UNKNOWN")):
                payload = {"device": "m1", "start": T0 + lo * S, "end": T0 + hi * S, "state": state,
                           "bucket": bucket, "session": 1}  # fmt: skip
                out.append(_entry(0, T0 + hi * S, "STATE_INTERVAL", payload))
            start = {"session": 2, "key_id": tiny_pack.key_id(key), "devices": ["m1", "m2"]}
            out.append(_entry(0, CRASH_AT, "COLLECTOR_START", start))
    prev = chain.GENESIS
    for seq, e in enumerate(out):
        e.update(seq=seq, payload_digest=chain.payload_digest(e["payload"]), prev_hash=prev)
        e["entry_hash"] = prev = chain.entry_hash(e)
    head = out[-1]
    counts: dict[str, int] = {}
    for e in out:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    cp = {"head_seq": head["seq"], "head_hash": head["entry_hash"], "from": tiny_pack.WINDOW[0],
          "to": tiny_pack.WINDOW[1], "counts": counts, "key_id": tiny_pack.key_id(key),
          "alg": "Ed25519"}  # fmt: skip
    cp["signature"] = tiny_pack.sign(key, chain.canonical(chain.checkpoint_body(cp)))
    out.append(tiny_pack._entry(len(out), tiny_pack.WINDOW[1] - 1, "CHECKPOINT", cp, prev))
    return out


def cut_states() -> list[f.StateSpan]:
    """状态时间线 as the builder writes it from the chain: m1's IDLE interval is missing."""
    return [s for s in FULL_STATES if not (s.device == "m1" and s.state == "IDLE")]


FULL_STATES = tiny_pack._states()
FULL_KPIS = tiny_pack._kpis()  # what the collector recorded: IDLE counted as ADOT


def add_flags(root: Path, flag: str) -> None:
    """Append the flags column (标志) to OEE_按日.csv, `flag` on every row (as the builder writes it)."""
    path = root / OEE
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*rows[0], "标志(flags)"])
    for row in rows[1:]:
        writer.writerow([*row, flag])
    path.write_bytes(out.getvalue().encode("utf-8-sig"))


@pytest.fixture
def crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tiny_pack.TinyPack]:
    original = tiny_pack._entries
    monkeypatch.setattr(tiny_pack, "_kpis", lambda: FULL_KPIS)
    monkeypatch.setattr(tiny_pack, "_states", cut_states)
    monkeypatch.setattr(
        tiny_pack, "_entries", lambda key, samples: crashed_entries(original(key, samples), key)
    )
    pack = tiny_pack.build(tmp_path / "evidence_demo_20261125-20261125_v1")
    monkeypatch.undo()
    yield pack


def failing(report: verify.Report) -> dict[str, str]:
    return {c.name_en: c.detail for c in report.checks if not c.ok}


def oee_detail(report: verify.Report) -> str:
    return next(c.detail for c in report.checks if c.name_en == "OEE recomputation")


def test_crashes_are_read_from_the_chain() -> None:
    key = Ed25519PrivateKey.generate()
    entries = crashed_entries(tiny_pack._entries(key, tiny_pack._samples()), key)
    (crash,) = connectivity.crashes(entries)
    start = next(e for e in entries if e["type"] == "COLLECTOR_START" and e["seq"] > 0)
    assert (crash.seq, crash.session, crash.new_session) == (start["seq"], 1, 2)
    assert crash.start_ms == CRASH_AT and crash.last_ms < CRASH_AT
    assert crash.open_from == {"m1": T0 + 260 * S}
    assert crash.cuts("m1", T0, T0 + 600 * S)
    assert not crash.cuts("m1", T0, T0 + 260 * S)  # before m1's last written interval ended
    assert not crash.cuts("m1", CRASH_AT, CRASH_AT + 60 * S)  # after the restart
    assert crash.cuts("m2", T0, T0 + 60 * S)  # m2 wrote no interval in session 1: open since its START
    assert connectivity.crashes(tiny_pack._entries(key, tiny_pack._samples())) == []  # one clean session


def test_a_clean_stop_is_no_crash() -> None:
    def e(seq: int, kind: str, session: int) -> dict[str, Any]:
        return {"seq": seq, "ts": seq * 1000, "type": kind, "payload": {"session": session}}

    clean = [
        e(0, "COLLECTOR_START", 1),
        e(1, "RAW_BATCH", 1),
        e(2, "COLLECTOR_STOP", 1),
        e(3, "COLLECTOR_START", 2),
    ]
    assert connectivity.crashes(clean) == []
    after_stop = [
        e(0, "CHECKPOINT", 1),
        e(1, "COLLECTOR_START", 2),
    ]  # the stop's CHECKPOINT opens the excerpt
    assert connectivity.crashes(after_stop) == []
    mid = [e(0, "RAW_BATCH", 1), e(1, "COLLECTOR_START", 2)]  # the excerpt starts inside session 1
    (crash,) = connectivity.crashes(mid)
    assert (crash.seq, crash.session, crash.new_session, crash.last_ms) == (1, 1, 2, 0)


def test_the_builder_flags_the_rows_a_crash_cuts() -> None:
    key = Ed25519PrivateKey.generate()

    class Src:
        def __init__(self, entries: list[dict[str, Any]]) -> None:
            self.entries, self.device_ids = entries, ["m1", "m2"]

        def of_type(self, *types: str) -> Iterator[dict[str, Any]]:
            return (e for e in self.entries if e["type"] in types)

    plain = tiny_pack._entries(key, tiny_pack._samples())
    rows = oee_rows(cast(Sources, Src(crashed_entries(plain, key))))
    assert [(r.device, r.flags) for r in rows] == [("m1", ("collector_crash",)), ("m2", ("collector_crash",))]
    assert all(r.flags == () for r in oee_rows(cast(Sources, Src(plain))))


def test_a_crashed_run_verifies_with_the_cut_rows_listed(crashed: tiny_pack.TinyPack) -> None:
    add_flags(crashed.root, "collector_crash")
    crashed.reseal()
    report = verify.verify_pack(crashed.root)
    assert failing(report) == {}, verify.render(report)
    detail = oee_detail(report)
    lines = (crashed.root / "11_audit" / "audit_chain.jsonl").read_bytes().decode("utf-8").splitlines()
    seq = next(c.seq for c in connectivity.crashes(json.loads(line) for line in lines))
    assert f"2 rows not recomputable: collector crash at seq {seq}" in detail, detail


def test_unflagged_rows_follow_the_chain(crashed: tiny_pack.TinyPack) -> None:
    """A pack without the flags column (an older builder): the chain decides, not the flag."""
    report = verify.verify_pack(crashed.root)
    assert failing(report) == {}, verify.render(report)
    assert "2 rows not recomputable" in oee_detail(report)


def test_the_same_timeline_without_a_crash_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The KPI entries count m1's IDLE interval, the timeline lacks it, and no crash explains it."""
    monkeypatch.setattr(tiny_pack, "_kpis", lambda: FULL_KPIS)
    monkeypatch.setattr(tiny_pack, "_states", cut_states)
    pack = tiny_pack.build(tmp_path / "evidence_demo_20261125-20261125_v1")
    monkeypatch.undo()
    detail = failing(verify.verify_pack(pack.root)).get("OEE recomputation", "")
    assert "ADOT_h" in detail, detail


def test_a_cut_row_still_matches_the_chain_kpi_entry(crashed: tiny_pack.TinyPack) -> None:
    add_flags(crashed.root, "collector_crash")
    path = crashed.root / OEE
    text = path.read_bytes().decode("utf-8-sig")
    adot = f"{FULL_KPIS['m1']['times']['adot'] / 3600!r}"
    assert adot in text
    path.write_bytes(text.replace(adot, "0.5", 1).encode("utf-8-sig"))
    crashed.reseal()
    detail = failing(verify.verify_pack(crashed.root)).get("OEE recomputation", "")
    assert "ADOT_h" in detail, detail


def test_a_crash_flag_without_a_crash_in_the_chain_fails(tmp_path: Path) -> None:
    pack = tiny_pack.build(tmp_path / "evidence_demo_20261125-20261125_v1")
    add_flags(pack.root, "collector_crash")
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root)).get("OEE recomputation", "")
    assert "flagged collector_crash but the chain records no crash" in detail, detail
