"""The CLI entry runs a simulator until cancelled and prints its endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import pytest
from asyncua.client.client import Client

from simulators.opcua.cli import run_cnc

pytestmark = pytest.mark.integration


async def test_run_cnc_prints_endpoint_and_serves(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_cnc("cli-01", "127.0.0.1", 0, "legacy-cnc", 4, 1.0, 0.5))
    try:
        deadline = time.monotonic() + 30
        out = ""
        while not (m := re.search(r"opc\.tcp://[\d.]+:\d+/", out)):
            assert time.monotonic() < deadline and not task.done(), "no endpoint printed"
            await asyncio.sleep(0.05)
            out += capsys.readouterr().out
        assert "urn:shopfloor-sim:cnc:cli-01" in out
        async with Client(m.group(0), timeout=2) as c:
            idx = await c.get_namespace_index("urn:shopfloor-sim:cnc:cli-01")
            assert await c.get_node(f"ns={idx};s=Program.State").read_value() == "Initializing"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
