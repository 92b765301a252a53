"""The audit ledger: hash links, restarts, torn lines, daily signed checkpoints, tampering, one writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.ledger import (
    Ledger,
    LedgerError,
    chain,
    excerpt,
    iter_entries,
    keys,
    ledger_files,
    now_ms,
    utc_day,
)

pytestmark = pytest.mark.unit

ACTOR = "collector@edge-01"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "ledger.pem"


def open_ledger(tmp_path: Path, key_file: Path) -> Ledger:
    return Ledger(tmp_path / "ledger", keys.load_or_create(key_file), ACTOR)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_entries_link_into_one_chain(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    t0 = ms("2026-11-25T08:00:00")
    first = ledger.append("COLLECTOR_START", {"session": 1, "devices": ["plc-01"]}, t0)
    ledger.append("DEVICE_CONNECT", {"device": "plc-01"}, t0 + 10)
    ledger.append(
        "STATE_INTERVAL", {"device": "plc-01", "state": "RUNNING", "inputs": {"温度": 21.5}}, t0 + 20
    )
    ledger.close()

    entries = list(iter_entries(tmp_path / "ledger"))
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0] == first and first["prev_hash"] == chain.GENESIS
    assert entries[1]["prev_hash"] == entries[0]["entry_hash"]
    assert entries[0]["actor"] == ACTOR
    assert entries[0]["payload_digest"] == chain.payload_digest(entries[0]["payload"])
    assert chain.check_links(entries) == []
    # the line on disk is the canonical form of the entry
    raw = (tmp_path / "ledger" / "audit-2026-11-25.jsonl").read_bytes().splitlines()
    assert raw[2] == chain.canonical(entries[2])


def test_a_restart_continues_the_chain(tmp_path: Path, key_file: Path) -> None:
    t0 = ms("2026-11-25T08:00:00")
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, t0)
    ledger.append("COLLECTOR_STOP", {"session": 1, "reason": "stopped"}, t0 + 1)
    ledger.close()

    again = open_ledger(tmp_path, key_file)
    assert again.head[0] == 1
    entry = again.append("COLLECTOR_START", {"session": 2}, t0 + 2)
    checkpoint = again.checkpoint("demand", t0 + 3)
    again.close()

    assert entry["seq"] == 2
    entries = list(iter_entries(tmp_path / "ledger"))
    assert chain.check_links(entries) == []
    # the counts since the (absent) previous checkpoint include what the first run wrote
    assert checkpoint["payload"]["counts"] == {"COLLECTOR_START": 2, "COLLECTOR_STOP": 1}
    assert checkpoint["payload"]["from"] == t0 and checkpoint["payload"]["to"] == t0 + 2


def test_a_torn_last_line_is_cut_and_recorded(tmp_path: Path, key_file: Path) -> None:
    # LEDGER_RECOVERED is stamped with the wall clock: the run must be on today's file, or the
    # first entry of a new UTC day would bring its daily CHECKPOINT along
    t0 = now_ms() - 2
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, t0)
    ledger.append("DEVICE_CONNECT", {"device": "plc-01"}, t0 + 1)
    ledger.close()
    path = tmp_path / "ledger" / f"audit-{utc_day(t0)}.jsonl"
    torn = b'{"actor":"collector@edge-01","entry_hash":"ab'  # what a SIGKILL mid-write leaves
    with path.open("ab") as fh:
        fh.write(torn)

    again = open_ledger(tmp_path, key_file)
    again.append("DEVICE_DISCONNECT", {"device": "plc-01", "kind": "unreachable", "message": "x"}, t0 + 5)
    again.close()

    entries = list(iter_entries(tmp_path / "ledger"))
    assert [e["type"] for e in entries] == [
        "COLLECTOR_START", "DEVICE_CONNECT", "LEDGER_RECOVERED", "DEVICE_DISCONNECT",
    ]  # fmt: skip
    assert entries[2]["payload"] == {"file": path.name, "truncated_bytes": len(torn)}
    assert chain.check_links(entries) == []
    assert torn not in path.read_bytes()


def test_the_first_entry_after_utc_midnight_is_preceded_by_a_signed_checkpoint(
    tmp_path: Path, key_file: Path
) -> None:
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, ms("2026-11-25T23:59:00"))
    last = ledger.append("RAW_BATCH", {"session": 1, "devices": {}}, ms("2026-11-25T23:59:59"))
    ledger.append("RAW_BATCH", {"session": 1, "devices": {}}, ms("2026-11-26T00:00:30"))
    ledger.close()

    assert [p.name for p in ledger_files(tmp_path / "ledger")] == [
        "audit-2026-11-25.jsonl", "audit-2026-11-26.jsonl",
    ]  # fmt: skip
    day2 = lines(tmp_path / "ledger" / "audit-2026-11-26.jsonl")
    assert [e["type"] for e in day2] == ["CHECKPOINT", "RAW_BATCH"]
    payload = day2[0]["payload"]
    assert isinstance(payload, dict)
    assert payload["reason"] == "daily"
    assert (payload["head_seq"], payload["head_hash"]) == (last["seq"], last["entry_hash"])
    assert payload["counts"] == {"COLLECTOR_START": 1, "RAW_BATCH": 1}
    assert (payload["from"], payload["to"]) == (ms("2026-11-25T23:59:00"), ms("2026-11-25T23:59:59"))
    assert payload["key_id"] == keys.key_id(keys.load_or_create(key_file)) and payload["alg"] == "Ed25519"
    pem = keys.public_pem_path(key_file).read_bytes()
    assert chain.verify_checkpoint(pem, payload)
    body = chain.canonical(chain.checkpoint_body(payload))
    assert chain.verify_signature(pem, body, str(payload["signature"]))
    assert not chain.verify_signature(pem, body + b" ", str(payload["signature"]))
    assert chain.check_links(list(iter_entries(tmp_path / "ledger"))) == []


def test_tick_writes_the_daily_checkpoint_when_nothing_else_is_appended(
    tmp_path: Path, key_file: Path
) -> None:
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, ms("2026-11-25T22:00:00"))
    ledger.tick(ms("2026-11-25T23:00:00"))  # same day: nothing
    ledger.tick(ms("2026-11-26T00:00:01"))
    ledger.tick(ms("2026-11-26T00:00:02"))  # once per day
    ledger.close()
    types = [e["type"] for e in iter_entries(tmp_path / "ledger")]
    assert types == ["COLLECTOR_START", "CHECKPOINT"]


def test_a_checkpoint_signed_by_another_key_does_not_verify(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, 1_000)
    cp = ledger.checkpoint("stop", 2_000)
    ledger.close()
    other = keys.load_or_create(tmp_path / "other" / "k.pem")
    assert chain.verify_checkpoint(keys.public_pem(keys.load_or_create(key_file)), cp["payload"])
    assert not chain.verify_checkpoint(keys.public_pem(other), cp["payload"])


def test_tampering_is_detected(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    for i in range(4):
        ledger.append("RAW_BATCH", {"session": 1, "devices": {"plc-01": {"count": 10 + i}}}, 1_000 + i)
    ledger.close()
    entries = list(iter_entries(tmp_path / "ledger"))
    assert chain.check_links(entries) == []

    edited = json.loads(json.dumps(entries))
    edited[1]["payload"]["devices"]["plc-01"]["count"] = 99
    assert chain.check_links(edited) == ["seq 1: payload_digest mismatch", "seq 1: entry_hash mismatch"]

    edited[1]["payload_digest"] = chain.payload_digest(edited[1]["payload"])
    assert chain.check_links(edited) == ["seq 1: entry_hash mismatch"]

    edited[1]["entry_hash"] = chain.entry_hash(edited[1])  # a forger recomputes: the next link breaks
    assert chain.check_links(edited) == ["seq 2: prev_hash does not match the previous entry"]

    deleted = entries[:2] + entries[3:]
    assert chain.check_links(deleted) == [
        "seq 3: expected seq 2", "seq 3: prev_hash does not match the previous entry",
    ]  # fmt: skip


def test_a_second_writer_is_refused(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    with pytest.raises(LedgerError, match="in use by another collector"):
        open_ledger(tmp_path, key_file)
    ledger.close()
    open_ledger(tmp_path, key_file).close()  # released on close


def test_excerpt_is_anchored_to_the_entry_before_the_window(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    for i in range(10):
        ledger.append("RAW_BATCH", {"i": i}, 1_000 * (i + 1))
    ledger.close()
    directory = tmp_path / "ledger"
    everything = list(iter_entries(directory))

    anchor, part = excerpt(directory, 3_000, 7_000)
    assert [e["payload"]["i"] for e in part] == [2, 3, 4, 5]
    assert anchor == {"first_seq": 2, "prev_hash": everything[1]["entry_hash"]}
    assert chain.check_links(part, anchor["first_seq"], anchor["prev_hash"]) == []
    assert [e["seq"] for e in iter_entries(directory, 3_000, 7_000)] == [2, 3, 4, 5]

    anchor, part = excerpt(directory, 50_000, 60_000)
    assert part == [] and anchor == {"first_seq": 10, "prev_hash": everything[-1]["entry_hash"]}


def test_an_excerpt_of_a_later_day_links_to_the_day_before(tmp_path: Path, key_file: Path) -> None:
    ledger = open_ledger(tmp_path, key_file)
    ledger.append("COLLECTOR_START", {"session": 1}, ms("2026-11-24T10:00:00"))
    tail = ledger.append("RAW_BATCH", {"i": 1}, ms("2026-11-24T23:00:00"))
    ledger.append("RAW_BATCH", {"i": 2}, ms("2026-11-25T01:00:00"))
    ledger.append("RAW_BATCH", {"i": 3}, ms("2026-11-26T01:00:00"))
    ledger.close()
    directory = tmp_path / "ledger"

    anchor, part = excerpt(directory, ms("2026-11-25T00:00:00"), ms("2026-11-26T00:00:00"))
    assert [e["type"] for e in part] == ["CHECKPOINT", "RAW_BATCH"]  # the daily checkpoint opens the day
    assert anchor == {"first_seq": tail["seq"] + 1, "prev_hash": tail["entry_hash"]}
    assert chain.check_links(part, anchor["first_seq"], anchor["prev_hash"]) == []

    anchor, part = excerpt(directory, ms("2026-11-25T12:00:00"), ms("2026-11-25T13:00:00"))
    assert part == [] and anchor["first_seq"] == tail["seq"] + 3  # after START, 1, CHECKPOINT, 2


def test_a_ledger_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path, key_file: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(blocker / "ledger", keys.load_or_create(key_file), ACTOR)
