"""TLS with server verification, mutual TLS and password auth against a real mosquitto."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.config import load_plant
from collector.delivery import Delivery
from collector.model import Reading
from collector.sinks.mqtt_loop import MqttConnection, MqttOptions, MqttUnavailable, options_from_config
from tests.support.net import async_wait_for, require_binary
from tests.support.servers import Server, start_mosquitto

pytestmark = pytest.mark.integration


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o644)  # mosquitto reads it after dropping root privileges


def make_pki(d: Path) -> dict[str, Path]:
    """A self-signed CA, a server certificate for 127.0.0.1 and a client certificate."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("test-ca")).issuer_name(_name("test-ca"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = {"ca": d / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(_name(f"test-{who}")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )  # fmt: skip
        if who == "server":
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        paths[who] = d / f"{who}.pem"
        paths[who].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{who}_key"] = d / f"{who}.key"
        _write_key(key, paths[f"{who}_key"])
    return paths


@pytest.fixture
def pki() -> Iterator[dict[str, Path]]:
    # outside pytest's 0700 tmp tree: mosquitto reads these after dropping root privileges
    d = Path(tempfile.mkdtemp(prefix="shopfloor-pki-"))
    d.chmod(0o755)
    yield make_pki(d)
    shutil.rmtree(d, ignore_errors=True)


def tls_broker(tmp_path: Path, pki: dict[str, Path], extra: str = "") -> Server:
    conf = f"cafile {pki['ca']}\ncertfile {pki['server']}\nkeyfile {pki['server_key']}\n{extra}"
    return start_mosquitto(tmp_path / "broker", conf)


async def test_server_verification(tmp_path: Path, pki: dict[str, Path]) -> None:
    broker = tls_broker(tmp_path, pki)
    try:
        ok = MqttConnection(MqttOptions("127.0.0.1", broker.port, "tls-ok", ca_file=pki["ca"]))
        await ok.connect()
        await ok.publish("t/x", b"1", qos=1)
        await ok.disconnect()
        other_ca = make_pki(_fresh(tmp_path / "other"))["ca"]
        bad = MqttConnection(MqttOptions("127.0.0.1", broker.port, "tls-bad", ca_file=other_ca))
        with pytest.raises(MqttUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await bad.connect()
    finally:
        broker.stop()


async def test_mutual_tls(tmp_path: Path, pki: dict[str, Path]) -> None:
    broker = tls_broker(tmp_path, pki, "require_certificate true\n")
    try:
        with_cert = MqttOptions(
            "127.0.0.1",
            broker.port,
            "mtls-ok",
            ca_file=pki["ca"],
            cert_file=pki["client"],
            key_file=pki["client_key"],
        )
        conn = MqttConnection(with_cert)
        await conn.connect()
        await conn.publish("t/x", b"1", qos=1)
        await conn.disconnect()
        without = MqttConnection(MqttOptions("127.0.0.1", broker.port, "mtls-bad", ca_file=pki["ca"]))
        with pytest.raises(MqttUnavailable):
            await without.connect(deadline=5)
    finally:
        broker.stop()


def _fresh(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


async def test_password_auth_through_the_plant_file(tmp_path: Path, pki: dict[str, Path]) -> None:
    passwd = require_binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
    pwfile = pki["ca"].parent / "broker-passwd"
    subprocess.run([passwd, "-b", "-c", str(pwfile), "collector", "s3cret"], check=True)  # noqa: ASYNC221
    pwfile.chmod(0o644)
    broker = tls_broker(tmp_path, pki, f"allow_anonymous false\npassword_file {pwfile}\n")
    try:
        (tmp_path / "mqtt.pw").write_text("s3cret\n")
        plant_path = tmp_path / "plant.yaml"
        plant_path.write_text(
            "version: 1\nsite: {enterprise: acme, site: s1}\ndata_dir: data\n"
            "devices:\n  - {id: plc-01, protocol: modbus_tcp, host: 127.0.0.1,\n"
            "     tags: [{name: t, address: 40001}]}\n"
            f"mqtt: {{mode: uns, host: 127.0.0.1, port: {broker.port}, username: collector,\n"
            f"       password_file: mqtt.pw, tls: {{ca_file: {pki['ca']}}}}}\n",
            encoding="utf-8",
        )
        plant = load_plant(plant_path)
        delivery = Delivery.build(plant.config, plant.base_dir, 1)
        stop = asyncio.Event()
        task = asyncio.create_task(delivery.run(stop))
        delivery("plc-01", [Reading("plc-01", "t", 1.0, 0, None, 5, 1, 1)])
        box = delivery.runners[0].outbox
        await async_wait_for(
            lambda: box.counters().get(("plc-01", "acked"), 0) == 1, 15, "acked over TLS + password"
        )
        stop.set()
        await asyncio.wait_for(task, 15)
        delivery.close()
        wrong = MqttOptions(
            "127.0.0.1", broker.port, "pw-bad", ca_file=pki["ca"], username="collector", password="no"
        )
        with pytest.raises(MqttUnavailable, match="refused"):
            await MqttConnection(wrong).connect()
    finally:
        broker.stop()


def _tls_options(tmp_path: Path, port: int) -> MqttOptions:
    """`mqtt.tls: {}` with a password, read through the plant file as the collector reads it."""
    plant_path = tmp_path / "plant.yaml"
    (tmp_path / "mqtt.pw").write_text("s3cret\n")
    plant_path.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\n"
        f"mqtt: {{mode: uns, host: 127.0.0.1, port: {port}, username: collector, password_file: mqtt.pw,"
        " tls: {}}\n",
        encoding="utf-8",
    )
    plant = load_plant(plant_path)
    return options_from_config(plant.config.mqtt, "tls-empty", plant.base_dir)


async def test_empty_tls_section_never_connects_in_plain_text(tmp_path: Path) -> None:
    """`tls: {}` used to connect to a plain listener and send the password in clear text."""
    broker = start_mosquitto(tmp_path / "plain")
    try:
        with pytest.raises(MqttUnavailable):
            await MqttConnection(_tls_options(tmp_path, broker.port)).connect(deadline=5)
    finally:
        broker.stop()


async def test_empty_tls_section_verifies_against_the_system_ca_store(
    tmp_path: Path, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = tls_broker(tmp_path, pki)
    try:
        # the test CA is not in the system store: verification fails, so it is on
        with pytest.raises(MqttUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await MqttConnection(_tls_options(tmp_path, broker.port)).connect()
        # OpenSSL's default store honours SSL_CERT_FILE: the same options now trust the test CA
        monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
        conn = MqttConnection(_tls_options(tmp_path, broker.port))
        await conn.connect()
        await conn.publish("t/x", b"1", qos=1)
        await conn.disconnect()
    finally:
        broker.stop()
