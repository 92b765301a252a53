"""The collector's PKI folder: its own application certificate and the trust store of servers.

Layout (as UaExpert and the Prosys tools lay theirs out, so people find their way):

    <pki>/own/certs/collector.der        our application instance certificate (DER)
    <pki>/own/private/collector.pem      its RSA key (PKCS#8 PEM, mode 0600)
    <pki>/trusted/certs/*.der            server certificates we trust
    <pki>/rejected/certs/*.der           server certificates we were shown and did not trust
    <pki>/tofu.log                       one line per certificate trusted on first use
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 5 * 365


def default_application_uri() -> str:
    return f"urn:{socket.gethostname()}:shopfloor:collector"


def fingerprint(der: bytes) -> str:
    """SHA-256 of the DER bytes, hex with colons (what `certs list` prints)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def thumbprint(der: bytes) -> str:
    """SHA-1 thumbprint as OPC UA tools (UaExpert) show it."""
    return hashlib.sha1(der).hexdigest().upper()  # an identifier, not a security check


def load_der(path: Path) -> bytes:
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data


@dataclass(frozen=True)
class CertInfo:
    path: Path
    subject: str
    not_after: dt.datetime
    fingerprint: str
    thumbprint: str
    uri: str | None


def describe(path: Path) -> CertInfo:
    der = load_der(path)
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return CertInfo(
        path, cert.subject.rfc4514_string(), cert.not_valid_after_utc, fingerprint(der), thumbprint(der),
        uris[0] if uris else None,
    )  # fmt: skip


class Pki:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def own_cert(self) -> Path:
        return self.root / "own" / "certs" / "collector.der"

    @property
    def own_key(self) -> Path:
        return self.root / "own" / "private" / "collector.pem"

    @property
    def trusted(self) -> Path:
        return self.root / "trusted" / "certs"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected" / "certs"

    @property
    def tofu_log(self) -> Path:
        return self.root / "tofu.log"

    def make_dirs(self) -> None:
        for d in (self.own_cert.parent, self.own_key.parent, self.trusted, self.rejected):
            d.mkdir(parents=True, exist_ok=True)
        self.own_key.parent.chmod(0o700)

    def init(self, application_uri: str, hostname: str | None = None, force: bool = False) -> bool:
        """Create our certificate and key; False when they exist already (and force is off)."""
        self.make_dirs()
        if self.own_cert.exists() and self.own_key.exists() and not force:
            return False
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = build_certificate(key, application_uri, hostname or socket.gethostname())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(self.own_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        self.own_key.chmod(0o600)  # also when the file existed with wider permissions
        self.own_cert.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return True

    def certificates(self, folder: Path) -> list[CertInfo]:
        if not folder.is_dir():
            return []
        return [describe(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in (".der", ".pem", ".crt")]

    def is_trusted(self, der: bytes) -> bool:
        return any(load_der(c.path) == der for c in self.certificates(self.trusted))

    def store(self, der: bytes, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        cert = x509.load_der_x509_certificate(der)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(cn[0].value) if cn else "server").strip("_") or "server"
        path = folder / f"{name}_{thumbprint(der)[:16]}.der"
        path.write_bytes(der)
        return path

    def find(self, key: str) -> Path | None:
        """A certificate file anywhere in the PKI by path, SHA-256 fingerprint or SHA-1 thumbprint prefix."""
        path = Path(key)
        if path.is_file():
            return path
        wanted = re.sub(r"[^0-9a-f]", "", key.lower())
        if len(wanted) < 8:
            return None
        for folder in (self.rejected, self.trusted):
            for info in self.certificates(folder):
                for fp in (info.fingerprint, info.thumbprint):
                    if fp.replace(":", "").lower().startswith(wanted):
                        return info.path
        return None

    def move(self, source: Path, folder: Path) -> Path:
        der = load_der(source)
        target = self.store(der, folder)
        if source.resolve().parent in (self.trusted.resolve(), self.rejected.resolve()) and source != target:
            source.unlink()
        return target

    def record_tofu(self, der: bytes, endpoint: str) -> None:
        cert = x509.load_der_x509_certificate(der)
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = f"{when}\t{endpoint}\t{fingerprint(der)}\t{cert.subject.rfc4514_string()}\n"
        with self.tofu_log.open("a", encoding="utf-8") as f:
            f.write(line)


def build_certificate(key: rsa.RSAPrivateKey, application_uri: str, hostname: str) -> x509.Certificate:
    """Self-signed application instance certificate as OPC UA Part 6 6.2.2 asks for."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "shopfloor collector"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shopfloor"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, hostname),
    ])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True, data_encipherment=True,
        key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(application_uri), x509.DNSName(hostname)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())
