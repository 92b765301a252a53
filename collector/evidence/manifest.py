"""What seals a pack: checkpoint copies, the pack-head checkpoint, manifest.json, manifest.sig, the zip.

The manifest lists every file of the pack but itself and its signature (path, bytes, sha256, sorted
by path); the signature is Ed25519 over the manifest's exact bytes, so a changed byte anywhere in
the pack fails either a hash or the signature.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.ledger import keys
from collector.ledger.chain import ALG, canonical, checkpoint_body

MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
FORMAT = "shopfloor-evidence/1"


def dump_json(obj: Any) -> bytes:
    """Pretty, stable JSON for files a reviewer opens (the signed bytes are whatever this writes)."""
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def write_checkpoints(
    pack: Path, key: Ed25519PrivateKey, entries: Sequence[Mapping[str, Any]], from_ms: int, to_ms: int
) -> dict[str, Any] | None:
    """checkpoints/: the public key, each CHECKPOINT entry of the excerpt, and pack-head.json (a
    checkpoint signed now over the excerpt's last entry). Returns the pack-head payload."""
    folder = pack / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "signing_key.pub.pem").write_bytes(keys.public_pem(key))
    for entry in entries:
        if entry.get("type") == "CHECKPOINT":
            (folder / f"checkpoint-{entry['seq']}.json").write_bytes(dump_json(dict(entry)))
    if not entries:
        return None
    head = entries[-1]
    counts = Counter(str(e["type"]) for e in entries)
    payload: dict[str, Any] = {
        "head_seq": head["seq"], "head_hash": head["entry_hash"], "from": from_ms, "to": to_ms,
        "counts": dict(sorted(counts.items())), "key_id": keys.key_id(key), "alg": ALG,
    }  # fmt: skip
    payload["signature"] = keys.sign(key, canonical(checkpoint_body(payload)))
    (folder / "pack-head.json").write_bytes(dump_json(payload))
    return payload


def file_list(pack: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(p for p in pack.rglob("*") if p.is_file()):
        rel = path.relative_to(pack).as_posix()
        if rel in (MANIFEST, SIGNATURE):
            continue
        data = path.read_bytes()
        out.append({"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return sorted(out, key=lambda f: str(f["path"]))


def seal(pack: Path, key: Ed25519PrivateKey, header: Mapping[str, Any]) -> dict[str, Any]:
    """Write manifest.json (header + files) and manifest.sig; returns the manifest."""
    manifest = {"format": FORMAT, **header, "key_id": keys.key_id(key), "files": file_list(pack)}
    data = dump_json(manifest)
    (pack / MANIFEST).write_bytes(data)
    sig = {"alg": ALG, "key_id": keys.key_id(key), "signature": keys.sign(key, data)}
    (pack / SIGNATURE).write_bytes(dump_json(sig))
    return manifest


def make_zip(pack: Path) -> Path:
    """<pack>.zip beside the folder, the same tree under the folder's name."""
    target = pack.with_name(pack.name + ".zip")
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in pack.rglob("*") if p.is_file()):
            zf.write(path, f"{pack.name}/{path.relative_to(pack).as_posix()}")
    tmp.replace(target)
    return target
