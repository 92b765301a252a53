"""The offline verifier on a tiny pack written to the pack format: intact it passes; each kind of
damage fails the check that owns it, and the detail names the file, line, seq or figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.verify import csvio, integrity
from collector.evidence.verify import verifier as verify
from collector.ledger import chain
from tests.support import tiny_pack

pytestmark = pytest.mark.unit

CHAIN = "11_audit/audit_chain.jsonl"


@pytest.fixture
def pack(tmp_path: Path) -> tiny_pack.TinyPack:
    return tiny_pack.build(tmp_path / "evidence_demo_20261125-20261125_v1")


def failing(report: verify.Report) -> dict[str, str]:
    return {c.name_en: c.detail for c in report.checks if not c.ok}


def test_intact_pack_passes(pack: tiny_pack.TinyPack, capsys: pytest.CaptureFixture[str]) -> None:
    report = verify.verify_pack(pack.root)
    assert failing(report) == {}
    names = [c.name_en for c in report.checks]
    assert names[:4] == ["File hashes", "Manifest signature", "Audit chain", "Checkpoint signatures"]
    assert "OEE recomputation" in names
    trusted = pack.root.parent / "plant.pub.pem"
    trusted.write_bytes(tiny_pack.public_pem(pack.key))
    assert verify.main([str(pack.root), "--trusted-key", str(trusted)]) == 0
    out = capsys.readouterr().out
    assert out.index("文件哈希") < out.index("File hashes")  # Chinese first
    assert "全部通过 ALL PASS" in out and "the whole key matches" in out


def test_a_pack_resigned_end_to_end_with_another_key_is_not_all_pass_without_a_trusted_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Everything inside a pack signed by a forger's key is consistent: hashes, signatures, chain.
    It used to verify 10/10 ALL PASS. Without a key obtained from the plant the verdict now says the
    signer is not pinned (exit 3); with the plant's key it fails (exit 1)."""
    forged = tiny_pack.build(tmp_path / "evidence_demo_20261125-20261125_v1", Ed25519PrivateKey.generate())
    plant_key = tmp_path / "plant.pub.pem"
    plant_key.write_bytes(tiny_pack.public_pem(Ed25519PrivateKey.generate()))
    assert failing(verify.verify_pack(forged.root)) == {}
    assert verify.main([str(forged.root)]) == 3
    out = capsys.readouterr().out
    assert "ALL PASS" not in out and "签名者未确认 SIGNER NOT PINNED" in out and "未确认 NOT PINNED" in out
    assert verify.main([str(forged.root), "--trusted-key", str(plant_key)]) == 1
    assert "Trusted signer" in capsys.readouterr().out


def test_a_trusted_pem_is_compared_whole_not_by_its_64_bit_id(
    pack: tiny_pack.TinyPack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two keys whose ids collide (the id is 64 bits of a hash; simulated here) are still told apart."""
    other = pack.root.parent / "other.pub.pem"
    other.write_bytes(tiny_pack.public_pem(Ed25519PrivateKey.generate()))
    monkeypatch.setattr(integrity.chain, "key_id_from_public_pem", lambda _pem: "ed25519:0123456789abcdef")
    detail = failing(verify.verify_pack(pack.root, str(other)))["Trusted signer"]
    assert "the trusted key is sha256:" in detail
    fingerprint = integrity.public_key_fingerprint(tiny_pack.public_pem(pack.key))
    assert "Trusted signer" not in failing(verify.verify_pack(pack.root, fingerprint))


def test_changed_byte_fails_the_file_hash(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "06_state" / "状态时间线.csv"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    problems = failing(verify.verify_pack(pack.root))
    assert "06_state/状态时间线.csv: sha256/bytes differ" in problems["File hashes"]
    assert verify.main([str(pack.root)]) == 1


def test_unlisted_and_missing_files_fail(pack: tiny_pack.TinyPack) -> None:
    (pack.root / "13_screens").mkdir()
    (pack.root / "13_screens" / "extra.png").write_bytes(b"not in the manifest")
    (pack.root / "README.html").unlink()
    detail = failing(verify.verify_pack(pack.root))["File hashes"]
    assert "13_screens/extra.png: present but not listed" in detail
    assert "README.html: listed in manifest.json but missing" in detail


def _drop_chain_line(root: Path, seq: int) -> None:
    path = root / CHAIN
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["seq"] != seq]
    assert len(kept) == len(lines) - 1
    path.write_bytes("".join(kept).encode("utf-8"))


def test_deleted_ledger_line_is_named_by_its_seq(pack: tiny_pack.TinyPack) -> None:
    _drop_chain_line(pack.root, 5)
    pack.reseal()  # even with a fresh manifest, the chain itself shows the hole
    problems = failing(verify.verify_pack(pack.root))
    assert "entries seq 5 missing before seq 6" in problems["Audit chain"]
    assert "File hashes" not in problems


def test_deleted_last_ledger_line_fails_the_pack_head(pack: tiny_pack.TinyPack) -> None:
    last = len((pack.root / CHAIN).read_bytes().splitlines()) - 1
    _drop_chain_line(pack.root, last)
    pack.reseal()
    problems = failing(verify.verify_pack(pack.root))
    assert f"head_seq {last} but the chain ends at seq {last - 1}" in problems["Checkpoint signatures"]


def test_edited_ledger_entry_fails_the_chain(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / CHAIN
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    entry = json.loads(lines[3])
    entry["payload"]["session"] = 7
    lines[3] = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    path.write_bytes("".join(lines).encode("utf-8"))
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root))["Audit chain"]
    assert f"{CHAIN} line 4: seq 3: payload_digest mismatch" in detail


def test_resigned_manifest_fails_the_signature(pack: tiny_pack.TinyPack) -> None:
    other = Ed25519PrivateKey.generate()
    data = (pack.root / "manifest.json").read_bytes()
    sig = {"alg": "Ed25519", "key_id": tiny_pack.key_id(other), "signature": tiny_pack.sign(other, data)}
    (pack.root / "manifest.sig").write_bytes(tiny_pack.dump(sig))
    detail = failing(verify.verify_pack(pack.root))["Manifest signature"]
    assert "signature does not verify" in detail
    assert f"key_id {tiny_pack.key_id(other)} is not the pack key" in detail


def test_resealed_with_another_key_fails_the_checkpoints(pack: tiny_pack.TinyPack) -> None:
    original = tiny_pack.public_pem(pack.key)
    other = Ed25519PrivateKey.generate()
    (pack.root / "checkpoints" / "signing_key.pub.pem").write_bytes(tiny_pack.public_pem(other))
    pack.reseal(other)
    problems = failing(verify.verify_pack(pack.root))
    assert set(problems) == {"Checkpoint signatures"}
    assert "signature does not verify" in problems["Checkpoint signatures"]
    assert "the collector signed with" in problems["Checkpoint signatures"]
    # A reviewer who pins the collector's key sees the swap directly.
    pinned = pack.root.parent / "collector.pub.pem"
    pinned.write_bytes(original)
    trusted = failing(verify.verify_pack(pack.root, str(pinned)))
    assert "trusted key is" in trusted["Trusted signer"]


def test_trusted_key_by_file_or_id(pack: tiny_pack.TinyPack) -> None:
    pem = pack.root.parent / "trusted.pub.pem"
    pem.write_bytes(tiny_pack.public_pem(pack.key))
    assert verify.verify_pack(pack.root, str(pem)).ok
    assert verify.main([str(pack.root), "--trusted-key", tiny_pack.key_id(pack.key)]) == 0
    other = tiny_pack.key_id(Ed25519PrivateKey.generate())
    assert verify.main([str(pack.root), "--trusted-key", other]) == 1


def _edit_summary(root: Path, change: dict[str, object]) -> None:
    path = root / "summary.json"
    summary = json.loads(path.read_bytes())
    summary["headline"].update(change)
    path.write_bytes(tiny_pack.dump(summary))


def test_changed_summary_figure_fails_the_recomputation(pack: tiny_pack.TinyPack) -> None:
    summary = json.loads((pack.root / "summary.json").read_bytes())
    real = summary["headline"]["completeness"]
    _edit_summary(pack.root, {"completeness": real + 1e-6, "landed": 999})
    pack.reseal()
    problems = failing(verify.verify_pack(pack.root))
    assert (
        f"summary.json headline.completeness = {real + 1e-6!r}, recomputed {real!r}"
        in (problems["Completeness, good ratio and gaps"])
    )
    assert "summary.json headline.landed = 999" in problems["Delivery reconciliation and replay"]
    assert set(problems) == {"Completeness, good ratio and gaps", "Delivery reconciliation and replay"}


def test_result_table_cell_differs(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "02_connectivity" / "联网核验.csv"
    rows = csvio.read_csv(path)
    columns = [(k, k) for k in rows[0].cells]
    cells = [list(r.cells.values()) for r in rows]
    cells[1][list(rows[0].cells).index("days_with_data")] = "7"
    csvio.write_csv(path, columns, cells)
    pack.reseal()
    problems = failing(verify.verify_pack(pack.root))
    assert problems == {
        "Result tables": "02_connectivity/联网核验.csv line 3.days_with_data = 7, recomputed 1"
    }


def test_store_confirmations_are_recomputed_from_the_ledger(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "04_completeness" / "入库对账.csv"
    rows = csvio.read_csv(path)
    assert [(r.integer("acked"), r.integer("confirmed")) for r in rows] == [
        (r.integer("published"), r.integer("published")) for r in rows
    ]
    columns = [(k, k) for k in rows[0].cells]
    cells = [list(r.cells.values()) for r in rows]
    at = list(rows[0].cells).index("confirmed")
    cells[0][at] = str(int(cells[0][at]) + 1)
    csvio.write_csv(path, columns, cells)
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root))["Result tables"]
    assert "入库对账.csv line 2.confirmed" in detail


def test_missing_summary_figure_is_reported(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "summary.json"
    summary = json.loads(path.read_bytes())
    del summary["headline"]["online_rate"]
    path.write_bytes(tiny_pack.dump(summary))
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root))["Online rate and state coverage"]
    assert "summary.json headline.online_rate is missing" in detail


def test_damaged_raw_row_names_file_line_and_column(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "05_raw_samples" / "m1.csv"
    rows = csvio.read_csv(path)
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    lines[4] = lines[4].replace(rows[3].cells["status_code_hex"], "0xZZ")
    path.write_bytes("\r\n".join(lines).encode("utf-8-sig"))
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root))["Metric recomputation"]
    assert "05_raw_samples/m1.csv line 5 column status_code_hex: '0xZZ' is not hex" in detail


def test_oee_row_inconsistent_with_its_inputs(pack: tiny_pack.TinyPack) -> None:
    path = pack.root / "07_kpi" / "OEE_按日.csv"
    rows = csvio.read_csv(path)
    text = path.read_bytes().decode("utf-8-sig")
    apt = rows[0].cells["APT_h"]
    path.write_bytes(text.replace(apt, repr(float(apt) + 0.01), 1).encode("utf-8-sig"))
    pack.reseal()
    detail = failing(verify.verify_pack(pack.root))["OEE recomputation"]
    assert "07_kpi/OEE_按日.csv line 2.A = " in detail  # A no longer matches APT/PBT
    assert "07_kpi/OEE_按日.csv line 2.APT_h = " in detail  # nor APT the state timeline


def test_unreadable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main([str(tmp_path / "nowhere")]) == 2
    assert verify.main([str(tmp_path)]) == 2  # a folder without manifest.json
    assert "Unreadable" in capsys.readouterr().err


def test_unparseable_manifest_fails_instead_of_crashing(pack: tiny_pack.TinyPack) -> None:
    (pack.root / "manifest.json").write_bytes(b"{not json")
    problems = failing(verify.verify_pack(pack.root))
    assert "manifest.json cannot be read" in problems["File hashes"]
    assert "signature does not verify" in problems["Manifest signature"]


def test_csv_cells_read_back_exactly(tmp_path: Path) -> None:
    """The verifier compares within 1e-9, so the CSVs must carry every float bit; headers are keyed by
    the text in their last parentheses (also full-width ones typed in a spreadsheet)."""
    columns = [
        ("完整率", "completeness"),
        ("值(原始)", "raw_value"),
        ("已验证", "verified"),
        ("备注", "notes"),
    ]
    path = tmp_path / "t.csv"
    rows = iter([[1 / 3, 0.1 + 0.2, True, 'say "hi",\nbye'], [None, 7, False, ""]])  # streamed
    csvio.write_csv(path, columns, rows)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens UTF-8 correctly
    assert data.count(b"\r\n") == 3 and data.endswith(b"\r\n")  # CRLF rows; the newline in a cell kept
    first, second = csvio.parse_csv(data, "t.csv")
    assert (first.number("completeness"), first.number("raw_value")) == (1 / 3, 0.1 + 0.2)
    assert first.flag("verified") and not second.flag("verified")
    assert first.text("notes") == 'say "hi",\nbye'
    assert (second.line, second.opt_number("completeness"), second.integer("raw_value")) == (4, None, 7)
    assert csvio.key_of("完整率（completeness）") == "completeness"
    assert csvio.key_of("plain") == "plain"
    with pytest.raises(
        csvio.CsvFormatError, match=re.escape("t.csv line 4 column raw_value: '7' is not true/false")
    ):
        second.flag("raw_value")


def test_excerpt_from_an_anchor_and_a_checkpoint_before_it(pack: tiny_pack.TinyPack) -> None:
    """A window that starts mid-chain: anchor.json links the excerpt to the entry before it, and a
    checkpoint over that earlier entry must match the anchor's prev_hash."""
    path = pack.root / CHAIN
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    cut = 3
    path.write_bytes(b"".join(line + b"\n" for line in path.read_bytes().splitlines()[cut:]))
    anchor = {"first_seq": cut, "prev_hash": entries[cut]["prev_hash"]}
    (pack.root / "11_audit" / "anchor.json").write_bytes(tiny_pack.dump(anchor))

    def checkpoint(head_hash: str) -> None:
        cp = {"head_seq": cut - 1, "head_hash": head_hash, "from": 0, "to": 1, "counts": {},
              "key_id": tiny_pack.key_id(pack.key), "alg": "Ed25519"}  # fmt: skip
        cp["signature"] = tiny_pack.sign(pack.key, chain.canonical(chain.checkpoint_body(cp)))
        (pack.root / "checkpoints" / "day.json").write_bytes(tiny_pack.dump(cp))
        pack.reseal()

    checkpoint(entries[cut - 1]["entry_hash"])
    problems = failing(verify.verify_pack(pack.root))
    assert "Audit chain" not in problems and "Checkpoint signatures" not in problems
    checkpoint("0" * 64)
    detail = failing(verify.verify_pack(pack.root))["Checkpoint signatures"]
    assert "checkpoints/day.json: head_hash differs from 11_audit/anchor.json prev_hash" in detail
