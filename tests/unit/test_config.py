"""The plant configuration language: valid files load, every mistake is located and explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_plant
from collector.config.modbus import ModbusTcpDevice
from collector.config.units import parse_duration, parse_size
from drivers.modbus.spec import Table
from tests.support.configs import HEAD, problems_of, write

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases" / "config"


def test_example_plant_loads_with_templates_and_device_files() -> None:
    plant = load_plant(REPO / "configs" / "plant.yaml")
    ids = [d.id for d in plant.config.devices]
    assert ids == ["cnc-01", "plc-01", "meter-01", "press-01"]
    plc = plant.config.devices[1]
    assert isinstance(plc, ModbusTcpDevice)
    assert [t.name for t in plc.tags][:3] == ["lamp_red", "lamp_yellow", "lamp_green"]
    meter = plant.config.devices[2]
    assert meter.byte_order.value == "CDAB"  # device overrides the template default ABCD


def test_five_mistakes_give_five_located_errors() -> None:
    lines = problems_of(CASES / "five-mistakes.yaml")
    assert len(lines) == 5, "\n".join(lines)
    expected = [
        (7, "devices[0].id", "not a valid id"),
        (10, "devices[0].pol_interval", "did you mean 'poll_interval'"),
        (12, "devices[0].tags[0].type", "float32"),
        (13, "devices[0].tags[1].name", "duplicate tag name 'speed'"),
        (17, "devices[1].timeout", "has no unit"),
    ]
    for line, (lineno, path, text) in zip(lines, expected, strict=True):
        assert f"five-mistakes.yaml:{lineno}:" in line
        assert f": {path}: " in line
        assert text in line
        assert "(hint: " in line


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "site:\n  enterprise: a\n   site: b\n")
    (line,) = problems_of(path)
    assert "plant.yaml:3:" in line and "YAML syntax error" in line


def test_duplicate_yaml_key_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "web: {port: 1}\nweb: {port: 2}\n")
    (line,) = problems_of(path)
    assert "plant.yaml:4:" in line and "duplicate" in line


def test_error_inside_a_template_points_into_the_template(tmp_path: Path) -> None:
    write(
        tmp_path,
        "protocol: modbus\ntags:\n  - {name: ok, address: 40001}\n"
        "  - {name: bad, address: 40002, type: uint7}\n",
        "templates/t1.yaml",
    )
    path = write(tmp_path, HEAD + "devices:\n  - {id: d1, protocol: modbus_tcp, host: h, template: t1}\n")
    (line,) = problems_of(path)
    assert "t1.yaml:4:" in line and "devices[0].tags[1].type" in line


def test_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, "protocol: modbus\ntags: []\n", "templates/meter.yaml")
    path = write(tmp_path, HEAD + "devices:\n  - {id: d1, protocol: modbus_tcp, host: h, template: metre}\n")
    (line,) = problems_of(path)
    assert "plant.yaml:4:" in line and "unknown template 'metre'" in line and "known: meter" in line


def test_device_file_errors_point_into_the_device_file(tmp_path: Path) -> None:
    write(tmp_path, "id: d2\nprotocol: modbus_tcp\nhost: h\nport: 70000\n", "devs/d2.yaml")
    path = write(tmp_path, HEAD + "devices_dir: devs\n")
    (line,) = problems_of(path)
    assert "d2.yaml:4:" in line and "devices[0].port" in line


def test_missing_env_var_is_located_and_set_one_is_substituted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_TEST_HOST", "10.0.0.9")
    monkeypatch.delenv("SF_TEST_UNSET", raising=False)
    path = write(tmp_path, HEAD + "mqtt: {host: '${SF_TEST_HOST}', password: '${SF_TEST_UNSET}'}\n")
    (line,) = problems_of(path)
    assert "plant.yaml:3:" in line and "SF_TEST_UNSET is not set" in line
    monkeypatch.setenv("SF_TEST_UNSET", "s3cret")
    plant = load_plant(path)
    assert plant.config.mqtt.host == "10.0.0.9"
    assert plant.config.mqtt.password is not None
    assert plant.config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(plant.config)


def test_plain_text_secret_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "web: {token: abc123}\n")
    (line,) = problems_of(path)
    assert "web.token" in line and "plain text" in line and "token_file" in line


def test_unknown_protocol_and_missing_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEAD + "devices:\n  - {id: a, protocol: profibus}\n  - {id: b, protocol: modbus_tcp}\n"
    )
    lines = problems_of(path)
    assert any("devices[0].protocol" in ln and "modbus_tcp" in ln for ln in lines)
    assert any("devices[1].host" in ln and "required key 'host' is missing" in ln for ln in lines)


def test_area_and_line_must_be_declared(tmp_path: Path) -> None:
    text = (
        "version: 1\nsite:\n  enterprise: a\n  site: s\n  areas:\n    - {id: m, lines: [{id: l1}]}\n"
        "devices:\n  - {id: d, protocol: modbus_tcp, host: h, area: m, line: l2}\n"
    )
    (line,) = problems_of(write(tmp_path, text))
    assert "devices[0].line" in line and "lines of m: l1" in line


def test_modicon_and_offset_addressing(tmp_path: Path) -> None:
    text = HEAD + (
        "devices:\n  - id: d\n    protocol: modbus_tcp\n    host: h\n    address_base: 1\n    tags:\n"
        "      - {name: a, address: 40001}\n"
        "      - {name: b, address: 300010}\n"
        "      - {name: c, address: '00003', type: bool}\n"
        "      - {name: d, address: {table: holding_register, offset: 1}}\n"
    )
    device = load_plant(write(tmp_path, text)).config.devices[0]
    assert isinstance(device, ModbusTcpDevice)
    specs = {s.name: (s.table, s.address) for s in device.tag_specs()}
    assert specs == {
        "a": (Table.HOLDING_REGISTER, 0),
        "b": (Table.INPUT_REGISTER, 9),
        "c": (Table.COIL, 2),
        "d": (Table.HOLDING_REGISTER, 0),  # 1-based device: offset 1 is wire address 0
    }


@pytest.mark.parametrize(
    ("tag", "text"),
    [
        ("{name: a, address: 17}", "ambiguous"),
        ("{name: a, address: 50001}", "not a Modicon reference"),
        ("{name: a, address: 10001, type: uint16}", "holds one bit"),
        ("{name: a, address: 40001, type: bool}", "needs the bit number"),
        ("{name: a, address: 40001, type: string}", "needs its length"),
        ("{name: a, address: 30001, writable: true}", "read-only"),
    ],
)
def test_modbus_tag_mistakes(tmp_path: Path, tag: str, text: str) -> None:
    path = write(
        tmp_path,
        HEAD + f"devices:\n  - id: d\n    protocol: modbus_tcp\n    host: h\n    tags:\n      - {tag}\n",
    )
    (line,) = problems_of(path)
    assert "plant.yaml:8:" in line and text in line and "hint" in line


def test_durations_and_sizes() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("5s") == 5.0
    assert parse_duration("2m") == 120.0
    assert parse_duration("1h") == 3600.0
    assert parse_size("512MB") == 512_000_000
    assert parse_size("2GiB") == 2 * 2**30


def test_a_bare_number_duration_offers_both_readings(tmp_path: Path) -> None:
    """`poll_interval: 1000` used to suggest '1000s' (16 minutes) to someone who meant 1000 ms."""
    device = "{id: d, protocol: modbus_tcp, host: h, poll_interval: 1000}"
    path = write(tmp_path, HEAD + f"devices:\n  - {device}\n")
    (line,) = problems_of(path)
    assert "devices[0].poll_interval: duration '1000' has no unit" in line
    assert "seconds or milliseconds: write '1000ms' (1 s) or '1000s' (16.7 min)" in line


def _yaml_files() -> list[Path]:
    return sorted(p for p in (REPO / "configs").rglob("*.y*ml"))


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_under_configs_validates(path: Path) -> None:
    from tests.support.configs import validate_any

    validate_any(path)
