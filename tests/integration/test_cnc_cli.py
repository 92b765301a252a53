"""The CLI entry runs a simulator until cancelled and prints its endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest
from asyncua.client.client import Client

from simulators.opcua.cli import run_cnc
from tests.support.net import async_wait_for

pytestmark = pytest.mark.integration


async def test_run_cnc_prints_endpoint_and_serves(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_cnc("cli-01", "127.0.0.1", 0, "legacy-cnc", 4, 1.0, 0.5))
    out: list[str] = []

    def printed() -> re.Match[str] | None:
        out.append(capsys.readouterr().out)
        found = re.search(r"opc\.tcp://[\d.]+:\d+/", "".join(out))
        assert found or not task.done(), f"the simulator ended before printing its endpoint: {''.join(out)!r}"
        return found

    try:
        m = await async_wait_for(printed, 30, "the simulator to print its endpoint")
        assert "urn:shopfloor-sim:cnc:cli-01" in "".join(out)
        async with Client(m.group(0), timeout=2) as c:
            idx = await c.get_namespace_index("urn:shopfloor-sim:cnc:cli-01")
            assert await c.get_node(f"ns={idx};s=Program.State").read_value() == "Initializing"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
