"""`build_pack` and `shopfloor evidence build|verify` on a pack from a real short run
(Modbus simulators → collector with its ledger → embedded SQLite historian)."""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector import ledger
from collector.cli import main
from collector.config import load_plant
from collector.config.sinks import Storage, StoreBackend
from collector.evidence import budget
from collector.evidence.pack import PackResult, build_pack
from collector.evidence.store_reader import StoreUnavailable, count_samples, read_samples
from collector.evidence.verify.csvio import read_csv
from collector.evidence.verify.verifier import verify_pack
from collector.evidence.window import parse_time
from tests.support.evidence import plant_text, sample_pack, write_plant
from tests.support.net import free_port

pytestmark = pytest.mark.integration

LAYOUT = [
    "README.html", "summary.json", "manifest.json", "manifest.sig",
    "checkpoints/signing_key.pub.pem", "checkpoints/pack-head.json", "verify/__main__.py",
    "verify/formulas.py",
    "verify/vendor/chain.py",
    "01_device_register/设备台账.csv", "01_device_register/接入设备清单.csv", "07_kpi/日历例外.csv",
    "02_connectivity/联网核验.csv", "02_connectivity/在线率_按日.csv",
    "03_datapoints/数据采集点清单.csv", "04_completeness/采集完整率_按日.csv", "04_completeness/断点记录.csv",
    "04_completeness/断网续传记录.csv", "04_completeness/入库对账.csv", "05_raw_samples/plc-01.csv",
    "05_raw_samples/meter-01.csv", "06_state/状态时间线.csv", "06_state/状态汇总_按日.csv",
    "06_state/状态规则.json",
    "07_kpi/OEE_按日.csv", "07_kpi/计划日历.csv", "07_kpi/标准节拍.csv", "07_kpi/计数器.csv",
    "07_kpi/计数器事件.csv",
    "10_timesync/时钟同步记录.csv", "11_audit/audit_chain.jsonl", "11_audit/anchor.json",
    "12_config/collector_config.redacted.yaml", "14_crosswalk/指标对照表.md",
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> PackResult:
    return sample_pack(tmp_path_factory.mktemp("evidence"), n_polls=10)


def test_layout_manifest_and_headers(built: PackResult) -> None:
    pack = built.path
    assert pack.name.startswith("evidence_ACME01_") and pack.name.endswith("_v1")
    missing = [rel for rel in LAYOUT if not (pack / rel).is_file()]
    assert not missing
    manifest = json.loads((pack / "manifest.json").read_bytes())
    listed = [f["path"] for f in manifest["files"]]
    on_disk = sorted(p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file())
    assert listed == sorted(listed) == [p for p in on_disk if p not in ("manifest.json", "manifest.sig")]
    assert manifest["format"] == "shopfloor-evidence/1" and manifest["key_id"].startswith("ed25519:")
    for csv_path in pack.rglob("*.csv"):
        head = csv_path.read_bytes().split(b"\r\n", 1)[0]
        assert head.startswith(b"\xef\xbb\xbf"), csv_path  # BOM for Excel
        cells = head.decode("utf-8-sig").split(",")
        assert all(c.endswith(")") and "(" in c for c in cells), (csv_path, cells)


def test_verify_passes_and_figures_come_from_the_raw_samples(built: PackResult) -> None:
    report = verify_pack(built.path)
    assert all(c.ok for c in report.checks), [(c.name_en, c.detail) for c in report.checks if not c.ok]
    pack, summary = built.path, built.summary
    window = summary["window"]
    # independent recount: good rows per tag vs ⌊window / period⌋ from the data-point register
    periods = {(r.text("device_id"), r.text("tag_id")): r.integer("period_ms") for r in
               read_csv(pack / "03_datapoints" / "数据采集点清单.csv")}  # fmt: skip
    good: Counter[tuple[str, str]] = Counter()
    for raw in (pack / "05_raw_samples").glob("*.csv"):
        for row in read_csv(raw):
            if (
                row.text("severity") == "Good"
                and window["from_ms"] <= row.integer("ts_receive_ms") < window["to_ms"]
            ):
                good[(row.text("device_id"), row.text("tag_id"))] += 1
    span = window["to_ms"] - window["from_ms"]
    expected = {k: span // p for k, p in periods.items()}
    credited = sum(min(good[k], n) for k, n in expected.items())
    assert summary["headline"]["completeness"] == pytest.approx(credited / sum(expected.values()), abs=1e-12)
    head = summary["headline"]
    assert head["published"] == head["landed"] > 0 and head["delivery_ratio"] == 1.0
    # the register: the lathe and the unconnected grinder are production equipment, the meter is not
    assert (head["register_rows"], head["devices_total"], head["key_processes"]) == (3, 2, 1)
    assert head["declared_networked"] == 1 and head["verified_networked"] <= 1
    assert (
        head["undeclared_category"],
        head["undeclared_is_digital"],
        head["undeclared_is_key_process"],
    ) == (1, 1, 1)
    register = {r.text("equipment_id"): r for r in read_csv(pack / "01_device_register" / "设备台账.csv")}
    assert register["MC-02"].text("is_digital") == "未申报" and register["MC-02"].text("networked_via") == ""
    assert register["MC-02"].text("undeclared") == "category is_digital is_key_process"
    assert register["DB-01"].text("production") == "false"
    # the meter has no state rule: its online time is its connection time from the chain
    devices = {d["id"]: d for d in summary["devices"]}
    assert devices["meter-01"]["online_basis"] == "connection" and devices["meter-01"]["online_rate"] > 0
    assert devices["plc-01"]["online_basis"] == "state"
    # a short run has no shift or day KPI: the pack adds an OEE row over its own window
    (row,) = [r for r in read_csv(pack / "07_kpi" / "OEE_按日.csv") if r.text("period") == "window"]
    assert row.text("device_id") == "plc-01" and "qty_from_counter_readings" in row.text("flags").split()
    assert (row.integer("start_ms"), row.integer("end_ms")) == (window["from_ms"], window["to_ms"])
    assert [o["period"] for o in summary["oee"]] == ["window"] and row.number("PRI_s") == 40.0
    rows = read_csv(pack / "04_completeness" / "入库对账.csv")
    assert {r.text("device_id") for r in rows} == {"plc-01", "meter-01"}
    assert all(r.text("missing_seq_ranges") == "" and r.number("delivery_ratio") == 1.0 for r in rows)


def test_cli_build_and_verify(built: PackResult, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plant = built.path.parents[1] / "plant.yaml"
    window = built.summary["window"]
    start = datetime.fromtimestamp(window["from_ms"] / 1000, UTC).isoformat()
    end = datetime.fromtimestamp(window["to_ms"] / 1000, UTC).isoformat()
    code = main(["evidence", "build", "-c", str(plant), "--from", start, "--to", end, "--out", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    pack = Path(out[0])
    assert pack.parent == tmp_path and Path(out[1]) == pack.with_name(pack.name + ".zip")
    assert any("端到端入库率 delivery ratio: 1.0000" in line for line in out)
    with zipfile.ZipFile(out[1]) as zf:
        assert f"{pack.name}/manifest.json" in zf.namelist()
    assert main(["evidence", "verify", str(pack)]) == 3  # the signer is not pinned
    assert "SIGNER NOT PINNED" in capsys.readouterr().out
    assert main(["evidence", "verify", str(pack), "-c", str(plant)]) == 0  # pinned to this plant's key
    assert "ALL PASS" in capsys.readouterr().out
    assert main(["evidence", "key", "-c", str(plant)]) == 0
    printed = capsys.readouterr().out
    fingerprint = next(w for w in printed.split() if w.startswith("sha256:"))
    assert "-----BEGIN PUBLIC KEY-----" in printed
    assert main(["evidence", "verify", str(pack), "--trusted-key", fingerprint]) == 0


def test_cli_bad_arguments_exit_2(built: PackResult, capsys: pytest.CaptureFixture[str]) -> None:
    plant = str(built.path.parents[1] / "plant.yaml")
    assert main(["evidence", "build", "-c", plant, "--from", "yesterday-ish"]) == 2
    assert "--from/--to" in capsys.readouterr().err
    assert main(["evidence", "build", "-c", plant, "--from", "now", "--to=-1h"]) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    # --json: the same outcome as one object on stdout (what the status page's child process prints)
    assert main(["evidence", "build", "-c", plant, "--from", "now", "--to=-1h", "--json"]) == 2
    outcome = json.loads(capsys.readouterr().out)
    assert outcome == {"error": "bad_window", "message": "--to must be after --from"}
    bad = built.path.parents[1] / "bad.yaml"
    bad.write_text("version: 1\nsite: {enterprise: acme}\nnonsense: 3\n", encoding="utf-8")
    assert main(["evidence", "build", "-c", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "bad_config" and "bad.yaml" in captured.err


def test_unreachable_store_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    text = plant_text(free_port(), free_port(), storage=f"{{backend: victoriametrics, url: '{url}'}}")
    plant = write_plant(tmp_path, text)
    assert main(["evidence", "build", "-c", str(plant), "--from", "1h", "--out", str(tmp_path / "out")]) == 1
    assert f"victoriametrics {url}" in capsys.readouterr().err
    assert not any((tmp_path / "out").glob("evidence_*"))  # no half-built pack left behind


def test_unreachable_http_store_names_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    storage = Storage(backend=StoreBackend.VICTORIAMETRICS, url=url)
    with pytest.raises(StoreUnavailable, match=f"victoriametrics {re.escape(url)}"):
        read_samples(storage, tmp_path, 1_764_057_600_000, 1_764_057_600_001)


def test_a_window_too_large_for_the_memory_is_refused_before_reading(
    built: PackResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plant = load_plant(built.path.parents[1] / "plant.yaml")
    window = built.summary["window"]
    rows = built.summary["raw"]["rows"]
    counted = count_samples(plant.config.storage, plant.base_dir, window["from_ms"], window["to_ms"], "s1")
    assert counted == rows > 0  # the store's count is what the pack then reads
    # as if the machine had memory for a tenth of this window's samples
    small = int((budget.FIXED_BYTES + rows // 10 * budget.BYTES_PER_SAMPLE) / budget.USABLE_SHARE)
    monkeypatch.setattr(budget, "available_bytes", lambda: small)
    with pytest.raises(budget.WindowTooLarge, match=f"holds {rows:,} samples"):
        build_pack(plant, window["from_ms"], window["to_ms"], tmp_path / "refused")
    assert not (tmp_path / "refused").exists()  # refused before anything was written
    start = datetime.fromtimestamp(window["from_ms"] / 1000, UTC).isoformat()
    end = datetime.fromtimestamp(window["to_ms"] / 1000, UTC).isoformat()
    argv = ["evidence", "build", "-c", str(plant.file), "--from", start, "--to", end, "--json"]
    assert main(argv) == 2
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["error"] == "window_too_large" and "shorter windows" in outcome["message"]
    monkeypatch.setattr(budget, "available_bytes", lambda: 2 * small * 10)
    fits = build_pack(plant, window["from_ms"], window["to_ms"], tmp_path / "fits")
    assert fits.summary["raw"]["rows"] == rows


def test_a_second_build_is_the_next_version(built: PackResult, tmp_path: Path) -> None:
    plant = load_plant(built.path.parents[1] / "plant.yaml")
    window = built.summary["window"]
    first = build_pack(plant, window["from_ms"], window["to_ms"], tmp_path, make_zip=False)
    second = build_pack(plant, window["from_ms"], window["to_ms"], tmp_path, make_zip=False)
    assert first.path.name.endswith("_v1") and second.path.name.endswith("_v2") and second.zip_path is None
    assert first.summary["headline"] == second.summary["headline"]


def test_window_arguments() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    now = 1_764_057_600_000
    assert parse_time("now", tz, now) == now
    assert parse_time("-24h", tz, now) == parse_time("24h", tz, now) == now - 86_400_000
    assert parse_time("-1.5d", tz, now) == now - 129_600_000
    assert parse_time("2025-11-25T16:00:00", tz, now) == now  # the site's zone: +08:00
    assert parse_time("2025-11-25T08:00:00Z", tz, now) == now
    with pytest.raises(ValueError):
        parse_time("yesterday", tz, now)


def test_a_window_that_cuts_a_batch_counts_only_the_batches_inside(built: PackResult, tmp_path: Path) -> None:
    """Builder and verifier both count the RAW_BATCH entries whose [from, to) lies in the window; the
    readings of the batch cut by the window start are not published in this pack, so none is missing."""
    plant = load_plant(built.path.parents[1] / "plant.yaml")
    lines = (built.path / "11_audit" / "audit_chain.jsonl").read_text(encoding="utf-8").splitlines()
    raw = [e["payload"] for e in map(json.loads, lines) if e["type"] == "RAW_BATCH"]
    assert len(raw) >= 3
    start = raw[1]["from"] + 1  # inside the second batch
    result = build_pack(plant, start, built.summary["window"]["to_ms"], tmp_path, make_zip=False)
    report = verify_pack(result.path)
    assert report.ok, [(c.name_en, c.detail) for c in report.checks if not c.ok]
    inside = [p for p in raw if p["from"] >= start]
    published = sum(d["count"] for p in inside for d in p["devices"].values() if d.get("count"))
    head = result.summary["headline"]
    assert head["published"] == published == head["landed"] and head["delivery_ratio"] == 1.0


def test_a_window_reaching_before_the_ledger_is_cut_to_its_span(
    built: PackResult, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`from=-100000d` (CLI and the web API, whose child runs the same build) wrote a 471 MB pack of
    days without a ledger; the window is now cut to [the ledger's first entry, now]."""
    plant = built.path.parents[1] / "plant.yaml"
    first = ledger.first_ts(load_plant(plant).resolve(load_plant(plant).config.evidence.ledger_dir))
    assert first is not None
    tomorrow = datetime.fromtimestamp(first / 1000 + 86400, UTC).isoformat()
    code = main(["evidence", "build", "-c", str(plant), "--from=-100000d", "--to", tomorrow, "--json",
                 "--out", str(tmp_path)])  # fmt: skip
    outcome = json.loads(capsys.readouterr().out)
    assert code == 0, outcome
    assert outcome["window"]["from_ms"] == first and outcome["requested"]["from_ms"] < first
    assert outcome["window"]["to_ms"] <= outcome["requested"]["to_ms"]
    pack = Path(outcome["path"])
    days = read_csv(pack / "04_completeness" / "采集完整率_按日.csv")
    assert len({r.text("date") for r in days}) <= 2  # the run's day (and the next, past midnight)
    assert sum(p.stat().st_size for p in pack.rglob("*") if p.is_file()) < 5_000_000
