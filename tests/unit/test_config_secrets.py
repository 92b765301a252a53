"""Secrets stay out of the plant file and out of everything that prints it: no `${NAME:-default}`
fallback for a secret, no password inside a URL, and no password echoed in a problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import ConfigError, load_plant

pytestmark = pytest.mark.unit
HEAD = "version: 1\nsite: {enterprise: acme, site: s1}\n"


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "plant.yaml"
    path.write_text(HEAD + text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    return [p.render() for p in info.value.problems]


def test_a_default_for_a_secret_is_refused_even_when_the_variable_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_MQTT_PW", "from-env")
    (line,) = problems_of(tmp_path, "mqtt: {username: u, password: '${SF_MQTT_PW:-hunter2}'}\n")
    assert "plant.yaml:3:" in line and "mqtt.password: secret 'password' has a default" in line
    assert "without ':-'" in line


def test_a_default_for_a_plain_setting_is_still_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF_HOST", raising=False)
    path = tmp_path / "plant.yaml"
    path.write_text(HEAD + "mqtt: {host: '${SF_HOST:-10.0.0.7}'}\n", encoding="utf-8")
    assert load_plant(path).config.mqtt.host == "10.0.0.7"


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("storage: {backend: victoriametrics, url: 'http://vm:s3cr3t@127.0.0.1:8428'}\n", "storage.url",
         "storage.token_file"),
        ("devices:\n  - {id: cnc, protocol: opcua, endpoint: 'opc.tcp://op:s3cr3t@10.0.0.5:4840'}\n",
         "devices[0].endpoint", "password_file"),
        ("mqtt: {host: 'mqtt://svc:s3cr3t@broker'}\n", "mqtt.host", "mqtt.password_file"),
    ],
)  # fmt: skip
def test_a_password_inside_a_url_is_refused_without_printing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, field: str, hint: str
) -> None:
    lines = problems_of(tmp_path, text)
    assert any(f"{field}: the URL" in ln and "carries a password" in ln and hint in ln for ln in lines), lines
    assert not any("s3cr3t" in ln for ln in lines)


def test_a_password_from_env_inside_a_url_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_VM_PW", "s3cr3t")
    lines = problems_of(tmp_path, "storage: {backend: influxdb, url: 'http://vm:${SF_VM_PW}@h:8086'}\n")
    assert any("storage.url: the URL 'http://vm:***@h:8086' carries a password" in ln for ln in lines)
    assert not any("s3cr3t" in ln for ln in lines)


def test_a_value_echoed_in_any_problem_never_shows_a_url_password(tmp_path: Path) -> None:
    lines = problems_of(tmp_path, "devices:\n  - {id: 'http://u:s3cr3t@h', protocol: modbus_tcp, host: h}\n")
    assert any("devices[0].id" in ln and "not a valid id" in ln for ln in lines)
    assert not any("s3cr3t" in ln for ln in lines)
