"""The configuration CLI as a child process: `config check` and `config schema` output and exit codes,
and `run` refusing a plant whose readings reach no sink before it makes anything.

The configuration language itself is tested in-process in tests/unit/test_config.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases" / "config"


def test_cli_check_exits_2_and_prints_every_problem() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "config", "check", str(CASES / "five-mistakes.yaml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 2
    located = [ln for ln in proc.stderr.splitlines() if "five-mistakes.yaml:" in ln]
    assert len(located) == 5
    assert "5 problems found" in proc.stderr


def test_run_refuses_a_plant_whose_readings_reach_no_sink(tmp_path: Path) -> None:
    """MQTT off and a store the historian fills from MQTT: the collector used to start and end at
    once with exit 0 (delivery had nothing to run). Now a located refusal, before anything is made."""
    plant = tmp_path / "plant.yaml"
    plant.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\nmqtt: {mode: 'off'}\n"
        "storage: {backend: victoriametrics, url: 'http://127.0.0.1:8428'}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "run", "-c", str(plant)],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "plant.yaml:4:" in proc.stderr and "storage.direct: readings would reach no sink" in proc.stderr
    assert "(hint: set mqtt" in proc.stderr
    assert not (tmp_path / "data").exists()  # no session, ledger or outbox made


def test_run_refuses_a_sparkplug_plant_whose_store_nothing_would_fill(tmp_path: Path) -> None:
    """The historian stores UNS messages only: in Sparkplug mode a VictoriaMetrics store stays empty
    unless the collector writes it itself. That plant used to run and store nothing."""
    plant = tmp_path / "plant.yaml"
    plant.write_text(
        "version: 1\nsite: {enterprise: acme, site: s1}\nmqtt: {mode: sparkplug}\n"
        "storage: {backend: victoriametrics, url: 'http://127.0.0.1:8428'}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "run", "-c", str(plant)],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "plant.yaml:4:" in proc.stderr and "nothing would fill victoriametrics" in proc.stderr
    assert "(hint: set storage.direct: true" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_cli_check_valid_file_prints_summary_and_exits_0() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "config", "check", "configs/plant.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "configs/plant.yaml: OK" in proc.stdout
    assert "devices  4: modbus_rtu 1, modbus_rtu_over_tcp 1, modbus_tcp 1, opcua 1" in proc.stdout
    assert "Modicon (1-based" in proc.stdout


def test_schema_is_json_and_describes_devices() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "config", "schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    schema = json.loads(proc.stdout)
    assert "devices" in schema["properties"]
    assert {"ModbusTcpDevice", "OpcUaDevice", "ModbusRtuDevice"} <= set(schema["$defs"])


_BAD_INPUT = {
    "gbk": "version: 1\nsite: {enterprise: acme, site: s1, name_zh: 苏州一厂}\n".encode("gbk"),
    "nesting": ("version: 1\nsite: {enterprise: acme, site: s1}\nx: " + "[" * 5000 + "]" * 5000).encode(),
    "alias-bomb": (
        "version: 1\nsite: {enterprise: acme, site: s1}\na0: &a0 [" + ", ".join(["lol"] * 10) + "]\n"
        + "".join(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]\n" for n in range(1, 10))
    ).encode(),
    "password-file": b"version: 1\nsite: {enterprise: acme, site: s1}\n"
    b"mqtt: {mode: uns, username: u, password_file: missing.txt}\n",
}  # fmt: skip


@pytest.mark.parametrize("command", ["config check", "run -c"])
@pytest.mark.parametrize("case", sorted(_BAD_INPUT))
def test_bad_input_is_a_located_error_with_exit_2_never_a_traceback(
    tmp_path: Path, case: str, command: str
) -> None:
    """Each of these ended in a traceback and exit 1 (which the systemd unit restarts in a loop), or
    grew to gigabytes; now one located problem and exit 2, before anything is made."""
    plant = tmp_path / "plant.yaml"
    plant.write_bytes(_BAD_INPUT[case])
    proc = subprocess.run(
        [sys.executable, "-m", "collector", *command.split(), str(plant)],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "plant.yaml:" in proc.stderr and "1 problem found" in proc.stderr
    assert not (tmp_path / "data").exists()
