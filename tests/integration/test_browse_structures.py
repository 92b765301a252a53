"""`shopfloor browse` and structure-typed variables (issue 18): ServerStatus and BuildInfo read only
BadTypeMismatch as whole values, so their readable members are listed instead; the Server object a walk
from Objects leaves out is named in the output, and `--path Server` browses it."""

from __future__ import annotations

import asyncio
import sys

import pytest
from ruamel.yaml import YAML

from collector.config.opcua import OpcUaDevice
from drivers import status
from drivers.opcua.driver import OpcUaDriver
from tests.support.net import async_wait_for
from tests.support.opcua import FakeTime, simulator

pytestmark = pytest.mark.integration


async def browse(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector", "browse", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_structures_become_their_members_and_the_server_object_is_named() -> None:
    ft = FakeTime()
    ft.at(101)
    async with simulator(ft) as sim:
        code, out, err = await browse(sim.endpoint)
        assert code == 0, err
        assert "# left out: the Server object (browse it with --path Server)" in out
        code, out, err = await browse(sim.endpoint, "--path", "Server", "--depth", "3", "--id", "cnc-server")
        assert code == 0, err
        (raw,) = YAML(typ="safe").load(out)
        nodes = {t["node"]: t["name"] for t in raw["tags"]}
        assert "Server/ServerStatus" not in nodes and "Server/ServerStatus/BuildInfo" not in nodes
        assert (
            "Server/ServerStatus/CurrentTime" in nodes
            and "Server/ServerStatus/BuildInfo/ProductName" in nodes
        )
        assert raw["id"] == "cnc-server"
        members = [t for t in raw["tags"] if t["node"].startswith("Server/ServerStatus/")]
        device = OpcUaDevice.model_validate({**raw, "mode": "poll", "tags": members})
        async with OpcUaDriver(device.driver_options()) as driver:
            samples = await async_wait_for(
                driver.read, 15, "the members read", until=lambda s: all(status.is_good(x.status) for x in s)
            )
    assert len(samples) == len(members) >= 8  # every member reads Good; none is a BadTypeMismatch
