"""The signing key, the redacted configuration and its hash, and reading chrony's clock offset."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from collector.config.plant import PlantConfig
from collector.config.redact import REDACTED, config_hash, redacted_config
from collector.ledger import chain, keys
from collector.recorder.timesync import beyond_limit, parse_tracking, read_tracking

pytestmark = pytest.mark.unit


def test_the_key_is_created_private_and_its_public_part_exported(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keys" / "evidence-ed25519.pem"
    key = keys.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    pub = tmp_path / "data" / "keys" / "evidence-ed25519.pub.pem"
    assert keys.public_pem_path(path) == pub and pub.read_bytes() == keys.public_pem(key)

    again = keys.load_or_create(path)
    assert keys.key_id(again) == keys.key_id(key)
    assert keys.key_id(key) == chain.key_id_from_public_pem(pub.read_bytes())
    assert keys.key_id(key).startswith("ed25519:") and len(keys.key_id(key)) == len("ed25519:") + 16

    signature = keys.sign(key, b"data")
    assert chain.verify_signature(pub.read_bytes(), b"data", signature)
    assert keys.verify(again, b"data", signature)
    assert not chain.verify_signature(pub.read_bytes(), b"date", signature)
    assert not chain.verify_signature(pub.read_bytes(), b"data", "not base64!")
    assert not chain.verify_signature(b"not a pem", b"data", signature)


def test_a_key_of_another_type_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(keys.KeyFileError, match="must be Ed25519"):
        keys.load_or_create(path)

    text = tmp_path / "notes.pem"
    text.write_text("hello\n", encoding="utf-8")
    with pytest.raises(keys.KeyFileError, match="not an unencrypted PKCS8 PEM private key"):
        keys.load_or_create(text)


def test_an_unreadable_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.mkdir()  # unreadable as a file even for root
    with pytest.raises(keys.KeyFileError, match="cannot read the signing key"):
        keys.load_or_create(path)


def plant(password: str, host: str = "127.0.0.1") -> PlantConfig:
    return PlantConfig.model_validate(
        {
            "site": {"enterprise": "t", "site": "s"},
            "mqtt": {"mode": "uns", "host": host, "password": password, "username": "edge",
                     "tls": {"key_password": password, "ca_file": "pki/ca.pem"}},
            "storage": {"backend": "victoriametrics", "url": f"http://admin:{password}@127.0.0.1:8428",
                        "token": password},
            "web": {"token_file": "secrets/web-token"},
        }
    )  # fmt: skip


def test_the_redacted_config_has_no_secret_and_keeps_paths() -> None:
    cfg = plant("s3cret-pw")
    red = redacted_config(cfg)
    assert "s3cret-pw" not in str(red)
    assert red["mqtt"]["password"] == REDACTED and red["mqtt"]["tls"]["key_password"] == REDACTED
    assert red["storage"]["token"] == REDACTED
    assert red["storage"]["url"] == f"http://admin:{REDACTED}@127.0.0.1:8428"
    assert red["mqtt"]["username"] == "edge" and red["mqtt"]["tls"]["ca_file"] == "pki/ca.pem"
    assert red["web"]["token_file"] == "secrets/web-token" and red["web"]["token"] is None
    assert red["evidence"]["signing_key_file"] == "data/keys/evidence-ed25519.pem"


def test_the_config_hash_follows_the_redacted_config() -> None:
    base = config_hash(plant("one"))
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64
    assert config_hash(plant("two")) == base  # a rotated secret is not a configuration change
    assert config_hash(plant("one", host="10.0.0.5")) != base


TRACKING = (
    "A9FEA97B,169.254.169.123,3,1764057600.123456789,{offset},0.000001,0.000010,-12.5,0.001,0.02,"
    "0.0004,0.0001,64.2,{leap}"
)


def test_chrony_tracking_is_parsed_against_the_limit() -> None:
    ok = parse_tracking(TRACKING.format(offset="-0.000123", leap="Normal"), 1.0)
    assert ok == {
        "status": "ok", "offset_s": -0.000123, "stratum": 3, "reference_id": "169.254.169.123",
        "leap_status": "Normal",
    }  # fmt: skip
    far = parse_tracking(TRACKING.format(offset="1.5", leap="Normal"), 1.0)
    assert far is not None and far["status"] == "excursion"
    lost = parse_tracking(TRACKING.format(offset="0.0", leap="Not synchronised"), 1.0)
    assert lost is not None and lost["status"] == "excursion"
    assert parse_tracking("506 Cannot talk to daemon", 1.0) is None


def test_only_a_measured_offset_beyond_the_limit_makes_samples_uncertain() -> None:
    def uncertain(offset: str, leap: str) -> bool:
        payload = parse_tracking(TRACKING.format(offset=offset, leap=leap), 1.0)
        return payload is not None and beyond_limit(payload, 1.0)

    assert uncertain("1.5", "Normal") and uncertain("-2.0", "Normal")
    assert not uncertain("0.2", "Normal")
    assert not uncertain("0.0", "Not synchronised")  # no time server: recorded, data not condemned


@pytest.mark.skipif(shutil.which("chronyc") is not None, reason="chronyc is installed here")
async def test_without_chronyc_the_clock_is_unavailable() -> None:
    payload = await read_tracking(1.0)
    assert payload["status"] == "unavailable" and payload["offset_s"] is None
