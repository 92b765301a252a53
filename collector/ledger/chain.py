"""Hash-chain primitives of the audit ledger, shared by the collector and the in-pack verifier.

STDLIB ONLY (``cryptography`` is imported lazily, for signatures): the in-pack verifier carries a
copy (collector/evidence/verify/vendor/chain.py), so this file imports nothing from ``collector``.

    entry = {"seq": 0, "ts": 1764000000000, "type": "COLLECTOR_START", "actor": "collector@edge-1",
             "payload": {...}, "payload_digest": payload_digest({...}), "prev_hash": GENESIS}
    entry["entry_hash"] = entry_hash(entry)
    problems = check_links(entries, first_seq=0, prev_hash=GENESIS)     # [] when the chain holds
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

GENESIS = "0" * 64
ALG = "Ed25519"
ENTRY_KEYS = ("seq", "ts", "type", "actor", "payload", "payload_digest", "prev_hash", "entry_hash")
CHECKPOINT_SIGNED = ("head_seq", "head_hash", "from", "to", "counts", "key_id")


def canonical(obj: Any) -> bytes:
    """The one byte form that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def payload_digest(payload: Any) -> str:
    return "sha256:" + sha256_hex(canonical(payload))


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256(prev_hash + canonical(entry without "entry_hash")); an "entry_hash" key is ignored."""
    body = {k: v for k, v in entry.items() if k != "entry_hash"}
    return sha256_hex(str(entry["prev_hash"]).encode("ascii") + canonical(body))


def key_id_from_public_bytes(raw: bytes) -> str:
    """ "ed25519:" + the first 16 hex digits of sha256 of the raw 32-byte public key."""
    return "ed25519:" + sha256_hex(raw)[:16]


def key_id_from_public_pem(public_pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key_id_from_public_bytes(raw)


def checkpoint_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a CHECKPOINT payload that is signed (signed as canonical(checkpoint_body(...)))."""
    return {k: payload[k] for k in CHECKPOINT_SIGNED}


def verify_signature(public_pem: bytes, data: bytes, signature_b64: str) -> bool:
    """True only for a valid Ed25519 signature of `data` by the key in `public_pem`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(public_pem)
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError, binascii.Error):
        return False
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def verify_checkpoint(public_pem: bytes, payload: Mapping[str, Any]) -> bool:
    """A CHECKPOINT payload's signature over canonical(checkpoint_body(payload))."""
    try:
        body = checkpoint_body(payload)
        signature = str(payload["signature"])
    except KeyError:
        return False
    return verify_signature(public_pem, canonical(body), signature)


def check_entry(entry: Mapping[str, Any]) -> list[str]:
    """Problems inside one entry on its own: keys, payload digest, entry hash."""
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        return [f"seq {entry.get('seq')}: missing {', '.join(missing)}"]
    problems = []
    if payload_digest(entry["payload"]) != entry["payload_digest"]:
        problems.append(f"seq {entry['seq']}: payload_digest mismatch")
    if entry_hash(entry) != entry["entry_hash"]:
        problems.append(f"seq {entry['seq']}: entry_hash mismatch")
    return problems


def check_links(
    entries: Iterable[Mapping[str, Any]], first_seq: int = 0, prev_hash: str = GENESIS
) -> list[str]:
    """Every problem of a chain (or an excerpt starting at an anchor): hashes, links, seq continuity."""
    problems: list[str] = []
    expected_seq, expected_prev = first_seq, prev_hash
    for entry in entries:
        problems.extend(check_entry(entry))
        seq = entry.get("seq")
        if seq != expected_seq:
            problems.append(f"seq {seq}: expected seq {expected_seq}")
        if entry.get("prev_hash") != expected_prev:
            problems.append(f"seq {seq}: prev_hash does not match the previous entry")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        expected_prev = str(entry.get("entry_hash"))
    return problems
