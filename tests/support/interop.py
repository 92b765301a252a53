"""The node-opcua server of tests/interop (an OPC UA stack that is not asyncua), started per test.

Installed by scripts/setup. Locally a missing node or node-opcua skips with the reason; in CI
(CI=true) it fails, so the interop checks cannot silently disappear.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.net import free_port

INTEROP = Path(__file__).resolve().parents[1] / "interop"
NS = "urn:shopfloor-test:node-opcua"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (INTEROP / "node_modules" / "node-opcua-server").is_dir():
        return "node-opcua is not installed in tests/interop (run scripts/setup)"
    return None


@contextlib.asynccontextmanager
async def node_opcua_server(pki: Path, *flags: str) -> AsyncIterator[str]:
    """The server with its PKI folder at `pki` (`--distrust`: unknown client certificates are
    rejected); yields its endpoint."""
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"interop server unavailable in CI: {reason}")
        pytest.skip(reason)
    proc = await asyncio.create_subprocess_exec(
        "node", str(INTEROP / "server.js"), str(free_port()), str(pki), *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(90):  # the first start creates the server's certificate
            while not (line := (await proc.stdout.readline()).decode()).startswith("READY"):
                assert line, "node-opcua server exited before it was ready"
        yield line.split()[1]
    finally:
        proc.terminate()
        await proc.wait()
