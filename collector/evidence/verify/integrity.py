"""Integrity checks of an evidence pack: file hashes, manifest signature, audit chain, checkpoints.

STDLIB + cryptography ONLY (through chain.py); part of the in-pack verifier (``verify/integrity.py``).
Each check returns one Check whose detail names the file, line or seq that failed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .vendor import chain

MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
PUBLIC_KEY = "checkpoints/signing_key.pub.pem"
CHAIN, ANCHOR = "11_audit/audit_chain.jsonl", "11_audit/anchor.json"
PACK_HEAD = "checkpoints/pack-head.json"
MAX_LISTED = 8  # problems spelled out per check; the rest are counted


@dataclass(frozen=True, slots=True)
class Check:
    name_zh: str
    name_en: str
    ok: bool
    detail: str


class Unreadable(Exception):
    """The path is not an evidence pack at all (exit status 2)."""


@dataclass
class Pack:
    """The pack's files as read once; parse errors are kept for the check that needs the file."""

    root: Path
    manifest_bytes: bytes
    manifest: dict[str, Any] | None
    manifest_error: str | None
    public_pem: bytes | None
    entries: list[dict[str, Any]] | None = None
    chain_error: str | None = None

    @property
    def key_id(self) -> str | None:
        if self.public_pem is None:
            return None
        try:
            return chain.key_id_from_public_pem(self.public_pem)
        except ValueError:
            return None


def summarise(problems: Sequence[str], passed: str) -> tuple[bool, str]:
    if not problems:
        return True, passed
    extra = len(problems) - MAX_LISTED
    shown = "; ".join(problems[:MAX_LISTED])
    return False, shown + (f"; … and {extra} more" if extra > 0 else "")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_bytes().decode("utf-8"))


def load(root: Path) -> Pack:
    if not root.is_dir():
        raise Unreadable(f"{root}: not a directory")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise Unreadable(f"{root}: no {MANIFEST} (not an evidence pack)")
    data = manifest_path.read_bytes()
    manifest: dict[str, Any] | None = None
    error = None
    try:
        parsed = json.loads(data.decode("utf-8"))
        if not isinstance(parsed, dict) or not isinstance(parsed.get("files"), list):
            raise ValueError("no files list")
        manifest = parsed
    except (UnicodeDecodeError, ValueError) as exc:
        error = f"{MANIFEST} cannot be read: {exc}"
    pem_path = root / PUBLIC_KEY
    pem = pem_path.read_bytes() if pem_path.is_file() else None
    pack = Pack(root, data, manifest, error, pem)
    _load_chain(pack)
    return pack


def _load_chain(pack: Pack) -> None:
    path = pack.root / CHAIN
    if not path.is_file():
        pack.chain_error = f"{CHAIN} is missing"
        return
    entries = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            pack.chain_error = f"{CHAIN} line {number}: not JSON ({exc})"
            return
        if not isinstance(entry, dict):
            pack.chain_error = f"{CHAIN} line {number}: not a JSON object"
            return
        entry["_line"] = number
        entries.append(entry)
    pack.entries = entries


def as_written(entry: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry as written (without the line number this reader adds)."""
    return {k: v for k, v in entry.items() if k != "_line"}


# --- 1. file hashes ---------------------------------------------------------------------------


def check_files(pack: Pack) -> Check:
    if pack.manifest is None:
        return Check("文件哈希", "File hashes", False, str(pack.manifest_error))
    problems: list[str] = []
    listed: set[str] = set()
    for item in pack.manifest["files"]:
        rel = str(item.get("path", "")) if isinstance(item, dict) else ""
        if not rel or rel.startswith("/") or ".." in rel.split("/") or rel in listed:
            problems.append(f"{MANIFEST}: bad or repeated path {rel!r}")
            continue
        listed.add(rel)
        path = pack.root / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in {MANIFEST} but missing")
            continue
        data = path.read_bytes()
        if len(data) != item.get("bytes") or hashlib.sha256(data).hexdigest() != item.get("sha256"):
            problems.append(f"{rel}: sha256/bytes differ from {MANIFEST}")
    # Python's bytecode cache is written beside the verifier when it runs without -B: not evidence.
    on_disk = {
        p.relative_to(pack.root).as_posix()
        for p in pack.root.rglob("*")
        if p.is_file() and "__pycache__" not in p.relative_to(pack.root).parts
    }
    for rel in sorted(on_disk - listed - {MANIFEST, SIGNATURE}):
        problems.append(f"{rel}: present but not listed in {MANIFEST}")
    ok, detail = summarise(problems, f"{len(listed)} files match {MANIFEST}")
    return Check("文件哈希", "File hashes", ok, detail)


# --- 2. manifest signature ---------------------------------------------------------------------


def check_signature(pack: Pack) -> Check:
    name = ("清单签名", "Manifest signature")
    if pack.public_pem is None:
        return Check(*name, False, f"{PUBLIC_KEY} is missing")
    key_id = pack.key_id
    if key_id is None:
        return Check(*name, False, f"{PUBLIC_KEY} is not an Ed25519 public key")
    try:
        sig = _read_json(pack.root / SIGNATURE)
        signature = str(sig["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check(*name, False, f"{SIGNATURE} cannot be read: {exc}")
    problems = []
    if sig.get("alg") != chain.ALG:
        problems.append(f"{SIGNATURE}: alg {sig.get('alg')!r}, expected {chain.ALG}")
    if sig.get("key_id") != key_id:
        problems.append(f"{SIGNATURE}: key_id {sig.get('key_id')} is not the pack key {key_id}")
    if pack.manifest is not None and pack.manifest.get("key_id") != key_id:
        problems.append(f"{MANIFEST}: key_id {pack.manifest.get('key_id')} is not the pack key {key_id}")
    if not chain.verify_signature(pack.public_pem, pack.manifest_bytes, signature):
        problems.append(f"{SIGNATURE}: signature does not verify over {MANIFEST} with {PUBLIC_KEY}")
    ok, detail = summarise(problems, f"Ed25519 signature by {key_id} verifies")
    return Check(*name, ok, detail)


def public_key_fingerprint(public_pem: bytes) -> str:
    """ "sha256:" + the sha256 of the raw 32-byte Ed25519 public key: the whole key, for a handover
    sheet or a phone call (the key id is its first 16 hex digits, too short to pin a key by)."""
    return "sha256:" + hashlib.sha256(_raw_public_key(public_pem)).hexdigest()


def _raw_public_key(public_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def check_trusted(pack: Pack, trusted: str) -> Check:
    """--trusted-key: the pack key must be the key the reviewer obtained from the plant, compared
    whole — a PEM file or its sha256: fingerprint. A bare key id (64 bits) is compared as an id and
    the row says so."""
    name = ("签名者", "Trusted signer")
    if pack.public_pem is None or pack.key_id is None:
        return Check(*name, False, f"{PUBLIC_KEY} is missing or not an Ed25519 key")
    have = public_key_fingerprint(pack.public_pem)
    path = Path(trusted)
    if path.is_file():
        try:
            want = public_key_fingerprint(path.read_bytes())
        except ValueError as exc:
            return Check(*name, False, f"{trusted}: not an Ed25519 public key ({exc})")
        matched = f"the whole key matches {trusted}"
    elif trusted.strip().startswith("sha256:"):
        want, matched = trusted.strip().lower(), "the whole key matches the trusted sha256 fingerprint"
    elif trusted.strip().startswith("ed25519:"):
        want = trusted.strip()
        have = pack.key_id
        matched = (
            "matched by the 64-bit key id only; pass the PEM or the sha256: fingerprint to compare the "
            "whole key"
        )
    else:
        return Check(
            *name, False, f"{trusted!r} is not a readable PEM file, a sha256: fingerprint or a key id"
        )
    if have != want:
        return Check(*name, False, f"pack signed by {pack.key_id} ({have}), the trusted key is {want}")
    return Check(*name, True, f"pack key {pack.key_id}: {matched}")


def unpinned(pack: Pack) -> Check:
    """The row shown without --trusted-key: nothing was compared with a key from outside the pack."""
    have = public_key_fingerprint(pack.public_pem) if pack.public_pem and pack.key_id else "no key"
    return Check(
        "签名者（未确认）",
        "Trusted signer (not pinned)",
        False,
        f"signed by {pack.key_id} ({have}), a key the pack brings itself: anyone can re-sign a pack "
        "end to end with their own. Run again with --trusted-key <the plant's public key PEM, obtained "
        "out of band> 未与工厂提供的公钥比对",
    )


# --- 3. audit chain ------------------------------------------------------------------------------


def _anchor(pack: Pack) -> tuple[int, str]:
    anchor = _read_json(pack.root / ANCHOR)
    return int(anchor["first_seq"]), str(anchor["prev_hash"])


def check_chain(pack: Pack) -> Check:
    name = ("审计链", "Audit chain")
    if pack.entries is None:
        return Check(*name, False, str(pack.chain_error))
    try:
        first_seq, prev_hash = _anchor(pack)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check(*name, False, f"{ANCHOR} cannot be read: {exc}")
    problems: list[str] = []
    expected = first_seq
    for entry in pack.entries:
        seq = entry.get("seq")
        if isinstance(seq, int) and seq > expected:
            missing = str(expected) if seq == expected + 1 else f"{expected}–{seq - 1}"
            problems.append(f"{CHAIN} line {entry['_line']}: entries seq {missing} missing before seq {seq}")
        expected = (seq if isinstance(seq, int) else expected) + 1
    lines = {e.get("seq"): e["_line"] for e in pack.entries}
    for problem in chain.check_links([as_written(e) for e in pack.entries], first_seq, prev_hash):
        seq_text = problem.split(":", 1)[0].removeprefix("seq ").strip()
        line = lines.get(int(seq_text)) if seq_text.lstrip("-").isdigit() else None
        problems.append(f"{CHAIN} line {line}: {problem}" if line else f"{CHAIN}: {problem}")
    count = len(pack.entries)
    last = pack.entries[-1].get("seq") if pack.entries else None
    passed = f"{count} entries, seq {first_seq}–{last}, hashes and links intact" if count else "no entries"
    ok, detail = summarise(problems, passed)
    return Check(*name, ok, detail)


# --- 4. checkpoint signatures ------------------------------------------------------------------


def _checkpoint_files(pack: Pack) -> list[Path]:
    return sorted((pack.root / "checkpoints").glob("*.json"))


def check_checkpoints(pack: Pack) -> Check:
    name = ("检查点签名", "Checkpoint signatures")
    if pack.public_pem is None or pack.key_id is None:
        return Check(*name, False, f"{PUBLIC_KEY} is missing or not an Ed25519 key")
    entries = pack.entries or []
    by_seq = {e.get("seq"): e for e in entries}
    try:
        anchor: tuple[int, str] | None = _anchor(pack)
    except (OSError, ValueError, KeyError, TypeError):
        anchor = None  # reported by the chain check
    problems: list[str] = []
    signed = 0
    for entry in entries:
        if entry.get("type") == "CHECKPOINT":
            where = f"{CHAIN} line {entry['_line']} (seq {entry.get('seq')})"
            problems += _checkpoint_problems(pack, dict(entry.get("payload") or {}), where, by_seq, anchor)
            signed += 1
        elif entry.get("type") == "COLLECTOR_START":
            started_with = (entry.get("payload") or {}).get("key_id")
            if started_with is not None and started_with != pack.key_id:
                problems.append(
                    f"{CHAIN} line {entry['_line']}: the collector signed with {started_with}, "
                    f"the pack key is {pack.key_id}"
                )
    for path in _checkpoint_files(pack):
        rel = path.relative_to(pack.root).as_posix()
        try:
            obj = _read_json(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: not JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{rel}: not a JSON object")
            continue
        inner = obj.get("payload")
        payload: dict[str, Any] = inner if isinstance(inner, dict) else obj
        problems += _checkpoint_problems(pack, payload, rel, by_seq, anchor)
        signed += 1
        copied = by_seq.get(obj.get("seq")) if "payload" in obj else None
        if "payload" in obj and (copied is None or as_written(copied) != obj):
            problems.append(f"{rel}: not identical to the chain entry seq {obj.get('seq')}")
    head = _head_problems(pack, entries)
    if entries and not (pack.root / PACK_HEAD).is_file():
        problems.append(f"{PACK_HEAD} is missing")
    ok, detail = summarise(
        problems + head, f"{signed} checkpoint signatures by {pack.key_id} verify, heads match"
    )
    return Check(*name, ok, detail)


def _checkpoint_problems(
    pack: Pack, payload: dict[str, Any], where: str, by_seq: dict[Any, Any], anchor: tuple[int, str] | None
) -> list[str]:
    assert pack.public_pem is not None
    problems = []
    if payload.get("key_id") != pack.key_id:
        problems.append(f"{where}: key_id {payload.get('key_id')} is not the pack key {pack.key_id}")
    if not chain.verify_checkpoint(pack.public_pem, payload):
        problems.append(f"{where}: signature does not verify with {PUBLIC_KEY}")
    head = by_seq.get(payload.get("head_seq"))
    if head is not None and head.get("entry_hash") != payload.get("head_hash"):
        problems.append(f"{where}: head_hash differs from the entry_hash of seq {payload.get('head_seq')}")
    # A checkpoint over the entry just before the excerpt must match the anchor's link to it.
    before = head is None and anchor is not None and payload.get("head_seq") == anchor[0] - 1
    if before and anchor is not None and payload.get("head_hash") != anchor[1]:
        problems.append(f"{where}: head_hash differs from {ANCHOR} prev_hash")
    return problems


def _head_problems(pack: Pack, entries: list[dict[str, Any]]) -> list[str]:
    """pack-head.json must cover the excerpt's last entry: a line cut off the end shows here."""
    path = pack.root / PACK_HEAD
    if not path.is_file() or not entries:
        return []
    try:
        head = _read_json(path)
    except (OSError, ValueError):
        return []  # reported with the other checkpoint files
    last = entries[-1]
    if head.get("head_seq") != last.get("seq"):
        return [f"{PACK_HEAD}: head_seq {head.get('head_seq')} but the chain ends at seq {last.get('seq')}"]
    counts: dict[str, int] = {}
    for e in entries:
        counts[str(e.get("type"))] = counts.get(str(e.get("type")), 0) + 1
    if head.get("counts") and head.get("counts") != counts:
        return [f"{PACK_HEAD}: entry counts {head.get('counts')} differ from the chain's {counts}"]
    return []
