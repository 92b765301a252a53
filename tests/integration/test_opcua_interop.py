"""The driver against an OPC UA server that is not asyncua: node-opcua (tests/interop/server.js)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collector.config.opcua import OpcUaDevice
from drivers import status
from drivers.opcua.driver import OpcUaDriver
from tests.support.interop import NS, node_opcua_server
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def node_opcua(tmp_path: Path) -> AsyncIterator[str]:
    async with node_opcua_server(tmp_path / "pki") as endpoint:
        yield endpoint


def _device(endpoint: str, mode: str) -> OpcUaDevice:
    tags = [
        {"name": "counter", "node": f"nsu={NS};s=Machine.Counter"},
        {"name": "speed", "node": "n:Machine/Speed"},
        {"name": "running", "node": "n:Machine/Running"},
        {"name": "program", "node": "n:Machine/Program"},
        {"name": "state", "node": "n:Machine/State"},
        {"name": "axes", "node": "n:Machine/Axes"},
        {"name": "broken", "node": "n:Machine/Broken"},
        {"name": "missing", "node": f"nsu={NS};s=Machine.Nothing"},
    ]
    return OpcUaDevice.model_validate({
        "id": "interop", "protocol": "opcua", "endpoint": endpoint, "mode": mode, "timeout": "2s",
        "publishing_interval": "100ms", "namespaces": {"n": NS}, "tags": tags,
    })  # fmt: skip


@pytest.mark.parametrize("mode", ["subscribe", "poll"])
async def test_values_from_node_opcua(node_opcua: str, mode: str) -> None:
    async with OpcUaDriver(_device(node_opcua, mode).driver_options()) as driver:
        assert driver.limits.read == 3 and driver.limits.monitor == 2  # the server's stated limits
        first = await async_wait_for(
            driver.read,
            15,
            "Good values of the first six tags",
            until=lambda s: all(status.is_good(x.status) for x in s[:6]),
        )
        got = {s.tag: s for s in first}
        later = await async_wait_for(
            driver.read, 15, "the counter to change", until=lambda s: s[0].value != got["counter"].value
        )
    assert {t: got[t].value for t in ("speed", "running", "program", "state", "axes")} == {
        "speed": 1234.5, "running": True, "program": "O1000", "state": "Running", "axes": [1.5, -2.25, 3.0],
    }  # fmt: skip
    assert isinstance(later[0].value, int) and later[0].value > got["counter"].value  # type: ignore[operator]
    assert got["broken"].status == status.BAD_SENSOR_FAILURE
    assert got["missing"].status == status.BAD_NODE_ID_UNKNOWN
    assert got["speed"].server_ts is not None
    if mode == "poll":
        assert driver.read_calls >= 3  # 7 polled nodes in chunks of 3 per read()
