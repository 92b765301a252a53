"""OPC UA value conversion, address parsing and the PKI folder (no sockets)."""

from __future__ import annotations

import datetime as dt
import stat
import uuid
from pathlib import Path

import pytest
from asyncua import ua
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from drivers import status
from drivers.opcua import nodes, values
from drivers.opcua.browse import Variable, aliases, browse_path, common_depth, tag_id
from drivers.opcua.certs import Pki

pytestmark = pytest.mark.unit

NS = ["http://opcfoundation.org/UA/", "urn:a", "urn:b"]


def dv(value: object, vt: ua.VariantType | None = None, code: int = 0) -> ua.DataValue:
    when = dt.datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=dt.UTC)
    return ua.DataValue(
        Value=ua.Variant(value, vt) if vt else ua.Variant(value),
        StatusCode=ua.StatusCode(ua.UInt32(code)),
        SourceTimestamp=when,  # type: ignore[arg-type]
        ServerTimestamp=when + dt.timedelta(milliseconds=5),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (True, True),
        (42, 42),
        (2.5, 2.5),
        ("G01", "G01"),
        (ua.LocalizedText("Running", "en"), "Running"),
        (ua.QualifiedName("Name", 2), "Name"),
        (dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC), 1000),
        (ua.NodeId(ua.String("x"), ua.Int16(2)), "ns=2;s=x"),
        (b"\x01\xff", "01ff"),
        ([1, 2, 3], [1, 2, 3]),
        ([ua.LocalizedText("a"), ua.LocalizedText("b")], ["a", "b"]),
    ],
)
def test_types_map_cleanly(value: object, want: object) -> None:
    sample = values.to_sample("t", dv(value))
    assert sample.value == want and sample.status == status.GOOD


def test_timestamps_and_status_are_kept() -> None:
    sample = values.to_sample("t", dv(1.0, code=status.UNCERTAIN_LAST_USABLE_VALUE))
    assert sample.status == status.UNCERTAIN_LAST_USABLE_VALUE
    assert sample.source_ts == 1714550400123 and sample.server_ts == 1714550400128


def test_guid_and_structures() -> None:
    g = uuid.uuid4()
    assert values.to_sample("t", dv(g)).value == str(g)
    unknown = values.to_sample("t", dv(ua.ExtensionObject()))
    assert unknown.value is None and unknown.status == status.BAD_TYPE_MISMATCH


@given(st.integers(min_value=0, max_value=2**40))
def test_ms_round_trip(ms: int) -> None:
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    assert values.to_ms(when) == ms
    assert values.to_ms(when.replace(tzinfo=None)) == ms  # naive means UTC, never local time


def test_node_ids_parse_with_uri_lookup() -> None:
    assert nodes.parse_node_id("ns=2;s=Spindle.Speed", NS) == ua.NodeId(
        ua.String("Spindle.Speed"), ua.Int16(2)
    )
    assert nodes.parse_node_id("i=2258", NS) == ua.NodeId(ua.Int32(2258), ua.Int16(0))
    assert nodes.parse_node_id("nsu=urn:b;s=x", NS) == ua.NodeId(ua.String("x"), ua.Int16(2))
    assert nodes.parse_node_id("nsu=urn:a;i=7", NS).NamespaceIndex == 1
    with pytest.raises(nodes.AddressError):
        nodes.parse_node_id("nsu=urn:missing;s=x", NS)


def test_browse_path_aliases() -> None:
    path = nodes.browse_path("m:Machines/cnc/o:Monitoring/Speed", {"m": "urn:a", "o": "urn:b"}, NS)
    names = [(e.TargetName.NamespaceIndex, e.TargetName.Name) for e in path.RelativePath.Elements]
    assert names == [(1, "Machines"), (1, "cnc"), (2, "Monitoring"), (1, "Speed")]
    plain = nodes.browse_path("Server/0:ServerStatus", {}, NS)
    assert [e.TargetName.NamespaceIndex for e in plain.RelativePath.Elements] == [0, 0]
    with pytest.raises(nodes.AddressError):
        nodes.browse_path("x:A/B", {"x": "urn:not-there"}, NS)


def test_browse_output_round_trips_through_the_resolver() -> None:
    variables = [
        Variable([(1, "Machines"), (1, "cnc"), (2, "Spindle"), (1, "ActualSpeed")], ua.NodeId()),
        Variable([(1, "Machines"), (1, "cnc"), (0, "Other")], ua.NodeId()),
    ]
    alias = aliases(variables, NS)
    assert alias == {1: "a", 2: "b"}
    text = browse_path(variables[0].path, alias)
    assert text == "a:Machines/cnc/b:Spindle/ActualSpeed"
    elements = nodes.browse_path(text, {"a": "urn:a", "b": "urn:b"}, NS).RelativePath.Elements
    assert [(e.TargetName.NamespaceIndex, e.TargetName.Name) for e in elements] == variables[0].path
    assert browse_path(variables[1].path, alias) == "a:Machines/cnc/0:Other"
    assert common_depth(variables) == 2
    assert tag_id(["Monitoring", "Spindle", "ActualSpeed"]) == "monitoring_spindle_actual_speed"
    assert tag_id(["主轴 Speed!"]) == "speed"


def test_pki_init_list_trust(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    assert pki.init("urn:host:shopfloor:collector", "host")
    assert not pki.init("urn:host:shopfloor:collector", "host")  # idempotent
    assert stat.S_IMODE(pki.own_key.stat().st_mode) == 0o600
    cert = x509.load_der_x509_certificate(pki.own_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:host:shopfloor:collector"]
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    other = Pki(tmp_path / "other")
    other.init("urn:other", "other")
    der = other.own_cert.read_bytes()
    rejected = pki.store(der, pki.rejected)
    info = pki.certificates(pki.rejected)[0]
    assert pki.find(info.fingerprint[:11]) == rejected  # colons allowed in the prefix
    assert not pki.is_trusted(der)
    pki.move(rejected, pki.trusted)
    assert pki.is_trusted(der) and not pki.certificates(pki.rejected)
    pki.record_tofu(der, "opc.tcp://x:4840/")
    assert "opc.tcp://x:4840/" in pki.tofu_log.read_text()
