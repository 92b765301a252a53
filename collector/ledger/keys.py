"""The collector's Ed25519 signing key: created on first run (PKCS8 PEM, 0600), public part exported.

key = load_or_create(plant.resolve(plant.config.evidence.signing_key_file))
key_id(key)                    # "ed25519:<16 hex>", the name checkpoints and packs carry
sign(key, data)                # base64 signature
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.ledger.chain import key_id_from_public_bytes, verify_signature
from collector.ledger.errors import KeyFileError

log = logging.getLogger(__name__)


def public_pem_path(path: Path) -> Path:
    """`keys/evidence-ed25519.pem` → `keys/evidence-ed25519.pub.pem`."""
    return path.with_name(f"{path.stem}.pub.pem")


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """Load the key at `path`, or create it (and its directory, 0700) when there is none."""
    key = _load(path) if path.exists() else _create(path)
    pub = public_pem_path(path)
    pem = public_pem(key)
    try:
        if not pub.exists() or pub.read_bytes() != pem:  # keep the exported part in step with the key
            _write_atomic(pub, pem, 0o640)  # public, but like every file we write: not for others
    except OSError as exc:
        raise KeyFileError(f"{pub}: cannot export the public key: {exc.strerror or exc}") from exc
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key_id_from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(key: Ed25519PrivateKey, data: bytes, signature_b64: str) -> bool:
    return verify_signature(public_pem(key), data, signature_b64)


def _load(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the signing key: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PKCS8 PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: the signing key must be Ed25519, not {type(key).__name__}")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s: the signing key is readable by others; chmod 600 it", path)
    return key


def _create(path: Path) -> Ed25519PrivateKey:
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
            path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_atomic(path, pem, 0o600)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the signing key: {exc.strerror or exc}") from exc
    log.warning("created evidence signing key %s (%s)", path, key_id(key))
    return key


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
