"""Secured connections against an asyncua server that trusts only known client certificates.

The server here is a small fixture of its own (the CNC simulator has no security): SignAndEncrypt
endpoints only, a trust store folder, and one username/password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.server import Server
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from collector.config.opcua import OpcUaDevice
from drivers import status
from drivers.base import DeviceUnreachable
from drivers.opcua.certs import Pki, build_certificate
from drivers.opcua.driver import OpcUaDriver

pytestmark = pytest.mark.integration

SERVER_URI = "urn:shopfloor-test:secured-server"
CLIENT_URI = "urn:shopfloor-test:collector"
NS_URI = "urn:shopfloor-test:secured"
USER, PASSWORD = "operator", "s3cret-pw"


USER_CERTS: list[bytes] = []  # DER of user certificates the server accepts as identities


class Passwords:
    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username == USER and password == PASSWORD:
            return User(role=UserRole.User, name=username)
        if certificate is not None:
            der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(Encoding.DER)
            if der in USER_CERTS:
                return User(role=UserRole.User, name="cert-user")
        return None


class Secured:
    def __init__(self, server: Server, trusted: Path) -> None:
        self.server = server
        self.trusted = trusted

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.server.bserver.port}/"  # type: ignore[union-attr]


def _server_identity(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = build_certificate(key, SERVER_URI, "127.0.0.1")
    key_path, cert_path = folder / "server-key.pem", folder / "server.der"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return cert_path, key_path


@pytest.fixture
def client_pki(tmp_path: Path) -> Pki:
    pki = Pki(tmp_path / "client-pki")
    pki.init(CLIENT_URI, "127.0.0.1")
    return pki


async def _start(tmp_path: Path, trusted_certs: list[Path]) -> Server:
    trusted = tmp_path / "server-trusted"
    trusted.mkdir(exist_ok=True)
    for cert in trusted_certs:
        (trusted / cert.name).write_bytes(cert.read_bytes())
    server = Server(user_manager=Passwords())  # type: ignore[arg-type]
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0/")
    await server.set_application_uri(SERVER_URI)
    cert_path, key_path = _server_identity(tmp_path)
    await server.load_certificate(str(cert_path))
    await server.load_private_key(key_path)
    server.set_security_policy([
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
        ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
        ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ])  # fmt: skip
    store = TrustStore([trusted], [])
    await store.load()
    options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
    server.set_certificate_validator(CertificateValidator(options, store))  # type: ignore[arg-type]
    idx = await server.register_namespace(NS_URI)
    machine = await server.nodes.objects.add_object(idx, "Machine")
    await machine.add_variable(idx, "Speed", 42.5)
    await server.start()
    return server


@pytest.fixture
async def trusting(tmp_path: Path, client_pki: Pki) -> AsyncIterator[Secured]:
    server = await _start(tmp_path, [client_pki.own_cert])
    yield Secured(server, tmp_path / "server-trusted")
    await server.stop()


@pytest.fixture
async def distrusting(tmp_path: Path, client_pki: Pki) -> AsyncIterator[Secured]:
    stranger = Pki(tmp_path / "stranger")  # the store cannot be empty: trust someone else
    stranger.init("urn:someone-else", "127.0.0.1")
    server = await _start(tmp_path, [stranger.own_cert])
    yield Secured(server, tmp_path / "server-trusted")
    await server.stop()


def _device(
    endpoint: str,
    pki: Pki,
    policy: str,
    password: str = PASSWORD,
    tofu: bool = True,
    auth: dict[str, str] | None = None,
) -> OpcUaDevice:
    return OpcUaDevice.model_validate({
        "id": "secure", "protocol": "opcua", "endpoint": endpoint, "mode": "poll", "timeout": "2s",
        "security": {"mode": "SignAndEncrypt", "policy": policy},
        "auth": auth or {"type": "username", "username": USER, "password": password},
        "namespaces": {"t": NS_URI}, "pki_dir": str(pki.root), "trust_on_first_use": tofu,
        "application_uri": CLIENT_URI,
        "tags": [{"name": "speed", "node": "t:Machine/Speed"}],
    })  # fmt: skip


@pytest.mark.parametrize("policy", ["Basic256Sha256", "Aes256_Sha256_RsaPss", "Aes128_Sha256_RsaOaep"])
async def test_sign_and_encrypt_with_username(trusting: Secured, client_pki: Pki, policy: str) -> None:
    async with OpcUaDriver(_device(trusting.endpoint, client_pki, policy).driver_options()) as driver:
        (sample,) = await driver.read()
    assert sample.value == 42.5 and status.is_good(sample.status)
    # Trust on first use recorded what it trusted.
    line = client_pki.tofu_log.read_text().strip()
    assert trusting.endpoint in line and "CN=shopfloor collector" in line
    assert len(client_pki.certificates(client_pki.trusted)) == 1


async def test_server_distrusting_us_says_what_to_copy(distrusting: Secured, client_pki: Pki) -> None:
    with pytest.raises(DeviceUnreachable) as err:
        async with OpcUaDriver(_device(distrusting.endpoint, client_pki, "Basic256Sha256").driver_options()):
            pass
    message = str(err.value)
    assert "does not trust our certificate" in message and str(client_pki.own_cert) in message


async def test_unknown_server_certificate_is_rejected_without_tofu(
    trusting: Secured, client_pki: Pki
) -> None:
    with pytest.raises(DeviceUnreachable) as err:
        async with OpcUaDriver(
            _device(trusting.endpoint, client_pki, "Basic256Sha256", tofu=False).driver_options()
        ):
            pass
    (rejected,) = client_pki.certificates(client_pki.rejected)
    assert "shopfloor certs trust" in str(err.value) and str(rejected.path) in str(err.value)
    client_pki.move(rejected.path, client_pki.trusted)  # what `shopfloor certs trust` does
    async with OpcUaDriver(
        _device(trusting.endpoint, client_pki, "Basic256Sha256", tofu=False).driver_options()
    ) as driver:
        (sample,) = await driver.read()
    assert sample.value == 42.5


async def test_wrong_password_is_explained(trusting: Secured, client_pki: Pki) -> None:
    with pytest.raises(DeviceUnreachable) as err:
        async with OpcUaDriver(
            _device(trusting.endpoint, client_pki, "Basic256Sha256", password="wrong").driver_options()
        ):
            pass
    assert "rejected the user identity 'operator'" in str(err.value)


async def test_certificate_user_identity(trusting: Secured, client_pki: Pki, tmp_path: Path) -> None:
    user = Pki(tmp_path / "user")
    user.init("urn:shopfloor-test:user", "127.0.0.1")
    USER_CERTS.append(user.own_cert.read_bytes())
    auth = {"type": "certificate", "cert_file": str(user.own_cert), "key_file": str(user.own_key)}
    async with OpcUaDriver(
        _device(trusting.endpoint, client_pki, "Basic256Sha256", auth=auth).driver_options()
    ) as driver:
        (sample,) = await driver.read()
    assert sample.value == 42.5
