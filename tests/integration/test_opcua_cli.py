"""`shopfloor browse` and `shopfloor certs` as a user runs them (subprocesses, real simulator)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from collector.config.opcua import OpcUaDevice
from drivers import status
from drivers.opcua.certs import Pki
from drivers.opcua.driver import OpcUaDriver
from tests.support.net import async_wait_for, free_port
from tests.support.opcua import FakeTime, simulator

pytestmark = pytest.mark.integration


async def shopfloor(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "collector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_browse_prints_yaml_the_driver_can_use() -> None:
    ft = FakeTime()
    ft.at(101)
    async with simulator(ft) as sim:
        await sim.step()
        code, out, err = await shopfloor("browse", sim.endpoint)
        assert code == 0, err
        (raw,) = YAML(typ="safe").load(out)
        state = raw.pop("state")
        assert state["template"] == "machinetool"
        assert state["inputs"]["channel_state"] == "monitoring_channel1_channel_state"
        assert state["inputs"]["red"] == "monitoring_stacklight_lamp0_signal_on"
        assert state["inputs"]["program_state"] == "production_active_program_state"
        raw["publishing_interval"] = "100ms"
        device = OpcUaDevice.model_validate(raw)
        assert raw["id"] == "cnc-01" and len(device.tags) == len(sim.tags)
        async with OpcUaDriver(device.driver_options()) as driver:
            samples = await async_wait_for(
                driver.read,
                15,
                "Good values of every tag",
                until=lambda s: all(status.is_good(x.status) for x in s),
            )
        got = {s.tag: s.value for s in samples}
        assert got["monitoring_spindle_actual_speed"] == sim.model.snapshot.spindle_speed
        assert got["identification_serial_number"] == "SIM-0001-cnc-01"


async def test_browse_bad_path_and_unreachable() -> None:
    code, _, err = await shopfloor("browse", f"opc.tcp://127.0.0.1:{free_port()}/")  # nothing listens
    assert code == 1 and "cannot reach" in err
    code, _, err = await shopfloor("browse", "http://x")
    assert code == 2


async def test_certs_commands(tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    code, out, err = await shopfloor("certs", "init", "--pki", str(pki_dir))
    assert code == 0, err
    assert "created" in out and "SHA-256" in out
    code, out, _ = await shopfloor("certs", "init", "--pki", str(pki_dir))
    assert "exists" in out
    server = Pki(tmp_path / "server")
    server.init("urn:some-server", "server")
    pki = Pki(pki_dir)
    rejected = pki.store(server.own_cert.read_bytes(), pki.rejected)
    fingerprint = pki.certificates(pki.rejected)[0].fingerprint
    code, out, _ = await shopfloor("certs", "list", "--pki", str(pki_dir))
    assert code == 0 and fingerprint in out and "rejected" in out
    code, out, err = await shopfloor(
        "certs", "trust", fingerprint.replace(":", "")[:16], "--pki", str(pki_dir)
    )
    assert code == 0, err
    assert not rejected.exists() and len(pki.certificates(pki.trusted)) == 1
    code, out, err = await shopfloor("certs", "reject", fingerprint[:20], "--pki", str(pki_dir))
    assert code == 0, err
    assert not pki.certificates(pki.trusted) and len(pki.certificates(pki.rejected)) == 1
    code, _, err = await shopfloor("certs", "trust", "deadbeefdeadbeef", "--pki", str(pki_dir))
    assert code == 2 and "no certificate" in err


async def test_probe_reads_an_opcua_device_once(tmp_path: Path) -> None:
    ft = FakeTime()
    ft.at(101)
    async with simulator(ft) as sim:
        await sim.step()
        plant = tmp_path / "plant.yaml"
        plant.write_text(
            "version: 1\nsite: {enterprise: t, site: s}\ndevices:\n"
            f"  - id: cnc-01\n    protocol: opcua\n    endpoint: {sim.endpoint}\n    mode: poll\n"
            f"    namespaces: {{m: '{sim.namespace_uri}'}}\n    tags:\n"
            "      - {name: speed, node: 'm:Machines/cnc-01/Monitoring/Spindle/ActualSpeed'}\n"
            "      - {name: missing, node: 'm:Machines/cnc-01/Monitoring/Spindle/NoSuchNode'}\n",
            encoding="utf-8",
        )
        code, out, err = await shopfloor("probe", "-c", str(plant), "--json")
    assert code == 1 and "cnc-01: 1 tag Bad: missing" in err  # the sign-off needs every tag Good
    (report,) = json.loads(out)
    tags = {t["name"]: t for t in report["tags"]}
    assert tags["speed"]["quality"] == "GOOD" and tags["speed"]["value"] == sim.model.snapshot.spindle_speed
    assert tags["missing"]["value"] is None and tags["missing"]["status"] & 0x80000000  # Bad, the rest flows
