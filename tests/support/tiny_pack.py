"""A tiny but complete evidence pack written straight to the pack format (the verifier's contract).

Two devices over ten minutes: m1 polls two tags and drops out for 60 s (a gap and an OFFLINE span),
m2 reports on change with a 60 s heartbeat. The chain holds COLLECTOR_START, RAW_BATCH per minute
(three published m1 readings never landed), a REPLAY, KPI entries and a signed CHECKPOINT. summary.json
is computed with the shared formulas, so an intact pack verifies; tests then break it on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.pack import copy_verifier
from collector.evidence.verify import csvio, indicators, kpis
from collector.evidence.verify import formulas as f
from collector.evidence.verify import verifier as verify
from collector.ledger import chain

T0 = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp() * 1000)  # 08:00+08:00
S = 1000
WINDOW = (T0, T0 + 600 * S)
TZ = "+08:00"
LOST = {("m1", 1, 120), ("m1", 1, 121), ("m1", 1, 122)}  # published but never landed
RAW_COLUMNS = [
    ("接收时间(毫秒)", "ts_receive_ms"), ("源时间(毫秒)", "ts_source_ms"), ("设备编号", "device_id"),
    ("数据点", "tag_id"), ("值", "value"), ("单位", "unit"), ("状态码", "status_code_hex"),
    ("质量", "severity"), ("会话", "session"), ("序号", "seq"),
]  # fmt: skip


@dataclass
class TinyPack:
    root: Path
    key: Ed25519PrivateKey

    def reseal(self, key: Ed25519PrivateKey | None = None) -> None:
        reseal(self.root, key or self.key)


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PrivateKey) -> str:
    return chain.key_id_from_public_pem(public_pem(key))


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def dump(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def seal(root: Path, key: Ed25519PrivateKey) -> None:
    """manifest.json over every other file, manifest.sig by `key` (like the builder does)."""
    header = {
        "format": "shopfloor-evidence/1", "generator": "tiny-pack", "created_ms": WINDOW[1],
        "window": {"from_ms": WINDOW[0], "to_ms": WINDOW[1], "tz": TZ}, "enterprise": "demo", "site": "s1",
        "config_hash": "sha256:00",
    }  # fmt: skip
    _sign_manifest(root, key, header)


def reseal(root: Path, key: Ed25519PrivateKey) -> None:
    """Re-hash every file and re-sign any pack with `key`, keeping its manifest header: what a forger
    with write access does after changing files (only the chain and checkpoints can still tell)."""
    header = json.loads((root / verify.MANIFEST).read_bytes())
    _sign_manifest(root, key, {k: v for k, v in header.items() if k not in ("files", "key_id")})


def _sign_manifest(root: Path, key: Ed25519PrivateKey, header: Mapping[str, Any]) -> None:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in (verify.MANIFEST, verify.SIGNATURE) or "__pycache__" in rel:
            continue
        data = path.read_bytes()
        files.append({"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {**header, "key_id": key_id(key), "files": files}
    data = dump(manifest)
    (root / verify.MANIFEST).write_bytes(data)
    sig = {"alg": "Ed25519", "key_id": key_id(key), "signature": sign(key, data)}
    (root / verify.SIGNATURE).write_bytes(dump(sig))


def _samples() -> list[f.Sample]:
    out: list[f.Sample] = []
    seq = {"m1": 0, "m2": 0}
    for t in range(600):
        for tag, period in (("a", 1), ("b", 5)):
            if t % period == 0 and not 200 <= t < 260:
                out.append(f.Sample("m1", tag, T0 + t * S + 7, 0, 1, seq["m1"], T0 + t * S))
                seq["m1"] += 1
        if t == 199:  # the read that failed as the device went away
            out.append(f.Sample("m1", "a", T0 + t * S + 500, 0x80310000, 1, seq["m1"]))
            seq["m1"] += 1
        if t % 30 == 15:
            out.append(f.Sample("m2", "c", T0 + t * S + 3, 0, 1, seq["m2"], T0 + t * S))
            seq["m2"] += 1
    return out


def _entries(key: Ed25519PrivateKey, samples: list[f.Sample]) -> list[dict[str, Any]]:
    payloads: list[tuple[int, str, dict[str, Any]]] = [
        (WINDOW[0], "COLLECTOR_START", {"session": 1, "key_id": key_id(key), "devices": ["m1", "m2"]})
    ]
    for minute in range(10):
        lo, hi = T0 + minute * 60 * S, T0 + (minute + 1) * 60 * S
        devices = {}
        for dev in ("m1", "m2"):
            seqs = [s.seq for s in samples if s.device == dev and lo <= s.ts_ms < hi]
            if seqs:
                devices[dev] = {"seq_first": min(seqs), "seq_last": max(seqs), "count": len(seqs)}
        payloads.append((hi, "RAW_BATCH", {"session": 1, "from": lo, "to": hi, "devices": devices}))
        confirmed = {
            d: {"accepted": p["count"], "acked": p["count"], "confirmed": p["count"]}
            for d, p in devices.items()
        }
        payloads.append((hi, "SINK_BATCH", {"sink": "mqtt", "from": lo, "to": hi, "devices": confirmed}))
    payloads.append((T0 + 300 * S, "REPLAY", {"sink": "mqtt", "started": T0 + 260 * S, "ended": T0 + 300 * S,
                                              "records": 42, "by_device": {"m1": 40, "m2": 2}}))  # fmt: skip
    for dev, payload in _kpis().items():
        payloads.append((WINDOW[1] - 1, "KPI", {"device": dev, **payload}))
    entries: list[dict[str, Any]] = []
    prev = chain.GENESIS
    for seq, (ts, kind, payload) in enumerate(payloads):
        entries.append(_entry(seq, ts, kind, payload, prev))
        prev = entries[-1]["entry_hash"]
    head = entries[-1]
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    cp = {"head_seq": head["seq"], "head_hash": head["entry_hash"], "from": WINDOW[0], "to": WINDOW[1],
          "counts": counts, "key_id": key_id(key), "alg": "Ed25519"}  # fmt: skip
    cp["signature"] = sign(key, chain.canonical(chain.checkpoint_body(cp)))
    entries.append(_entry(len(entries), WINDOW[1] - 1, "CHECKPOINT", cp, prev))
    return entries


def _entry(seq: int, ts: int, kind: str, payload: Mapping[str, Any], prev: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "seq": seq, "ts": ts, "type": kind, "actor": "collector@edge-01", "payload": dict(payload),
        "payload_digest": chain.payload_digest(dict(payload)), "prev_hash": prev,
    }  # fmt: skip
    entry["entry_hash"] = chain.entry_hash(entry)
    return entry


def _plan() -> list[f.PlanSegment]:
    return [
        f.PlanSegment("", T0, T0 + 300 * S, "PBT"),
        f.PlanSegment("", T0 + 300 * S, T0 + 330 * S, "PDOT"),
        f.PlanSegment("", T0 + 330 * S, WINDOW[1], "PBT"),
    ]


def _states() -> list[f.StateSpan]:
    return [
        f.StateSpan("m1", T0, T0 + 200 * S, "RUNNING", "APT"),
        f.StateSpan("m1", T0 + 200 * S, T0 + 260 * S, "OFFLINE", "UNKNOWN"),
        f.StateSpan("m1", T0 + 260 * S, WINDOW[1], "IDLE", "ADOT"),
        f.StateSpan("m2", T0, WINDOW[1], "RUNNING", "APT"),
    ]


QTY = {"m1": (40, 38, 4.0), "m2": (100, 100, 5.0)}  # PQ, GQ, PRI


def _kpis() -> dict[str, dict[str, Any]]:
    out = {}
    for dev, (pq, gq, pri) in QTY.items():
        te = kpis.time_elements(_states(), _plan(), dev, *WINDOW)
        o = kpis.oee(te.apt, te.pbt, kpis.ideal_time(pri, pq), pq, gq)
        out[dev] = {
            "period": "day", "label": "2026-11-25", "start": WINDOW[0], "end": WINDOW[1],
            "times": {"pot": te.pot, "pdot": te.pdot, "pbt": te.pbt, "apt": te.apt, "aust": te.aust,
                      "adet": te.adet, "adot": te.adot, "unknown": te.unknown},
            "qty": {"pq": pq, "gq": gq, "sq": pq - gq}, "pri_s": pri,
            "a": o.a, "e": o.e, "qr": o.qr, "oee": o.oee,
        }  # fmt: skip
    return out


SPECS = [
    f.TagSpec("m1", "a", "poll", 1000, None, True),
    f.TagSpec("m1", "b", "poll", 5000, None, True),
    f.TagSpec("m2", "c", "on_change", 1000, 60_000, True),
]
DEVICES = ("m1", "m2")
REGISTER = [  # m3 is not connected; m4 is a meter, outside the production equipment
    indicators.RegisterEntry("m1", "production", None, True, True, True, True, "turning", "m1"),
    indicators.RegisterEntry("m2", "production", None, True, None, False, None, "", "m2"),
    indicators.RegisterEntry("m3", "", None, None, None, True, None, "grinding", ""),
    indicators.RegisterEntry("m4", "metering", None, True, None, None, None, "", ""),
]


def _write_csvs(root: Path, samples: list[f.Sample]) -> None:
    for dev in ("m1", "m2"):
        rows = [
            [s.ts_ms, s.source_ts_ms, s.device, s.tag, 1.5, "mm", f"0x{s.status:08X}", f.severity(s.status),
             s.session, s.seq]
            for s in samples
            if s.device == dev and (s.device, s.session, s.seq) not in LOST
        ]  # fmt: skip
        csvio.write_csv(root / "05_raw_samples" / f"{dev}.csv", RAW_COLUMNS, rows)
    csvio.write_csv(
        root / "03_datapoints" / "数据采集点清单.csv",
        [("数据点编号", "tag_id"), ("设备编号", "device_id"), ("采集方式", "method"),
         ("周期(毫秒)", "period_ms"), ("心跳(毫秒)", "heartbeat_ms"), ("应采集", "required")],
        [[s.tag, s.device, s.method, s.period_ms, s.heartbeat_ms, s.required] for s in SPECS],
    )  # fmt: skip
    csvio.write_csv(
        root / "06_state" / "状态时间线.csv",
        [("设备编号", "device_id"), ("开始(毫秒)", "start_ms"), ("结束(毫秒)", "end_ms"), ("状态", "state"),
         ("ISO 22400时间要素", "iso22400_bucket")],
        [[s.device, s.start_ms, s.end_ms, s.state, s.bucket] for s in _states()],
    )  # fmt: skip
    csvio.write_csv(
        root / "07_kpi" / "计划日历.csv",
        [("设备编号", "device_id"), ("开始(毫秒)", "start_ms"), ("结束(毫秒)", "end_ms"), ("类型", "kind")],
        [[g.device, g.start_ms, g.end_ms, g.kind] for g in _plan()],
    )
    undeclared = "未申报"
    csvio.write_csv(
        root / "01_device_register" / "设备台账.csv",
        [("设备编号", "equipment_id"), ("设备类别", "category"),
         ("计入生产设备(申报)", "counts_as_production"), ("生产设备", "production"), ("工序", "process"),
         ("是否关键工序", "is_key_process"),
         ("是否数字化设备", "is_digital"), ("是否数控设备", "is_nc"), ("是否联网(申报)", "is_networked"),
         ("联网接入设备", "networked_via"), ("未申报项", "undeclared")],
        [[r.equipment, r.category or undeclared, r.counts_as_production, r.production, r.process,
          undeclared if r.is_key_process is None else r.is_key_process,
          undeclared if r.is_digital is None else r.is_digital, undeclared if r.is_nc is None else r.is_nc,
          r.is_networked, r.networked_via, " ".join(r.undeclared)] for r in REGISTER],
    )  # fmt: skip
    csvio.write_csv(
        root / "01_device_register" / "接入设备清单.csv",
        [("设备编号", "device_id"), ("在线依据", "online_basis")],
        [[dev, "state"] for dev in DEVICES],
    )
    oee_cols = [("日期", "date"), ("设备编号", "device_id"), ("周期", "period"), ("标签", "label"),
                ("开始(毫秒)", "start_ms"), ("结束(毫秒)", "end_ms")]  # fmt: skip
    oee_cols += [(c, f"{c}_h") for c in ("POT", "PDOT", "PBT", "APT", "AUST", "ADET", "ADOT", "UNKNOWN")]
    oee_cols += [(c, c) for c in ("PQ", "GQ", "PRI_s", "A", "E", "QR", "OEE")]
    oee_rows: list[list[csvio.Cell]] = []
    for dev, p in _kpis().items():
        t, q = p["times"], p["qty"]
        hours = [t[k] / 3600 for k in ("pot", "pdot", "pbt", "apt", "aust", "adet", "adot", "unknown")]
        oee_rows.append(["2026-11-25", dev, "day", p["label"], p["start"], p["end"], *hours, q["pq"], q["gq"],
                         p["pri_s"], p["a"], p["e"], p["qr"], p["oee"]])  # fmt: skip
    csvio.write_csv(root / "07_kpi" / "OEE_按日.csv", oee_cols, oee_rows)


RESULT_TABLES = {
    "conn": ("02_connectivity/联网核验.csv",
             ("device_id", "online_rate", "state_coverage", "days_with_data", "scheduled_days", "verified")),
    "daily": ("02_connectivity/在线率_按日.csv",
              ("date", "device_id", "online_rate", "state_coverage", "completeness")),
    "tags": ("04_completeness/采集完整率_按日.csv",
             ("date", "device_id", "tag_id", "expected", "received", "received_good", "credited",
              "completeness", "good_ratio", "max_gap_s", "gaps")),
    "gaps": ("04_completeness/断点记录.csv", ("device_id", "start_ms", "end_ms", "duration_s")),
    "delivery": ("04_completeness/入库对账.csv",
                 ("date", "device_id", "published", "acked", "confirmed", "landed_tsdb", "missing_seq_ranges",
                  "delivery_ratio")),
}  # fmt: skip


def _summary(root: Path, samples: list[f.Sample], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json, and the result tables (02_connectivity, 04_completeness) beside it."""
    lo, hi = WINDOW
    landed = [s for s in samples if (s.device, s.session, s.seq) not in LOST]
    tz = f.parse_tz(TZ)
    day_list = f.days(lo, hi, tz)
    batches = [b for e in entries if e["type"] == "RAW_BATCH" for b in kpis.raw_batches(e["payload"])]
    delivery = kpis.reconcile(batches, [(s.device, s.session, s.seq) for s in landed])
    devices, days, onlines, all_tags, all_gaps, verified = [], [], [], [], [], []
    tables: dict[str, list[list[csvio.Cell]]] = {name: [] for name in RESULT_TABLES}
    for dev in DEVICES:
        mine = [s for s in landed if s.device == dev and lo <= s.ts_ms < hi]
        specs = [s for s in SPECS if s.device == dev]
        states = [s for s in _states() if s.device == dev]
        judged = f.judged_spans(_plan(), states, dev, lo, hi)
        tags = [f.tag_figures(spec, [s for s in mine if s.tag == spec.tag], lo, hi, judged) for spec in specs]
        online = f.online(states, judged)
        gaps = f.device_gaps(specs, mine, lo, hi, judged)
        stats = f.gap_stats(gaps)
        net = f.network_check(online.rate, [s.ts_ms for s in mine if s.good], judged, day_list)
        onlines.append(online)
        all_tags += tags
        all_gaps += gaps
        if net.verified:
            verified.append(dev)
        d = delivery[dev]
        coverage = f.state_coverage(states, lo, hi)
        tables["conn"].append(
            [dev, online.rate, coverage, net.days_with_data, net.scheduled_days, net.verified]
        )
        tables["gaps"] += [[dev, g.start_ms, g.end_ms, g.duration_ms / 1000] for g in gaps]
        sinks = [e["payload"] for e in entries if e["type"] == "SINK_BATCH"]
        acked, confirmed = kpis.sink_counts(sinks, lo, hi, lambda ms: f.local_date(ms, tz)).get(
            (dev, "2026-11-25"), (0, 0)
        )
        tables["delivery"].append(
            [
                "2026-11-25",
                dev,
                d.published,
                acked,
                confirmed,
                d.landed,
                kpis.format_ranges(d.missing),
                d.ratio,
            ]
        )
        devices.append({
            "id": dev, "state_coverage": f.state_coverage(states, lo, hi), "online_rate": online.rate,
            "completeness": f.completeness(tags), "good_ratio": f.good_ratio(mine), "gaps": stats.count,
            "gap_s": stats.total_s, "longest_gap_s": stats.longest_s, "replayed": {"m1": 40, "m2": 2}[dev],
            "published": d.published, "landed": d.landed, "delivery_ratio": d.ratio, "verified": net.verified,
            "first_seen_ms": min(s.ts_ms for s in mine), "last_seen_ms": max(s.ts_ms for s in mine),
            "latency_p50_ms": kpis.percentile([float(v) for v in kpis.latencies(mine)], 50),
            "latency_p95_ms": kpis.percentile([float(v) for v in kpis.latencies(mine)], 95),
        })  # fmt: skip
        for day in day_list:
            day_tags = [
                f.tag_figures(s, [x for x in mine if x.tag == s.tag], day.start_ms, day.end_ms, judged)
                for s in specs
            ]
            day_online = f.online(states, f.clip(judged, day.start_ms, day.end_ms))
            days.append({"date": day.date, "device": dev, "online_rate": day_online.rate,
                         "completeness": f.completeness(day_tags)})  # fmt: skip
            day_coverage = f.state_coverage(states, day.start_ms, day.end_ms)
            tables["daily"].append([day.date, dev, day_online.rate, day_coverage, f.completeness(day_tags)])
            for t in day_tags:
                st = f.gap_stats(t.gaps)
                counts = [t.expected, t.received, t.received_good, t.credited]
                tables["tags"].append(
                    [day.date, dev, t.tag, *counts, t.completeness, t.good_ratio, st.longest_s, st.count]
                )
    ind = indicators.indicators(REGISTER, verified)
    oee_rows = [
        kpis.OeeInputs(
            p["times"]["pbt"], p["times"]["apt"], p["pri_s"] * p["qty"]["pq"], p["qty"]["pq"], p["qty"]["gq"]
        )
        for p in _kpis().values()
    ]
    stats = f.gap_stats(all_gaps)
    published = sum(d.published for d in delivery.values())
    landed_n = sum(d.landed for d in delivery.values())
    headline = {
        **ind.headline(),
        "auto_collection_rate": indicators.auto_collection(SPECS, all_tags).rate,
        "key_process_nc_rate": ind.key_process_nc_rate, "completeness": f.completeness(all_tags),
        "online_rate": f.online_total(onlines).rate,
        "good_ratio": f.good_ratio(s for s in landed if lo <= s.ts_ms < hi),
        "gaps": stats.count, "gap_s": stats.total_s, "replayed": 42, "published": published,
        "landed": landed_n,
        "delivery_ratio": f.ratio(landed_n, published), "oee": kpis.oee_total(oee_rows).oee,
    }  # fmt: skip
    oee = [{"device": dev, "period": "day", "label": p["label"], "a": p["a"], "e": p["e"], "qr": p["qr"],
            "oee": p["oee"]} for dev, p in _kpis().items()]  # fmt: skip
    for name, (rel, columns) in RESULT_TABLES.items():
        csvio.write_csv(root / rel, [(c, c) for c in columns], tables[name])
    return {"format": "shopfloor-evidence-summary/1", "tz": TZ, "window": {"from_ms": lo, "to_ms": hi},
            "headline": headline, "devices": devices, "days": days, "oee": oee,
            "raw": {"truncated": False, "rows": len(landed)},
            "gaps": [{"device": g.device, "start_ms": g.start_ms, "end_ms": g.end_ms}
                     for g in all_gaps]}  # fmt: skip


def build(root: Path, key: Ed25519PrivateKey | None = None) -> TinyPack:
    """Write the tiny pack into `root` (created) and seal it; returns it with its signing key."""
    key = key or Ed25519PrivateKey.generate()
    root.mkdir(parents=True, exist_ok=True)
    samples = _samples()
    entries = _entries(key, samples)
    _write_csvs(root, samples)
    lines = "".join(
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for e in entries
    )
    (root / "11_audit").mkdir()
    (root / "11_audit" / "audit_chain.jsonl").write_bytes(lines.encode("utf-8"))
    (root / "11_audit" / "anchor.json").write_bytes(dump({"first_seq": 0, "prev_hash": chain.GENESIS}))
    cps = root / "checkpoints"
    cps.mkdir()
    (cps / "signing_key.pub.pem").write_bytes(public_pem(key))
    for e in entries:
        if e["type"] == "CHECKPOINT":
            (cps / f"checkpoint-{e['seq']}.json").write_bytes(dump(e))
    head = entries[-1]
    pack_head = {"head_seq": head["seq"], "head_hash": head["entry_hash"], "from": WINDOW[0], "to": WINDOW[1],
                 "counts": {}, "key_id": key_id(key), "alg": "Ed25519"}  # fmt: skip
    pack_head["signature"] = sign(key, chain.canonical(chain.checkpoint_body(pack_head)))
    (cps / "pack-head.json").write_bytes(dump(pack_head))
    (root / "summary.json").write_bytes(dump(_summary(root, samples, entries)))
    (root / "README.html").write_bytes(b"<!doctype html><title>tiny</title>\n")
    copy_verifier(root)
    seal(root, key)
    return TinyPack(root, key)
