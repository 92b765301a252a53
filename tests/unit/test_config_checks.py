"""Checks made on the validated plant: paths against the plant's folder, files that must exist, and
the two Modbus addressing mistakes that used to pass silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.config.modbus import ModbusTcpDevice
from collector.config.opcua import OpcUaDevice
from tests.support.configs import HEAD, problems_of, write

pytestmark = pytest.mark.unit


OPCUA = HEAD + (
    "devices:\n  - id: cnc\n    protocol: opcua\n    endpoint: opc.tcp://h:4840\n    pki_dir: pki\n"
    "    auth: {type: username, username: u, password_file: secrets/opcua.txt}\n"
)


def test_opcua_files_resolve_against_the_plant_folder_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    write(site, "pw\n", "secrets/opcua.txt")
    path = write(site, OPCUA + "mqtt: {tls: {ca_file: ca.pem}}\nstorage: {token_file: secrets/opcua.txt}\n")
    write(site, "-----BEGIN CERTIFICATE-----\n", "ca.pem")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plant = load_plant(Path("../site/plant.yaml"))
    device = plant.config.devices[0]
    assert isinstance(device, OpcUaDevice)
    options = device.driver_options()
    assert options.auth.password_file == site / "secrets/opcua.txt"
    assert options.pki_dir == site / "pki"
    assert plant.config.mqtt.tls is not None and plant.config.mqtt.tls.ca_file == site / "ca.pem"
    assert plant.config.data_dir == site / "data" and plant.config.evidence.dir == site / "evidence"
    assert plant.config == load_plant(path).config  # the same plant, however the file was named


def test_a_missing_password_file_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "mqtt:\n  mode: uns\n  username: u\n  password_file: nope.txt\n")
    (line,) = problems_of(path)
    assert "plant.yaml:6:18: mqtt.password_file:" in line and "nope.txt does not exist" in line
    assert "relative to the plant file's folder" in line


def test_every_file_the_collector_only_reads_must_exist(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        OPCUA.replace(
            "username, username: u, password_file: secrets/opcua.txt",
            "certificate, cert_file: c.der, key_file: k.pem",
        )
        + "storage: {token_file: t.txt}\nweb: {token_file: w.txt}\nmqtt: {tls: {ca_file: pki}}\n",
    )
    (tmp_path / "pki").mkdir()
    lines = problems_of(path)
    fields = [ln.split(": ", 2)[1] for ln in lines]
    assert fields == [
        "devices[0].auth.cert_file", "devices[0].auth.key_file",
        "storage.token_file", "web.token_file", "mqtt.tls.ca_file",
    ]  # fmt: skip
    assert "is a folder, not a file" in lines[-1]


def _modbus(tags: str) -> str:
    return HEAD + f"devices:\n  - id: d\n    protocol: modbus_tcp\n    host: h\n    tags:\n{tags}"


def test_a_modicon_number_in_table_offset_form_is_an_error_with_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, _modbus("      - {name: a, address: {table: holding_register, offset: 40001}}\n"))
    (line,) = problems_of(path)
    assert "plant.yaml:8:" in line and "devices[0].tags[0].address" in line
    assert "looks like the Modicon reference 40001, which is holding_register 0 on the wire" in line
    assert "write address: 40001" in line and "literal: true" in line


def test_a_literal_high_offset_is_accepted(tmp_path: Path) -> None:
    text = _modbus(
        "      - {name: sunspec_id, address: {table: holding_register, offset: 40000, literal: true}}\n"
    )
    device = load_plant(write(tmp_path, text)).config.devices[0]
    assert isinstance(device, ModbusTcpDevice)
    assert device.tag_specs()[0].address == 40000


def test_tags_of_different_types_on_the_same_registers_are_an_error(tmp_path: Path) -> None:
    tags = (
        "      - {name: power, address: 40001, type: float32}\n"
        "      - {name: status, address: 40010}\n"
        "      - {name: alarm, address: 40010, type: bool, bit: 3}\n"  # a bit view: fine
        "      - {name: energy, address: 40002}\n"  # the float's second register
    )
    (line,) = problems_of(write(tmp_path, _modbus(tags)))
    assert "plant.yaml:11:" in line and "devices[0].tags[3].address" in line
    assert "tag 'energy' (uint16 at holding_register 1" in line
    assert "tag 'power' (float32 at holding_register 0..1, line 8) as a different type" in line
    assert "add view: true to 'energy'" in line


def test_an_overlap_marked_as_a_view_is_accepted(tmp_path: Path) -> None:
    tags = (
        "      - {name: power, address: 40001, type: float32}\n"
        "      - {name: power_hi, address: 40001, view: true}\n"
        "      - {name: power_lo, address: 40002, view: true}\n"
    )
    device = load_plant(write(tmp_path, _modbus(tags))).config.devices[0]
    assert isinstance(device, ModbusTcpDevice) and len(device.tags) == 3
